"""Content-addressed stage outputs: one key per (stage, inputs, code), one folder per key.

A stage's output lives in `<cache_dir>/<stage>/<key>/`. The key hashes the stage name, the inputs
(content hashes of upstream outputs, the stage's config section) and the source of every library
module the stage's function depends on, so editing any of them is a cache miss. A folder counts only
once its completion marker is written, which `stage_output` does last, after an atomic rename.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from movavg.storage import atomic_directory, sha256_bytes, stable_hash

COMPLETE_MARKER = "_COMPLETE"
KEY_LENGTH = 32
_PARSING = threading.Lock()


def plain(value: Any) -> Any:
    """JSON-ready form of a stage input: models dumped, paths resolved, containers walked."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Path):
        return str(value.resolve())
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def _library_imports(module: str) -> set[str]:
    """Names of the modules of `module`'s own package (the library) that `module` imports directly."""
    library = module.split(".")[0]
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return set()
    found = set()
    for node in ast.walk(ast.parse(Path(spec.origin).read_text(encoding="utf-8"))):
        names = (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else ([node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
        )
        found |= {name for name in names if name.split(".")[0] == library and name != library}
    return found


@cache
def code_fingerprint(module: str) -> str:
    """Hash of the source of `module` and of every module of its package it imports, transitively.

    Computed once per process and module; under a lock, since stage tasks run in threads and CPython 3.11's
    `ast.parse` is not safe to call from several threads at once.
    """
    with _PARSING:
        return _fingerprint(module)


def _fingerprint(module: str) -> str:
    seen: set[str] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(_library_imports(name) - seen)
    sources = []
    for name in sorted(seen):
        spec = importlib.util.find_spec(name)
        origin = Path(spec.origin) if spec and spec.origin else None
        sources.append((name, sha256_bytes(origin.read_bytes()) if origin else ""))
    return stable_hash(sources)


def stage_key(stage: str, module: str, inputs: dict[str, Any]) -> str:
    """The cache key of one stage run: stage name, code of `module` and its library imports, inputs."""
    return stable_hash(stage, code_fingerprint(module), plain(inputs))[:KEY_LENGTH]


def stage_dir(cache_dir: Path | str, stage: str, key: str) -> Path:
    """`<cache_dir>/<stage>/<key>`, resolved."""
    return Path(cache_dir).resolve() / stage / key


def is_json(path: Path) -> bool:
    """True when `path` holds whole JSON (a record torn by a crash does not)."""
    try:
        json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return True


def is_complete(output_dir: Path) -> bool:
    """True when a stage output folder was fully written (the marker is written last) and is still whole: every
    Parquet footer, JSON file and Keras archive in it readable. A damaged entry is a miss: the stage runs again
    and replaces it (cache entries are derived state)."""
    if not (output_dir / COMPLETE_MARKER).exists():
        return False
    try:
        for path in output_dir.iterdir():
            if path.suffix == ".parquet":
                pq.read_metadata(path)
            torn_json = path.suffix == ".json" and not is_json(path)
            if torn_json or (path.suffix == ".keras" and not zipfile.is_zipfile(path)):
                return False
    except (OSError, ValueError, pa.ArrowException):
        return False
    return True


@contextmanager
def stage_output(output_dir: Path) -> Iterator[Path]:
    """Yield a temp folder to fill; on success it becomes `output_dir` in one rename, marked complete."""
    with atomic_directory(output_dir) as tmp:
        yield tmp
        (tmp / COMPLETE_MARKER).touch()
