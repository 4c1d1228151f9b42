"""Fan-out wiring: series grouped into batches (one task run each), and one stage's batch results sorted per
series, so one bad series never stops the others. Results that are `Skipped`, and task runs that failed,
drop out with their reason."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from prefect.futures import PrefectFuture, wait

from movavg.schema import Skipped

MAX_TASK_RUNS_PER_STAGE = 100


def series_per_task(count: int, configured: int | None) -> int:
    """Series per task run: as configured, or one each up to 100 series and then as many as keep a stage at
    100 task runs (Prefect spends ~16 ms and an API record per task run)."""
    return configured or max(1, math.ceil(count / MAX_TASK_RUNS_PER_STAGE))


def batches(names: Sequence[str], size: int) -> dict[str, list[str]]:
    """{task run label: its names}: the name itself for a batch of one, else `<first>+<how many more>`."""
    chunks = [list(names[start : start + size]) for start in range(0, len(names), size)]
    return {chunk[0] if len(chunk) == 1 else f"{chunk[0]}+{len(chunk) - 1}": chunk for chunk in chunks}


def gather(
    batched: dict[str, list[str]], futures: Sequence[PrefectFuture[Any]], stage: str, skipped: list[Skipped]
) -> dict[str, Any]:
    """{name: result} of every member of the batches whose task run produced one; the others are appended
    to `skipped` (every member of a batch whose task run failed)."""
    wait(list(futures))
    kept: dict[str, Any] = {}
    for members, future in zip(batched.values(), futures, strict=True):
        results = future.result(raise_on_failure=False)
        if isinstance(results, BaseException):
            reason = f"{type(results).__name__}: {results}"
            skipped.extend(Skipped(series=name, stage=stage, reason=reason, failed=True) for name in members)
            continue
        for name, result in zip(members, results, strict=True):
            if isinstance(result, Skipped):
                skipped.append(result)
            else:
                kept[name] = result
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
