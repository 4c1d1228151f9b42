"""One Keras user at a time per process.

Keras' random seed (`keras.utils.set_random_seed`) and its global state are process-wide, and stage tasks
run in threads: two trainings interleaving would draw from each other's seeded generators, so a series'
weights would depend on scheduling. Every build, fit, load and predict runs inside `keras_session()`.
Measured on 2 cores (20 series): no slower than unserialised threads (31.9 s vs 37.6 s), since TensorFlow
already spreads one op over the cores. Clearing Keras' state after each session was tried and dropped:
it cost twice the time for 3% less peak memory.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from movavg.runtime import import_tensorflow

_KERAS = threading.RLock()


@contextmanager
def keras_session() -> Iterator[None]:
    """Hold the process' Keras lock (re-entrant) for one build, fit, load or predict; the first session of
    a process imports TensorFlow quietly."""
    with _KERAS:
        import_tensorflow()
        yield
