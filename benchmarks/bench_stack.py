"""Stacked vs one-at-a-time training, side by side in one run: N seeded synthetic series x 1,000 hourly points
(random walks, daily + weekly cycles, trends with level shifts, noisy sines; `bench_many_series.make_series`)
through one flow run each, default config (60 epochs with early stopping, 3 backtest folds).

For each case: wall time per series, the child process' peak RSS (and its peak while each stage's task runs ran,
sampled every 0.25 s), the run's window-epochs (train windows x
epochs run, main models and backtest folds), and the run's time over what plain Keras needs for the same
window-epochs (an LSTM of the same shape fitted on materialised windows, batch 256, XLA; its second epoch timed,
measured in this run), and the median and spread over series of LSTM MAE / best naive MAE on the test windows.

One at a time costs the same per series at any count (each series trains alone), so it is measured on the
first `--alone` series only; the stacked cases run at every `--series` count.

Run: .venv/bin/python benchmarks/bench_stack.py [--series 200 20] [--alone 20] [--stack 16]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_many_series import drop, make_series  # noqa: E402
from bench_scale import run_script  # noqa: E402


class RssSampler(threading.Thread):
    """This process' resident memory (GiB) every `every` seconds, with the UTC time of each sample."""

    def __init__(self, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.every, self.samples, self.done = every, [], threading.Event()

    def run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self.done.wait(self.every):
            resident = int(Path("/proc/self/statm").read_text().split()[1]) * page / 2**30
            self.samples.append((datetime.now(UTC), resident))


def stage_peaks(samples: list[tuple[datetime, float]]) -> dict[str, float]:
    """Peak sampled RSS while each stage's task runs ran (from its first start to its last end), in run order."""
    from prefect import get_client

    runs, spans = [], {}
    with get_client(sync_client=True) as client:
        while batch := client.read_task_runs(limit=200, offset=len(runs)):
            runs += batch
    for run in runs:
        if run.start_time and run.end_time:
            span = spans.setdefault(run.name.split("-")[0], [run.start_time, run.end_time])
            span[0], span[1] = min(span[0], run.start_time), max(span[1], run.end_time)
    peaks = {}
    for stage, (start, end) in sorted(spans.items(), key=lambda item: item[1][0]):
        inside = [rss for at, rss in samples if start <= at <= end]
        peaks[stage] = max(inside) if inside else float("nan")
    return peaks


def flow_case(args: argparse.Namespace) -> dict[str, object]:
    """One flow run over `args.series` series with `train.stack` = `args.stack`, in this process."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from movavg.config import build_config
    from movavg.flows.retrain import retrain
    from movavg.runtime import configure_environment

    configure_environment()
    root, count = Path(args.workdir), args.series[0]
    drop(pd.concat([make_series(i, args.points) for i in range(count)]), root / "data" / "incoming", "all.csv")
    config = build_config("default", None, [f"train.stack={args.stack}", f"train.warm_start_folds={args.warm_folds}"])
    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        sampler = RssSampler()
        sampler.start()
        started = time.perf_counter()
        summary = retrain(config=config, data_dir=str(root / "data"), artifacts_dir=str(root / "artifacts"))
        seconds = time.perf_counter() - started
        sampler.done.set()
        peaks = stage_peaks(sampler.samples)
    cache = root / "data" / "cache"
    trains = [json.loads(p.read_text()) for p in cache.glob("train/*/train.json")]
    folds = [f for p in cache.glob("backtest/*/backtest.json") for f in json.loads(p.read_text())["folds"]]
    ratios = [o.metrics["lstm"]["mae"] / o.metrics["baseline_mae"] for o in summary.series if o.metrics]
    return {
        "seconds": seconds,
        "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "window_epochs": sum(t["train_windows"] * t["epochs_run"] for t in trains)
        + sum(f["train_windows"] * f["epochs_run"] for f in folds),
        "models": len(trains) + len(folds),
        "ratios": ratios,
        "stage_peaks": peaks,
        "message": summary.message,
    }


def keras_case(args: argparse.Namespace) -> dict[str, float]:
    """Plain Keras' windows/s for the default LSTM on windows of `args.lookback` x `args.channels`: materialised
    arrays, batch 256, XLA; the second epoch timed (the first pays tracing and compiling)."""
    from movavg.runtime import configure_environment, import_tensorflow

    configure_environment()
    import_tensorflow()
    import keras

    rng = np.random.default_rng(0)
    count = 256 * 80
    x = rng.normal(size=(count, args.lookback, args.channels)).astype("float32")
    y = rng.normal(size=count).astype("float32")
    model = keras.Sequential(
        [keras.Input((args.lookback, args.channels)), keras.layers.LSTM(32), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", jit_compile=True)
    model.fit(x[: 256 * 4], y[: 256 * 4], batch_size=256, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(x, y, batch_size=256, epochs=1, verbose=0, shuffle=False)
    return {"windows_per_s": count / (time.perf_counter() - started)}


def run_child(case: str, **options: object) -> dict[str, object]:
    return run_script(__file__, case, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, nargs="+", default=[200, 20])
    parser.add_argument("--alone", type=int, default=20, help="series trained one at a time (train.stack=1); 0: skip")
    parser.add_argument("--stack", type=int, default=16)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--warm-folds", choices=["true", "false"], default="true", help="train.warm_start_folds")
    parser.add_argument("--channels", type=int, default=7, help="input channels of the default model here")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--lookback", type=int, default=52, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(flow_case(args) if args.case == "flow" else keras_case(args)))
        return
    keras_rate = float(run_child("keras", lookback=args.lookback, channels=args.channels)["windows_per_s"])
    cases = [(n, args.stack) for n in args.series] + ([(args.alone, 1)] if args.alone else [])
    rows = []
    for series, stack in cases:
        row = run_child("flow", series=series, stack=stack, points=args.points, warm_folds=args.warm_folds)
        rows.append({"series": series, "stack": stack, **row})
        print(f"done: {series} series, stack {stack}: {row['seconds']:.0f} s", file=sys.stderr, flush=True)
    alone = rows[-1]["seconds"] / rows[-1]["series"] if args.alone else float("nan")  # --alone 0: not measured
    print(
        f"plain Keras, LSTM 32, {args.lookback} x {args.channels} inputs, batch 256, XLA: {keras_rate:,.0f} windows/s"
    )
    print(
        f"{'series':>6} {'stack':>5} {'s/series':>8} {'speed-up':>8} {'peak GiB':>8} {'window-epochs':>13} "
        f"{'run/Keras':>9} {'ratio med':>9} {'ratio p10-p90':>13}"
    )
    for row in rows:
        per_series = row["seconds"] / row["series"]
        ratios = np.array(row["ratios"])
        print(
            f"{row['series']:>6} {row['stack']:>5} {per_series:>8.2f} {alone / per_series:>7.2f}x "
            f"{row['peak_gib']:>8.2f} {row['window_epochs']:>13,} "
            f"{row['seconds'] / (row['window_epochs'] / keras_rate):>8.2f}x {np.median(ratios):>9.3f} "
            f"{np.percentile(ratios, 10):>6.3f}-{np.percentile(ratios, 90):.3f}"
        )
    for row in rows:
        peaks = ", ".join(f"{stage} {peak:.2f}" for stage, peak in row["stage_peaks"].items())
        print(f"{row['series']} series, stack {row['stack']}: peak RSS GiB while each stage ran: {peaks}")


if __name__ == "__main__":
    main()
