"""Atomic writes, content hashing, safe names and crash-test failpoints."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

TMP_MARK = ".tmp-"
FAILPOINT_ENV = "MOVAVG_FAILPOINT"
UNSAFE_CHARS = re.compile(r"[^\w.\- ]", re.UNICODE)


def utc_now() -> str:
    """The current UTC time as ISO 8601, to the second (for ledgers, lock files, registries)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def failpoint(name: str) -> None:
    """Crash-test hook: SIGKILL this process here when MOVAVG_FAILPOINT names this point (tests only)."""
    if os.environ.get(FAILPOINT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def safe_name(name: str, limit: int = 120) -> str:
    """A single, harmless path component for a user-supplied name (series id, file name).

    Letters (any script), digits, spaces, '.', '-' and '_' stay; anything else, path separators
    included, becomes '_'; leading dots go, so '..' or '.hidden' cannot be produced.
    """
    cleaned = UNSAFE_CHARS.sub("_", name).lstrip(". ")[:limit]
    return cleaned or "_"


def temp_path(path: Path) -> Path:
    """A unique, hidden temp name beside `path`, recognisable by `remove_stale_temp`. The leading dot keeps a
    half-written file out of every dataset reader (pyarrow, DuckDB and Spark skip names starting with '.')."""
    return path.with_name(f".{path.name}{TMP_MARK}{uuid.uuid4().hex}")


def set_aside(path: Path) -> Path:
    """Rename a damaged file or folder to `<name>.damaged` (`.damaged-2`, ... when that name is taken), so it is
    kept for a person to look at and never read again; returns the new path."""
    target, number = path.with_name(f"{path.name}.damaged"), 1
    while target.exists():
        number += 1
        target = path.with_name(f"{path.name}.damaged-{number}")
    path.replace(target)
    return target


def remove_stale_temp(folder: Path, depth: int = 2) -> list[Path]:
    """Delete temp files and folders left by a crashed run (call under the run lock); return them."""
    if not folder.exists():
        return []
    removed = []
    pattern = "/".join(["*"] * depth)
    for path in [*folder.glob("*"), *folder.glob(pattern)]:
        if TMP_MARK in path.name and (path.exists() or path.is_symlink()):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's content, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def stable_hash(*parts: Any) -> str:
    """Hex SHA-256 of JSON-serialisable parts (sorted keys), stable across processes."""
    return sha256_bytes(json.dumps(parts, sort_keys=True, default=str).encode())


def frame_hash(frame: pd.DataFrame) -> str:
    """Content hash of a DataFrame: values, index and column names."""
    rows = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    return stable_hash(list(map(str, frame.columns)), sha256_bytes(rows.tobytes()))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


FULL_DISK = frozenset({errno.ENOSPC, errno.EDQUOT})
FULL_OR_READ_ONLY = FULL_DISK | {errno.EROFS}  # errors a retry seconds later cannot get past


@contextmanager
def naming_path(path: Path) -> Iterator[None]:
    """Re-raise an OSError that names no file (pyarrow's and Keras's do not), or a full disk met while writing
    a temp file for `path`, as one naming `path`, in the system's words for its errno:
    `[Errno 28] No space left on device: '<path>'`."""
    try:
        yield
    except OSError as error:
        if error.filename is not None and error.errno not in FULL_DISK:
            raise
        words = os.strerror(error.errno) if error.errno else (error.strerror or str(error))
        raise OSError(error.errno, words, str(path)) from error


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so readers see the old file or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with naming_path(path):
            tmp.write_bytes(data)
            commit_file(tmp, path)
    finally:  # a full disk leaves no half-written temp file behind
        tmp.unlink(missing_ok=True)


def commit_file(tmp: Path, final: Path) -> None:
    """fsync a finished temp file and rename it over `final` in one step."""
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, final)
    _fsync_dir(final.parent)


def atomic_write_json(path: Path, payload: Any) -> None:
    """Atomically write `payload` as indented JSON."""
    atomic_write_bytes(path, (json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n").encode())


def atomic_write_parquet(path: Path, frame: pd.DataFrame) -> None:
    """Atomically write a DataFrame as Parquet (index dropped)."""
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    atomic_write_bytes(path, sink.getvalue().to_pybytes())


@contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a temp folder beside `final`; on success it is renamed to `final` in one step.

    An existing `final` is replaced. On error the temp folder is removed and `final` is untouched.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final)
    tmp.mkdir()
    try:
        with naming_path(final):
            yield tmp
        failpoint(f"before-rename:{final.parent.name}")
        for item in tmp.rglob("*"):
            if item.is_file():
                with item.open("rb") as handle:
                    os.fsync(handle.fileno())
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line with a single write + fsync (a torn last line is skipped by `read_jsonl`, and the
    next record starts on a line of its own instead of running on from it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as handle:
        handle.seek(0, os.SEEK_END)
        torn = handle.tell() > 0 and (handle.seek(-1, os.SEEK_END), handle.read(1))[1] != b"\n"
        line = ("\n" if torn else "") + json.dumps(record, sort_keys=True, default=str) + "\n"
        with naming_path(path):
            handle.write(line.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())


def read_jsonl(path: Path, damaged: list[str] | None = None) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file, in order. A line that is not one object (a torn last line, two
    records run together, bytes a crash zeroed or an editor mangled) gives the whole objects found inside it;
    what is left unreadable is appended to `damaged`, when given, one entry per line."""
    if not path.exists():
        return []
    records: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict):
            records.append(record)
            continue
        found, left = objects_in(line)
        records.extend(found)
        if left.strip("\x00 \t\r") and damaged is not None:
            damaged.append(line)
    return records


def objects_in(text: str) -> tuple[list[dict[str, Any]], str]:
    """The whole top-level JSON objects in `text`, scanning from each `{` that no found object covers and that
    does not open a value inside another object (after `:`, `,` or `[`), and the characters no object covered."""
    decoder, found, left, at = json.JSONDecoder(), [], [], 0
    while (start := text.find("{", at)) != -1:
        inside = text[:start].rstrip("\x00 \t\r")[-1:] in (":", ",", "[")
        try:
            if inside:
                raise json.JSONDecodeError("a nested value", text, start)
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            left.append(text[at : start + 1])
            at = start + 1
            continue
        if isinstance(value, dict):
            found.append(value)
        left.append(text[at:start])
        at = end
    return found, "".join(left) + text[at:]


_PARSED: dict[str, tuple[tuple[int, int, int], Any]] = {}  # path -> (its stat when parsed, what it parsed to)


def parsed_once(path: Path, parse: Any) -> Any:
    """`parse(path)`, computed once per version of the file (inode, size, modification time: every write here
    replaces a file whole) and shared: callers must not change what it returns. For records read once per
    series that hold every series (a global model's bundle spec and metrics), which made reading them
    quadratic in the series count."""
    stat = path.stat()
    version = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    cached = _PARSED.get(str(path))
    if cached is not None and cached[0] == version:
        return cached[1]
    value = parse(path)
    _PARSED[str(path)] = (version, value)
    return value


def read_json(path: Path) -> Any:
    """Read a JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))
