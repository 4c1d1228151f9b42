"""An exclusive run lock on the data and artifacts folders (no Prefect here).

`fcntl.flock` is released by the kernel when the holding process exits or is killed, so a lock
left by a crashed run never blocks the next one; the lock file only records who holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from movavg.storage import utc_now

LOCK_NAME = ".movavg.lock"
POLL_SECONDS = 0.5


class RunLockedError(RuntimeError):
    """Another run holds the lock; the message says which and since when."""


@contextmanager
def folder_lock(folder: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the lock of one folder, waiting up to `wait_seconds` for it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RunLockedError(
                        f"another run holds the lock on {folder} {_holder(path)}; "
                        "wait for it to finish or raise the wait"
                    ) from None
                time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": utc_now()}).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock


@contextmanager
def run_lock(folders: list[Path | str], wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the locks of several folders (taken in sorted order, so two runs cannot deadlock)."""
    with ExitStack() as stack:
        for folder in sorted({Path(f).resolve() for f in folders}):
            stack.enter_context(folder_lock(folder, wait_seconds))
        yield


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        return "(holder unknown)"
    return f"(pid {info.get('pid')} on {info.get('host')} since {info.get('since')})"
