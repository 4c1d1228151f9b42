"""Many series: per-series vs global scope on N seeded synthetic series, then a day-2 run where a few
series get new rows, side by side in one run. Each scenario runs the flow in a fresh child process
(its own temporary Prefect API; API start-up excluded from the times) and reports its peak RSS.

Series (seeded, of four shapes in turn): random walks, hourly daily + weekly cycles with noise, trends
with level shifts, and noisy sines. Model: the default preset with `--epochs` epochs (default 5) so the
benchmark fits in minutes on 2 cores; window lookback 24, MA 5 ending 5 steps ahead.

`--runners` compares the per-series scope on the default thread runner with a local Dask cluster of 2 worker
processes (one thread each); the peak RSS is then the flow process' only (the workers are not counted).

Run: .venv/bin/python benchmarks/bench_many_series.py [--series 200] [--points 1000] [--epochs 5] [--changed 5]
     .venv/bin/python benchmarks/bench_many_series.py --runners --series 40
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def make_series(index: int, points: int, start: int = 0) -> pd.DataFrame:
    """Series `index` (its shape and seed follow from it), rows [start, points)."""
    rng = np.random.default_rng(index)
    steps = np.arange(points)
    shape = index % 4
    if shape == 0:
        value = 100 + np.cumsum(rng.normal(0, 1, points))
    elif shape == 1:
        value = 50 + 8 * np.sin(2 * np.pi * steps / 24) + 4 * np.sin(2 * np.pi * steps / 168) + rng.normal(0, 1, points)
    elif shape == 2:
        value = 20 + 0.02 * steps + 10 * (steps > points * rng.uniform(0.3, 0.8)) + rng.normal(0, 1, points)
    else:
        value = 10 + 3 * np.sin(2 * np.pi * steps / rng.integers(12, 48)) + rng.normal(0, 0.5, points)
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=points, freq="h"), "value": value.round(4)})
    return frame.iloc[start:].assign(series_id=f"s{index:04d}")


def drop(frame: pd.DataFrame, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / name, index=False)
    import os

    os.utime(folder / name, (time.time() - 600, time.time() - 600))


def child(args: argparse.Namespace) -> None:
    """One scenario in this process: day 1 (all series), then day 2 (a few series get new rows)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from movavg.config import build_config
    from movavg.flows.retrain import retrain
    from movavg.flows.runners import task_runner_for
    from movavg.runtime import configure_environment

    configure_environment()
    root = Path(args.workdir)
    data, art = root / "data", root / "artifacts"
    day1 = pd.concat([make_series(i, args.points - 50) for i in range(args.series)])
    drop(day1, data / "incoming", "day1.csv")
    config = build_config(
        "default",
        None,
        [
            f"train.scope={json.dumps(args.scope)}",
            f"train.epochs={args.epochs}",
            "window.lookback=24",
            "window.ma_window=5",
            "window.horizon=5",
            f"run.task_runner={args.runner}",
        ],
    )
    flow = retrain.with_options(task_runner=task_runner_for(config.run))
    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        started = time.perf_counter()
        first = flow(config=config, data_dir=str(data), artifacts_dir=str(art))
        full = time.perf_counter() - started
        drop(
            pd.concat([make_series(i, args.points, start=args.points - 50) for i in range(args.changed)]),
            data / "incoming",
            "day2.csv",
        )
        started = time.perf_counter()
        second = flow(config=config, data_dir=str(data), artifacts_dir=str(art))
        day2 = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "scope": args.scope,
                "runner": args.runner,
                "full_s": full,
                "day2_s": day2,
                "peak_mib": peak,
                "first": first.message,
                "second": second.message,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--changed", type=int, default=5, help="series that get new rows on day 2")
    parser.add_argument("--runners", action="store_true", help="per-series scope: threads vs a local Dask cluster")
    parser.add_argument("--scope", help=argparse.SUPPRESS)
    parser.add_argument("--runner", default="threads", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scope:
        child(args)
        return
    rows = []
    cases = (
        [("per-series", "threads"), ("per-series", "dask")]
        if args.runners
        else [("per-series", "threads"), ("global", "threads")]
    )
    for scope, runner in cases:
        with tempfile.TemporaryDirectory() as tmp:
            command = [
                sys.executable,
                __file__,
                "--scope",
                scope,
                "--runner",
                runner,
                "--workdir",
                tmp,
                "--series",
                str(args.series),
                "--points",
                str(args.points),
                "--epochs",
                str(args.epochs),
                "--changed",
                str(args.changed),
            ]
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(
        f"{args.series} series x {args.points} points, {args.epochs} epochs; day 2: {args.changed} series get 50 rows"
    )
    print(
        f"{'scope':>11} {'runner':>8} {'full run s':>11} {'s/series':>9} {'day-2 run s':>12} {'day2/full':>10} "
        f"{'peak MiB':>9}"
    )
    for row in rows:
        print(
            f"{row['scope']:>11} {row['runner']:>8} {row['full_s']:>11.1f} {row['full_s'] / args.series:>9.2f} "
            f"{row['day2_s']:>12.1f} {row['day2_s'] / row['full_s']:>10.3f} {row['peak_mib']:>9.0f}"
        )
    if args.runners:
        print(f"Dask speed-up on the full run: {rows[0]['full_s'] / rows[1]['full_s']:.2f}x")
    for row in rows:
        print(f"{row['scope']} on {row['runner']}: day 1 {row['first']!r}; day 2 {row['second']!r}")


if __name__ == "__main__":
    main()
