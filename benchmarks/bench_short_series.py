"""Thousands of short series (a retailer's SKUs): `movavg run` on N seeded daily series of 30 rows each, for
two values of N side by side in one run, each in a fresh process on the embedded Prefect API.

The series are random walks, weekly cycles, trends with a level shift, and noisy constants, one file of all of
them. 30 rows give a 21-row train slice: too short for the default window (lookback 52 with a weekly lag
channel), so the run uses one global model on every series' windows with a 7-step lookback and no seasonal
channel (`--set` below). Printed per N: the wall time of the whole command (its Prefect API start included),
each stage's time as the run prints it, what was published, and the peak RSS; then the per-series time and
the peak RSS of the larger N over the smaller (flat in the series count: both near N_large / N_small for
time, near 1 for memory).

Run: .venv/bin/python benchmarks/bench_short_series.py [--series 1000 5000] [--rows 30]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ["train.scope=global", "window.lookback=7", "window.seasons=[]"]
STAGE = re.compile(r"^(\w+): (\d+) of (\d+) series in (\d+) s")


def short_series(count: int, rows: int, seed: int = 0) -> pd.DataFrame:
    """`count` daily series of `rows` rows: walks, weekly cycles, trends with a level shift, noisy constants."""
    rng = np.random.default_rng(seed)
    stamps = pd.date_range("2024-01-01", periods=rows, freq="D")
    steps = np.arange(rows)
    frames = []
    for i in range(count):
        level = rng.uniform(20, 200)
        kind = i % 4
        if kind == 0:
            values = level + np.cumsum(rng.normal(0, 1, rows))
        elif kind == 1:
            values = level + 0.2 * level * np.sin(2 * np.pi * steps / 7) + rng.normal(0, 1, rows)
        elif kind == 2:
            values = level + 0.5 * steps + np.where(steps > rows // 2, 0.3 * level, 0) + rng.normal(0, 1, rows)
        else:
            values = level + rng.normal(0, 0.05 * level, rows)
        frames.append(pd.DataFrame({"series_id": f"sku{i:05d}", "timestamp": stamps, "value": values.round(3)}))
    return pd.concat(frames, ignore_index=True)


def run_case(count: int, rows: int) -> dict[str, object]:
    """One fresh `movavg run` on `count` series; its wall time, stage lines, outcome and peak RSS."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        incoming = root / "data" / "incoming"
        incoming.mkdir(parents=True)
        short_series(count, rows).to_csv(incoming / "skus.csv", index=False)
        os.utime(incoming / "skus.csv", (time.time() - 600, time.time() - 600))
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        env["PREFECT_HOME"] = str(root / "home")
        overrides = [arg for item in SETTINGS for arg in ("--set", item)]
        command = [str(Path(sys.executable).with_name("movavg")), "run", "-d", str(root / "data")]
        command += ["-a", str(root / "artifacts"), *overrides]
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child so far, MiB
    lines = (done.stdout + done.stderr).splitlines()
    stages = {m.group(1): int(m.group(4)) for line in lines if (m := STAGE.match(line))}
    outcome = next((line for line in reversed(lines) if line.startswith("movavg: ")), "")
    return {"series": count, "wall": wall, "stages": stages, "outcome": outcome, "peak": peak, "rc": done.returncode}


def fresh_case(count: int, rows: int) -> dict[str, object]:
    """`run_case` in a child process of its own, so its peak RSS is that run's alone."""
    command = [sys.executable, __file__, "--one", str(count), "--rows", str(rows)]
    return dict(json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, nargs=2, default=[1000, 5000])
    parser.add_argument("--rows", type=int, default=30)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_case(args.one, args.rows)))
        return
    small, large = (fresh_case(count, args.rows) for count in sorted(args.series))
    for case in (small, large):
        stages = ", ".join(f"{name} {seconds} s" for name, seconds in case["stages"].items())  # type: ignore[union-attr]
        print(f"{case['series']:>6} series x {args.rows} rows: {case['wall']:.0f} s wall (rc {case['rc']}); {stages}")
        print(f"        peak RSS {case['peak']:.0f} MiB; {case['outcome'][:160]}")
    ratio = (large["wall"] / large["series"]) / (small["wall"] / small["series"])  # type: ignore[operator]
    print(f"per-series wall time, {large['series']} vs {small['series']} series: {ratio:.2f}x")
    print(f"peak RSS, {large['series']} vs {small['series']} series: {large['peak'] / small['peak']:.2f}x")  # type: ignore[operator]


if __name__ == "__main__":
    main()
