"""Keras sessions: one thread at a time, re-entrant, so concurrent stage tasks never interleave seeds."""

from __future__ import annotations

import threading
import time

from movavg.session import keras_session


def test_sessions_never_overlap_across_threads_and_nest_within_one() -> None:
    inside: list[int] = []
    overlaps: list[int] = []

    def work() -> None:
        with keras_session(), keras_session():  # nested: no deadlock
            inside.append(1)
            if len(inside) > 1:
                overlaps.append(len(inside))
            time.sleep(0.02)
            inside.pop()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
