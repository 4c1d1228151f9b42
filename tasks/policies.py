"""Cache and retry policies shared by the stage tasks: the Prefect side of `movavg.cache`.

A content-cached stage's Prefect cache key *is* `movavg.cache.stage_key` of its parameters, computed
once by Prefect; the task body reads it back from the running transaction to name its output folder.
A Prefect record whose output folder is gone or incomplete, or whose JSON is torn, is dropped so the
stage runs again instead of returning a dangling path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import task
from prefect.transactions import get_transaction

from movavg.cache import is_complete, stage_dir, stage_key

NOT_TRANSIENT = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)


def transient_io(_task: Any, _task_run: Any, state: Any) -> bool:
    """Retry condition: only I/O errors that may pass (a busy disk, a network file system), never
    bad input, bad config or a missing path."""
    error = state.data
    return isinstance(error, OSError) and not isinstance(error, NOT_TRANSIENT)


def cached_stage(stage: str, library_function: Callable[..., Any], **options: Any) -> Any:
    """`@task` named `stage`, cached on `stage_key(stage, <library_function's module>, parameters)`
    with small JSON result records (no pickle); its parameters must include `cache_dir`."""
    module = library_function.__module__

    def key_fn(context: Any, parameters: dict[str, Any]) -> str:
        key = stage_key(stage, module, parameters)
        record = _record_path(context, key)
        output = stage_dir(parameters["cache_dir"], stage, key)
        if record is not None and record.exists() and not (is_complete(output) and _is_json(record)):
            record.unlink(missing_ok=True)  # a stale or torn record: run the stage again
        return key

    return task(name=stage, cache_key_fn=key_fn, persist_result=True, result_serializer="json",
                retry_condition_fn=transient_io, **options)


def output_dir(cache_dir: str, stage: str) -> Path:
    """This stage run's output folder, named by the cache key Prefect computed for it."""
    transaction = get_transaction()
    if transaction is None or not transaction.key:
        raise RuntimeError(f"the {stage} task runs without a cache key: call it inside a flow")
    return stage_dir(cache_dir, stage, transaction.key)


def _record_path(task_run_context: Any, key: str) -> Path | None:
    """Where Prefect's local result storage keeps the record for `key` (None for remote storage)."""
    store = getattr(task_run_context, "result_store", None)
    basepath = getattr(getattr(store, "result_storage", None), "basepath", None)
    return Path(basepath, key) if basepath else None


def _is_json(path: Path) -> bool:
    try:
        json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return True
