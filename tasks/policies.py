"""Cache and retry policies shared by the stage tasks: the Prefect side of `movavg.cache`.

A stage task handles a batch of series (one series unless `run.series_per_task` groups them). It is not cached
itself: each member (series, or model group) is, on its own key (`movavg.cache.stage_key`: the stage, the
library code, the member's inputs and the stage's config), as a Prefect transaction whose JSON record is the
member's result. So a batch in which one series changed redoes only that series, whatever else is in it, and a
batch whose every member was a cache hit ends in the state `Cached`.

A member's output folder is named by its key. A record whose folder is gone or incomplete, or that is torn, is
not trusted: the member runs again and its new record replaces the old one. Nothing is deleted to get there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from prefect import State, task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.serializers import JSONSerializer
from prefect.states import Completed
from prefect.transactions import transaction

from movavg.cache import is_complete, stage_dir, stage_key
from movavg.schema import Skipped, Stage

NOT_TRANSIENT = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)


def transient_io(_task: Any, _task_run: Any, state: Any) -> bool:
    """Retry condition: only I/O errors that may pass (a busy disk, a network file system), never
    bad input, bad config or a missing path."""
    error = state.data
    return isinstance(error, OSError) and not isinstance(error, NOT_TRANSIENT)


def stage_task(stage: Stage, **options: Any) -> Any:
    """`@task` named `stage` for a batch of members each cached by `each_member` (so not cached itself), retried
    only on transient I/O errors."""
    return task(name=stage, cache_policy=NO_CACHE, persist_result=False, retry_condition_fn=transient_io, **options)


def each_member(
    stage: Stage,
    library_function: Callable[..., Any],
    cache_dir: str,
    members: Sequence[tuple[str, dict[str, Any]]],
    run_one: Callable[[dict[str, Any], Path], Any],
    unkeyed: Sequence[str] = (),
) -> State[list[Any]]:
    """The batch task's final state, its data the results of `run_one(parameters, output folder)` for each
    (label, parameters) of the batch, in order: `Cached` when every one came from its cache, else `Completed`.

    Each member is keyed on `library_function`'s code and its parameters (without those named in `unkeyed`, such
    as a hint where to warm-start from). A member that fails becomes a failed `Skipped` and the others go on; a
    transient I/O error is raised instead, so the task is retried.
    """
    module = library_function.__module__
    store = TaskRunContext.get().result_store.model_copy(update={"serializer": JSONSerializer()})
    results, hits = [], 0
    for label, parameters in members:
        key = stage_key(stage, module, {"cache_dir": cache_dir, **keyed(parameters, unkeyed)})
        output = stage_dir(cache_dir, stage, key)
        with transaction(key=f"{stage}-{key}", store=store) as txn:
            record = txn.read() if txn.is_committed() and is_complete(output) else None
            result = record.result if record is not None else _run_safely(stage, label, run_one, parameters, output)
            if record is None and is_complete(output):
                txn.stage(result)
        results.append(result)
        hits += record is not None
    return Completed(name="Cached" if hits == len(members) else "Completed", data=results)


def keyed(parameters: dict[str, Any], unkeyed: Sequence[str]) -> dict[str, Any]:
    """`parameters` without the ones left out of cache keys."""
    return {name: value for name, value in parameters.items() if name not in unkeyed}


def _run_safely(
    stage: Stage, label: str, run_one: Callable[[dict[str, Any], Path], Any], parameters: dict[str, Any], output: Path
) -> Any:
    try:
        return run_one(parameters, output)
    except Exception as error:  # one series' failure never stops the batch
        if transient_io(None, None, SimpleNamespace(data=error)):
            raise
        return Skipped(series=label, stage=stage, reason=f"{type(error).__name__}: {error}", failed=True)
