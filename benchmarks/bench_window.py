"""Windowing (`movavg.windowing.make_windows`, a strided view: no copy) vs the seed's Python loop, side by side,
at window lengths 5 and 30.

Run: .venv/bin/python benchmarks/bench_window.py [--rows 100000 1000000] [--windows 5 30]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from movavg.windowing import make_windows


def seed_loop(data: np.ndarray, window_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Example 1 of the Keras Q&A the project started from (last window included)."""
    x, y = [], []
    for i in range(len(data) - window_size + 1):
        x.append(data[i : i + window_size])
        y.append(np.mean(data[i : i + window_size]))
    return np.array(x), np.array(y)


def measure(fn, *args) -> tuple[float, float, tuple[np.ndarray, np.ndarray]]:  # type: ignore[no-untyped-def]
    """Seconds and peak MiB allocated by one call."""
    tracemalloc.start()
    started = time.perf_counter()
    result = fn(*args)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--windows", type=int, nargs="+", default=[5, 30])
    args = parser.parse_args()
    print(f"{'rows':>10} {'window':>7} {'loop s':>8} {'view s':>9} {'speed-up':>9} {'loop MiB':>9} {'view MiB':>9}")
    for window in args.windows:
        for rows in args.rows:
            data = np.random.default_rng(0).random((rows, 1))
            loop_s, loop_mib, (x_loop, y_loop) = measure(seed_loop, data, window)
            vec_s, vec_mib, (x_vec, y_vec) = measure(make_windows, data, window, window, 0)
            assert np.array_equal(x_loop, x_vec) and np.allclose(y_loop, y_vec)
            print(
                f"{rows:>10} {window:>7} {loop_s:>8.2f} {vec_s:>9.4f} {loop_s / vec_s:>8.0f}x {loop_mib:>9.0f} "
                f"{vec_mib:>9.0f}"
            )


if __name__ == "__main__":
    main()
