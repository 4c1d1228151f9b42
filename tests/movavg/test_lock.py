"""The run lock: who holds it is reported, a dead holder's lock is free, waiting is bounded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from movavg.lock import RunLockedError, run_lock


def test_lock_held_by_a_live_process_is_reported_and_a_dead_holders_lock_is_free(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            "python3",
            "-c",
            (
                "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
                'fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b\'{"pid": 1, "host": "h", "since": "then"}\'); '
                "print('locked', flush=True); time.sleep(60)"
            ),
            str(tmp_path / ".movavg.lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    with (
        pytest.raises(RunLockedError, match=r"another run holds the lock .* since then"),
        run_lock([tmp_path], wait_seconds=0.2),
    ):
        pass
    holder.send_signal(signal.SIGKILL)  # a killed holder: the kernel releases its lock
    holder.wait()
    with run_lock([tmp_path]):
        assert json.loads((tmp_path / ".movavg.lock").read_text())["pid"] == os.getpid()


def test_wait_for_lock_then_run(tmp_path: Path) -> None:
    started = time.monotonic()
    with run_lock([tmp_path]), pytest.raises(RunLockedError), run_lock([tmp_path], wait_seconds=1.0):
        pass
    assert time.monotonic() - started >= 1.0


def test_a_waiter_gets_the_lock_as_soon_as_it_is_released(tmp_path: Path) -> None:
    import threading

    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with run_lock([tmp_path]):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    threading.Timer(0.5, release.set).start()
    started = time.monotonic()
    with run_lock([tmp_path], wait_seconds=60):  # would raise at the deadline if it never retried
        waited = time.monotonic() - started
        assert json.loads((tmp_path / ".movavg.lock").read_text())["pid"] == os.getpid()
    holder.join()
    assert waited < 30  # it took the lock once free, long before its 60 s deadline
