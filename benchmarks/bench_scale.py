"""Scale on one machine, side by side in one run:

1. ingest: N small files into an empty store vs into a store of 1e6 rows (100 series of 10,000 rows, the
   new files appending to some of them; and one series of 1e6 rows, the new files appending to it);
2. one series of 1e6 rows through the whole flow (default model, 1 epoch; with the default 3 backtest folds
   and without): peak RSS of the run's process,
   and training windows/s of the lazy window feed vs plain Keras fitting the same windows materialised in
   memory (same model, batch size and XLA setting; the second of two epochs is timed).

Each measurement runs in a fresh child process (peak RSS is per process).

Run: .venv/bin/python benchmarks/bench_scale.py [--files 50] [--rows 1000000] [--skip-flow]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
GIB = 2**30


def walk(rows: int, seed: int, start: str = "2000-01-01", freq: str = "min") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(start, periods=rows, freq=freq),
            "value": (100 + np.cumsum(rng.normal(0, 1, rows))).round(4),
        }
    )


def settle(path: Path) -> None:
    os.utime(path, (time.time() - 600, time.time() - 600))


def ingest_case(args: argparse.Namespace) -> dict[str, float]:
    """Seconds to ingest `files` files of 100 rows in one pass, into the store `args.store` describes."""
    from movavg.config import IngestConfig
    from movavg.ingest import ingest_files

    data = Path(args.workdir)
    incoming = data / "incoming"
    incoming.mkdir(parents=True)
    series_count = 1 if args.store == "one-series" else 100
    if args.store != "empty":
        per_series = args.rows // series_count
        base = pd.concat([walk(per_series, i).assign(series_id=f"s{i:03d}") for i in range(series_count)])
        base.to_parquet(incoming / "base.parquet", index=False)
        settle(incoming / "base.parquet")
        ingest_files(data, IngestConfig())
    for number in range(args.files):
        series = f"s{number % series_count:03d}"
        later = walk(args.rows // series_count + 100 * (number // series_count + 1), number % series_count)
        rows = later.iloc[-100:].assign(series_id=series)
        rows.to_csv(path := incoming / f"new-{number:03d}.csv", index=False)
        settle(path)
    started = time.perf_counter()
    result = ingest_files(data, IngestConfig())
    seconds = time.perf_counter() - started
    assert result.new_rows == 100 * args.files, result.headline()
    return {"seconds": seconds, "total_rows": result.total_rows}


def flow_case(args: argparse.Namespace) -> dict[str, float]:
    """One series of `rows` rows through the flow (1 epoch); this process' peak RSS."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from movavg.config import build_config
    from movavg.flows.retrain import retrain
    from movavg.runtime import configure_environment

    configure_environment()
    root = Path(args.workdir)
    (root / "data" / "incoming").mkdir(parents=True)
    walk(args.rows, 0).to_parquet(path := root / "data" / "incoming" / "big.parquet", index=False)
    settle(path)
    del path
    config = build_config(
        "default", None, ["train.epochs=1", f"evaluate.backtest_folds={args.folds}", f"train.stack={args.stack}"]
    )
    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        started = time.perf_counter()
        summary = retrain(config=config, data_dir=str(root / "data"), artifacts_dir=str(root / "artifacts"))
        seconds = time.perf_counter() - started
    train = json.loads(next((root / "data" / "cache" / "train").glob("*/train.json")).read_text())
    return {
        "seconds": seconds,
        "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB,
        "train_seconds": train["train_seconds"],
        "train_windows": train["train_windows"],
        "batch_size": train["batch_size"],
        "jit_compile": train["jit_compile"],
        "message": summary.message,
    }


def throughput_case(args: argparse.Namespace) -> dict[str, float]:
    """Windows/s of a training epoch (the second) on the train windows of a 1e6-row series: the lazy feed or plain Keras
    on the same windows materialised (`args.feed`), the default model, batch size and XLA setting."""
    from movavg.config import TrainConfig
    from movavg.model import build_model, training_settings
    from movavg.runtime import configure_environment, import_tensorflow
    from movavg.scaling import to_model_space
    from movavg.windowing import make_windows

    configure_environment()
    import_tensorflow()
    import keras

    from movavg.feed import steps_per_pass, window_batches

    values = walk(args.rows, 0)[["value"]].to_numpy("float32")
    values = (values - values.mean()) / values.std()
    train = values[: int(len(values) * 0.7)]
    config = TrainConfig(epochs=1)
    x, y = make_windows(train, 52, 4, 4)
    batch, jit = training_settings(config, len(y))
    keras.utils.set_random_seed(0)
    model = build_model(config, 52, 1, jit)
    epoch_seconds: list[float] = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: object = None) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: object = None) -> None:
            epoch_seconds.append(time.perf_counter() - self.started)

    # Two epochs; the second is timed (the first pays tracing and XLA compilation).
    if args.feed == "lazy":
        feed = window_batches(train, np.arange(len(y)), y, 52, batch, True, shuffle_seed=0, epochs=2)
        model.fit(feed, epochs=2, steps_per_epoch=steps_per_pass(len(y), batch), verbose=0, callbacks=[EpochTimer()])
    else:
        xs, ys, _ = to_model_space(np.ascontiguousarray(x), y, True)
        model.fit(xs, ys, batch_size=batch, epochs=2, shuffle=True, verbose=0, callbacks=[EpochTimer()])
    seconds = epoch_seconds[-1]
    return {
        "windows_per_s": len(y) / seconds,
        "windows": len(y),
        "batch_size": batch,
        "jit_compile": jit,
        "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB,
    }


def run_child(case: str, **options: object) -> dict[str, float]:
    return run_script(__file__, case, **options)


def run_script(script: str, case: str, **options: object) -> dict[str, Any]:
    """`script --case case --workdir <temp> --option value ...` in a fresh process; its last stdout line as JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, script, "--case", case, "--workdir", tmp]
        for name, value in options.items():
            command += [f"--{name.replace('_', '-')}", str(value)]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{case} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def flow_runs(args: argparse.Namespace, cases: list[tuple[int, int]]) -> None:
    """The 1e6-row flow for each (train.stack, backtest folds)."""
    for stack, folds in cases:
        flow = run_child("flow", rows=args.rows, folds=folds, stack=stack)
        print(
            f"one series of {args.rows:,} rows, 1 epoch, stack {stack}, whole flow with {folds} backtest folds: "
            f"{flow['seconds']:.1f} s, peak RSS {flow['peak_gib']:.2f} GiB; training {flow['train_windows']:,} "
            f"windows in {flow['train_seconds']:.1f} s ({flow['train_windows'] / flow['train_seconds']:,.0f} "
            f"windows/s; batch {flow['batch_size']}, XLA {flow['jit_compile']}, compile and validation included); "
            f"{flow['message']}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-flow", action="store_true", help="only the ingest benchmark")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--feed", help=argparse.SUPPRESS)
    parser.add_argument("--folds", type=int, default=3, help=argparse.SUPPRESS)
    parser.add_argument("--stack", type=int, default=16, help=argparse.SUPPRESS)
    parser.add_argument("--flow-only", action="store_true", help="only the 1e6-row flow runs (stacked path vs stack 1)")
    args = parser.parse_args()
    if args.case:
        case = {"ingest": ingest_case, "flow": flow_case, "throughput": throughput_case}[args.case]
        print(json.dumps(case(args)))
        return
    if args.flow_only:
        flow_runs(args, [(16, 3), (1, 3), (16, 0)])
        return
    print(f"ingest: {args.files} files of 100 rows, one pass")
    empty = run_child("ingest", store="empty", files=args.files, rows=args.rows)
    for store, label in (
        ("many-series", f"{args.rows:,} rows in 100 series"),
        ("one-series", f"{args.rows:,} rows in one series"),
    ):
        full = run_child("ingest", store=store, files=args.files, rows=args.rows)
        print(
            f"  into an empty store {empty['seconds']:.2f} s | into {label} {full['seconds']:.2f} s | "
            f"ratio {full['seconds'] / empty['seconds']:.2f}"
        )
    if args.skip_flow:
        return
    flow_runs(args, [(16, 3), (16, 0)])
    lazy, plain = (
        run_child("throughput", feed="lazy", rows=args.rows),
        run_child("throughput", feed="plain", rows=args.rows),
    )
    print(
        f"training throughput, second epoch of {lazy['windows']:,} windows (batch {lazy['batch_size']}, XLA "
        f"{lazy['jit_compile']}): lazy feed {lazy['windows_per_s']:,.0f} windows/s (peak {lazy['peak_gib']:.2f} GiB) | "
        f"plain Keras on materialised windows {plain['windows_per_s']:,.0f} windows/s "
        f"(peak {plain['peak_gib']:.2f} GiB)"
        f" | plain/lazy {plain['windows_per_s'] / lazy['windows_per_s']:.2f}"
    )


if __name__ == "__main__":
    main()
