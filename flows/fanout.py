"""Fan-out wiring: a stage's work, one typed record per series (or model group), grouped into batches of one
task run each and mapped; the results sorted back per series, so one bad series never stops the others.
Results that are `Skipped`, and task runs that failed, drop out with their reason."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prefect import Task, unmapped
from prefect.futures import PrefectFuture, as_completed, wait

from movavg.config import RunConfig, TrainConfig
from movavg.report import batch_label, stage_progress
from movavg.schema import Batch, Skipped

MAX_TASK_RUNS_PER_STAGE = 100


def series_per_task(count: int, configured: int | None) -> int:
    """Series per task run: as configured, or one each up to 100 series and then as many as keep a stage at
    100 task runs (Prefect spends ~16 ms and an API record per task run)."""
    return configured or max(1, math.ceil(count / MAX_TASK_RUNS_PER_STAGE))


def models_per_task(count: int, size: int, train: TrainConfig, run: RunConfig) -> int:
    """Series per task run of the train and backtest stages: enough for a full stack (`train.stack`) of
    per-series models, spread over the Dask workers when there are fewer series than stacks can hold, and the
    series split evenly over the task runs (20 as 10 + 10, not 16 + 4)."""
    if train.stack <= 1 or train.scope != "per-series":
        return size
    workers = run.dask_workers if run.task_runner == "dask" else 1
    most = min(train.stack, math.ceil(count / workers))
    return max(size, math.ceil(count / math.ceil(count / most))) if count else size  # even: 20 as 10 + 10


def batches(names: Sequence[str], size: int) -> dict[str, list[str]]:
    """{task run label: its names} (`batch_label`)."""
    chunks = [list(names[start : start + size]) for start in range(0, len(names), size)]
    return {batch_label(chunk): chunk for chunk in chunks}


@dataclass
class Mapped:
    """One stage's task runs in flight: which names each batch holds, and its future."""

    stage: str
    batched: dict[str, list[str]]
    futures: list[PrefectFuture[Any]]

    def results(self, skipped: list[Skipped]) -> dict[str, Any]:
        """{name: result} of every member of the batches whose task run produced one; the others are appended
        to `skipped` (every member of a batch whose task run failed). A stage of several task runs shows its
        progress in series as they finish (`movavg.report.stage_progress`)."""
        if len(self.futures) > 1:
            batches = zip(self.futures, self.batched.values(), strict=True)
            sizes = {future.task_run_id: len(members) for future, members in batches}
            advance, end = stage_progress(self.stage, sum(sizes.values()))
            for future in as_completed(self.futures):
                advance(sizes[future.task_run_id])
            end()
        wait(self.futures)
        kept: dict[str, Any] = {}
        for members, future in zip(self.batched.values(), self.futures, strict=True):
            results = future.result(raise_on_failure=False)
            if isinstance(results, BaseException):
                reason = f"{type(results).__name__}: {results}"
                skipped.extend(Skipped(series=name, stage=self.stage, reason=reason, failed=True) for name in members)
                continue
            for name, result in zip(members, results, strict=True):
                if isinstance(result, Skipped):
                    skipped.append(result)
                else:
                    kept[name] = result
        return kept


def submit(stage: Task[..., Any], work: dict[str, Any], size: int, **shared: Any) -> Mapped:
    """Map `stage` over `work` ({name: its input record}) in batches of `size`, each task run given one
    `Batch` and the `shared` arguments."""
    batched = batches(list(work), size)
    inputs = [Batch(label=label, members=[work[name] for name in names]) for label, names in batched.items()]
    futures = stage.map(batch=inputs, **{name: unmapped(value) for name, value in shared.items()})
    return Mapped(stage.name, batched, list(futures))


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
