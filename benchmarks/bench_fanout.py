"""Orchestration cost of the per-series fan-out at 1,000 series: one task run per series and stage vs batches
(`run.series_per_task` auto: 10 series per task run here), side by side, each in a fresh child process with
its own temporary Prefect API (start-up excluded).

The model work is kept small on purpose (global scope: one tiny model trained once, 1 epoch) so the figures
show what Prefect costs: a full run, then a rerun with nothing new where every stage is a cache hit, whose
time per series is the orchestration overhead per series.

Run: .venv/bin/python benchmarks/bench_fanout.py [--series 1000] [--points 200]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def child(args: argparse.Namespace) -> None:
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from movavg.config import build_config
    from movavg.flows.retrain import retrain
    from movavg.runtime import configure_environment

    configure_environment()
    root = Path(args.workdir)
    (root / "data" / "incoming").mkdir(parents=True)
    rng = np.random.default_rng(0)
    frame = pd.concat(
        [
            pd.DataFrame(
                {
                    "timestamp": pd.date_range("2024-01-01", periods=args.points, freq="h"),
                    "value": (100 + np.cumsum(rng.normal(0, 1, args.points))).round(4),
                    "series_id": f"s{i:04d}",
                }
            )
            for i in range(args.series)
        ]
    )
    frame.to_parquet(path := root / "data" / "incoming" / "all.parquet", index=False)
    os.utime(path, (time.time() - 600, time.time() - 600))
    overrides = [
        "train.scope=global",
        "train.epochs=1",
        'train.layers=[{"units": 8}]',
        "window.lookback=12",
        "window.ma_window=3",
        "window.horizon=3",
        "publish.plot=false",
    ]
    if args.per_task:
        overrides.append(f"run.series_per_task={args.per_task}")
    config = build_config("default", None, overrides)
    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        started = time.perf_counter()
        first = retrain(config=config, data_dir=str(root / "data"), artifacts_dir=str(root / "artifacts"))
        full = time.perf_counter() - started
        started = time.perf_counter()
        second = retrain(config=config, data_dir=str(root / "data"), artifacts_dir=str(root / "artifacts"))
        rerun = time.perf_counter() - started
    print(json.dumps({"full_s": full, "rerun_s": rerun, "first": first.message, "second": second.message}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--per-task", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workdir:
        child(args)
        return
    from movavg.flows.fanout import series_per_task

    print(f"{args.series} series x {args.points} points; global scope, one tiny model, 1 epoch")
    print(f"{'series/task':>12} {'task runs':>10} {'full run s':>11} {'cached rerun s':>15} {'overhead ms/series':>19}")
    for per_task in (1, series_per_task(args.series, None)):
        with tempfile.TemporaryDirectory() as tmp:
            command = [
                sys.executable,
                __file__,
                "--workdir",
                tmp,
                "--series",
                str(args.series),
                "--points",
                str(args.points),
                "--per-task",
                str(per_task),
            ]
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(done.stderr[-3000:])
            row = json.loads(done.stdout.strip().splitlines()[-1])
        task_runs = 3 * -(-args.series // per_task) + 3  # normalize, window, evaluate; ingest, train, publish
        print(
            f"{per_task:>12} {task_runs:>10} {row['full_s']:>11.1f} {row['rerun_s']:>15.1f} "
            f"{1000 * row['rerun_s'] / args.series:>19.1f}   ({row['second']})"
        )


if __name__ == "__main__":
    main()
