"""Cache and retry policies shared by the stage tasks: the Prefect side of `movavg.cache`.

A stage task handles a batch of series (one series unless `run.series_per_task` groups them). Two levels of
Prefect caching, both keyed by `movavg.cache.stage_key`:

- the task: its key covers the whole batch, so an unchanged batch is one cache hit (shown as `Cached`);
- each member (`each_member`): a Prefect transaction per series on the task's result store, so a batch in
  which one series changed redoes only that series. A member's output folder is named by its key.

A record whose output folders are gone or incomplete, or whose JSON is torn, is dropped so the stage runs
again instead of returning a dangling path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from prefect import get_run_logger, task
from prefect.context import TaskRunContext
from prefect.transactions import get_transaction, transaction

from movavg.cache import batch_complete, is_complete, is_json, stage_dir, stage_key, write_members
from movavg.schema import Skipped

NOT_TRANSIENT = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)


def transient_io(_task: Any, _task_run: Any, state: Any) -> bool:
    """Retry condition: only I/O errors that may pass (a busy disk, a network file system), never
    bad input, bad config or a missing path."""
    error = state.data
    return isinstance(error, OSError) and not isinstance(error, NOT_TRANSIENT)


def cached_stage(stage: str, library_function: Callable[..., Any], unkeyed: Sequence[str] = (), **options: Any) -> Any:
    """`@task` named `stage`, cached on `stage_key(stage, <library_function's module>, parameters)`
    with small JSON result records (no pickle); its parameters must include `cache_dir`. Parameters named in
    `unkeyed` (a hint such as where to warm-start from) are left out of the key."""
    module = library_function.__module__

    def key_fn(context: Any, parameters: dict[str, Any]) -> str:
        key = stage_key(stage, module, keyed(parameters, unkeyed))
        record = _record_path(context, key)
        complete = batch_complete(parameters["cache_dir"], stage, key)
        if record is not None and record.exists() and not (complete and is_json(record)):
            record.unlink(missing_ok=True)  # a stale or torn record: run the stage again
        return key

    return task(
        name=stage,
        cache_key_fn=key_fn,
        persist_result=True,
        result_serializer="json",
        retry_condition_fn=transient_io,
        **options,
    )


def keyed(parameters: dict[str, Any], unkeyed: Sequence[str]) -> dict[str, Any]:
    """`parameters` without the ones left out of cache keys."""
    return {name: value for name, value in parameters.items() if name not in unkeyed}


def each_member(
    stage: str,
    library_function: Callable[..., Any],
    cache_dir: str,
    members: Sequence[tuple[str, dict[str, Any]]],
    run_one: Callable[[dict[str, Any], Path], Any],
    unkeyed: Sequence[str] = (),
) -> list[Any]:
    """Results of `run_one(parameters, output folder)` for each (series label, parameters) of this task's batch,
    each cached on its own key (without the parameters named in `unkeyed`); a member that fails becomes a failed
    `Skipped` and the others go on (a transient I/O error is raised instead, so the task is retried)."""
    module, store = library_function.__module__, TaskRunContext.get().result_store
    task_key = task_cache_key()
    results, complete = [], []
    for label, parameters in members:
        key = stage_key(stage, module, {"cache_dir": cache_dir, **keyed(parameters, unkeyed)})
        output = stage_dir(cache_dir, stage, key)
        with transaction(key=f"{stage}-{key}", store=store) as txn:
            record = txn.read() if txn.is_committed() and is_complete(output) else None
            result = record.result if record is not None else _run_safely(stage, label, run_one, parameters, output)
            if record is None and is_complete(output):
                txn.stage(result)
        results.append(result)
        complete += [key] if is_complete(output) else []
    _list_members(cache_dir, stage, task_key, complete)
    return results


def task_cache_key() -> str | None:
    """The key Prefect caches this task run under: its transaction's (what `cached_stage`'s key function
    computed, with the task's own unkeyed parameters left out)."""
    txn = get_transaction()
    return txn.key if txn is not None else None


def _run_safely(
    stage: str, label: str, run_one: Callable[[dict[str, Any], Path], Any], parameters: dict[str, Any], output: Path
) -> Any:
    try:
        return run_one(parameters, output)
    except Exception as error:  # one series' failure never stops the batch
        if transient_io(None, None, SimpleNamespace(data=error)):
            raise
        return Skipped(series=label, stage=stage, reason=f"{type(error).__name__}: {error}", failed=True)


def _list_members(cache_dir: str, stage: str, key: str | None, members: list[str]) -> None:
    """Record this task run's member folders under its task-level `key`; without the list the task's record is
    not trusted next time (it would not show `Cached`), and only its members' own caches are used."""
    try:
        if key:
            write_members(cache_dir, stage, key, members)
    except Exception as error:  # never lose the batch's results over its cache bookkeeping
        get_run_logger().warning("%s: could not record the batch's cache entries (%s)", stage, error)


def _record_path(task_run_context: Any, key: str) -> Path | None:
    """Where Prefect's local result storage keeps the record for `key` (None for remote storage)."""
    store = getattr(task_run_context, "result_store", None)
    basepath = getattr(getattr(store, "result_storage", None), "basepath", None)
    return Path(basepath, key) if basepath else None
