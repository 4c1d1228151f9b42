"""Content-addressed caching of stage outputs through Prefect's `cache_key_fn`.

A stage's output lives in `<cache_dir>/<stage>/<key>/`, where `key` hashes the stage's real inputs
(content hashes of upstream outputs, the stage's config section, the stage's code). Prefect keeps a
small JSON result record under the same key. If the output folder is gone (cache deleted, disk
cleaned) the stale record is dropped, so the task runs again instead of returning a dangling path.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tasks.storage import stable_hash

COMPLETE_MARKER = "_COMPLETE"


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Path):
        return str(value.resolve())
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def stage_output_dir(stage: str, code: Callable[..., Any], cache_dir: Path | str, **inputs: Any) -> Path:
    """`<cache_dir>/<stage>/<key>`: the key hashes the stage name, the source of the module defining
    `code`, the resolved cache dir and the inputs (first 32 hex chars)."""
    root = Path(cache_dir).resolve()
    key = stable_hash(stage, inspect.getsource(inspect.getmodule(code)), str(root), _plain(inputs))[:32]
    return root / stage / key


def is_complete(output_dir: Path) -> bool:
    """True when a stage output folder was fully written (the marker is written last)."""
    return (output_dir / COMPLETE_MARKER).exists()


def content_cache_key(stage: str, code: Callable[..., Any]) -> Callable[[Any, dict[str, Any]], str]:
    """Build a Prefect `cache_key_fn` for a stage task whose parameters are `cache_dir` plus its inputs.

    Every parameter enters the key, so two stages, or one stage with other inputs, never share an entry.
    The task body calls `stage_output_dir` with the same parameters to learn where to write.
    """

    def key_fn(task_run_context: Any, parameters: dict[str, Any]) -> str:
        output_dir = stage_output_dir(stage, code, **parameters)
        record = _record_path(task_run_context, output_dir.name)
        if record is not None and record.exists() and not (is_complete(output_dir) and _is_json(record)):
            record.unlink(missing_ok=True)  # a stale or torn record: run the stage again
        return output_dir.name

    return key_fn


def cached_stage(stage: str, code: Callable[..., Any], **options: Any) -> Any:
    """`@task` for a content-cached stage: named `stage`, keyed by `content_cache_key(stage, code)`,
    with small JSON result records (no pickle)."""
    from prefect import task

    return task(name=stage, cache_key_fn=content_cache_key(stage, code), persist_result=True,
                result_serializer="json", **options)


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
