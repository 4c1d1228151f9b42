"""Cache and retry policies shared by the stage tasks: the Prefect side of `movavg.cache`.

A stage task handles a batch of series. It is not cached itself: each member (series, or model group) is, on its
own key (`movavg.cache.stage_key`: stage, library code, the member's inputs, the stage's config), as a Prefect
transaction whose JSON record is the member's result: a batch in which one series changed redoes only that series,
one whose every member was a cache hit ends `Cached`. A member's output folder is named by its key; a record whose
folder is gone, incomplete or torn is not trusted: the member runs again and its new record replaces the old one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prefect import State, task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.serializers import JSONSerializer
from prefect.states import Completed
from prefect.transactions import transaction

from movavg.cache import is_complete, stage_dir, stage_key
from movavg.schema import Skipped, Stage
from movavg.storage import FULL_OR_READ_ONLY

NOT_TRANSIENT = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)


def transient_io(_task: Any, _task_run: Any, state: Any) -> bool:
    """Retry condition: only I/O errors that may pass (a busy or network disk), never bad input or a full disk."""
    return is_transient(state.data)


def is_transient(error: BaseException) -> bool:
    return isinstance(error, OSError) and not isinstance(error, NOT_TRANSIENT) and error.errno not in FULL_OR_READ_ONLY


def stage_task(stage: Stage, **options: Any) -> Any:
    """`@task` named `stage` for a batch of members each cached by `each_member` (so not cached itself), retried
    only on transient I/O errors."""
    return task(name=stage, cache_policy=NO_CACHE, persist_result=False, retry_condition_fn=transient_io, **options)


def each_member(
    stage: Stage,
    library_function: Callable[..., Any],
    cache_dir: str,
    members: Sequence[tuple[str, dict[str, Any]]],
    run_one: Callable[[dict[str, Any], Path], Any] | None = None,
    unkeyed: Sequence[str] = (),
    run_many: Callable[[list[tuple[dict[str, Any], Path]]], list[Any]] | None = None,
) -> State[list[Any]]:
    """The batch task's final state, its data the results of each (label, parameters) of the batch, in order:
    `Cached` when every one came from its cache, else `Completed`. Members missing from the cache run through
    `run_one(parameters, output folder)`, or together through `run_many([(parameters, output folder)])`.

    Each member is keyed on `library_function`'s code and its parameters (without those named in `unkeyed`, such
    as a hint where to warm-start from).
    """
    store = TaskRunContext.get().result_store.model_copy(update={"serializer": JSONSerializer()})
    module = library_function.__module__
    keys = [stage_key(stage, module, {"cache_dir": cache_dir, **_keyed(p, unkeyed)}) for _, p in members]
    outputs = [stage_dir(cache_dir, stage, key) for key in keys]
    results = cached_records(stage, keys, outputs, store)
    missing = [i for i in range(len(members)) if i not in results]
    results |= run_missing(stage, [(*members[i], outputs[i]) for i in missing], missing, run_one, run_many)
    for index in missing:
        if is_complete(outputs[index]):
            with transaction(key=f"{stage}-{keys[index]}", store=store) as txn:
                txn.stage(results[index])
    return Completed(name="Completed" if missing else "Cached", data=[results[i] for i in range(len(members))])


def cached_records(stage: Stage, keys: list[str], outputs: list[Path], store: Any) -> dict[int, Any]:
    """{index: recorded result} of the members whose record is committed and whose output folder is whole."""
    results = {}
    for index, key in enumerate(keys):
        with transaction(key=f"{stage}-{key}", store=store, write_on_commit=False) as txn:  # read only
            if txn.is_committed() and is_complete(outputs[index]) and (record := txn.read()) is not None:
                results[index] = record.result
    return results


def run_missing(
    stage: Stage,
    items: list[tuple[str, dict[str, Any], Path]],
    indices: list[int],
    run_one: Callable[[dict[str, Any], Path], Any] | None,
    run_many: Callable[[list[tuple[dict[str, Any], Path]]], list[Any]] | None,
) -> dict[int, Any]:
    """{index: result} of each (label, parameters, output) run together, or alone when that fails or there is
    no `run_many`. A member that fails alone becomes a failed `Skipped` and the others go on; a transient I/O
    error is raised instead, so the task is retried."""
    if run_many is not None and len(items) > 1:
        try:
            return dict(zip(indices, run_many([(parameters, output) for _, parameters, output in items]), strict=True))
        except Exception as error:  # one bad member must not fail the others: run each alone
            if is_transient(error):
                raise
    alone = run_one or (lambda parameters, output: run_many([(parameters, output)])[0])
    return {
        i: _run_safely(stage, label, alone, p, output) for i, (label, p, output) in zip(indices, items, strict=True)
    }


def _keyed(parameters: dict[str, Any], unkeyed: Sequence[str]) -> dict[str, Any]:
    return {name: value for name, value in parameters.items() if name not in unkeyed}


def _run_safely(
    stage: Stage, label: str, run_one: Callable[[dict[str, Any], Path], Any], parameters: dict[str, Any], output: Path
) -> Any:
    try:
        return run_one(parameters, output)
    except Exception as error:  # one series' failure never stops the batch
        if is_transient(error):
            raise
        return Skipped(series=label, stage=stage, reason=f"{type(error).__name__}: {error}", failed=True)
