"""Fan-out wiring: wait for one stage's per-series task runs and sort their results, so one bad series never
stops the others. Results that are `Skipped`, and task runs that failed, drop out with their reason."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prefect.futures import PrefectFuture, wait

from movavg.schema import Skipped


def gather(labels: Sequence[str], futures: Sequence[PrefectFuture[Any]], stage: str,
           skipped: list[Skipped]) -> dict[str, Any]:
    """{label: result} of the task runs that produced one; the others are appended to `skipped`."""
    wait(list(futures))
    kept: dict[str, Any] = {}
    for label, future in zip(labels, futures, strict=True):
        result = future.result(raise_on_failure=False)
        if isinstance(result, Skipped):
            skipped.append(result)
        elif isinstance(result, BaseException):
            skipped.append(Skipped(series=label, stage=stage, reason=f"{type(result).__name__}: {result}", failed=True))
        else:
            kept[label] = result
    return kept


def model_groups(series: Sequence[str], scope: str) -> dict[str, list[str]]:
    """{train task label: series it trains on}: one group per series, or one "global" group of all."""
    return {name: [name] for name in series} if scope == "per-series" else ({"global": list(series)} if series else {})


def per_series(groups: dict[str, list[str]], trained: dict[str, Any], skipped: list[Skipped]) -> dict[str, Any]:
    """{series: the model trained for its group}; the series of a group whose training failed are each
    reported as failed (the group's own entry in `skipped` is replaced by theirs)."""
    out: dict[str, Any] = {}
    for label, members in groups.items():
        if label in trained:
            out |= {name: trained[label] for name in members}
            continue
        failure = next(s for s in skipped if s.series == label and s.stage == "train")
        if members != [label]:
            skipped.remove(failure)
            skipped.extend(failure.model_copy(update={"series": name}) for name in members)
    return out
