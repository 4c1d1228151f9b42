"""Forecast quality, side by side in one run: the default model against every naive forecast, MA(5) ending 5
steps ahead, on (a) seeded half-hourly series with daily + weekly cycles, level shifts and noise, (b) seeded
random walks (business days, like daily closes) and (c) the bundled CO2 sample. Prints test MAE of the model
and of each naive forecast, who would serve the series, the rolling-origin backtest, the coverage of the 90%
intervals and the training time. Runs the library's stages directly (the flow adds only orchestration).

    python benchmarks/bench_forecast.py [--seeds 3] [--weeks 26] [--set window.residual=last-value ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from movavg.backtest import run_backtest
from movavg.config import build_config
from movavg.evaluation import evaluate_candidate
from movavg.model import train_and_save
from movavg.naive import describe_naive
from movavg.samples import CO2_SAMPLE, synthetic_series
from movavg.schema import NormalizeResult
from movavg.series import normalize_series
from movavg.storage import frame_hash
from movavg.windowing import build_windows


def cases(seeds: int, weeks: int) -> list[tuple[str, pd.DataFrame]]:
    """(name, series with timestamp and value) for every benchmark series."""
    out = [
        (
            f"seasonal half-hourly, seed {seed}",
            synthetic_series(48 * 7 * weeks, seed=seed, freq="30min", kind="seasonal"),
        )
        for seed in range(seeds)
    ]
    for seed in range(seeds):
        rng = np.random.default_rng(100 + seed)
        prices = 100 * np.exp(np.cumsum(rng.normal(0.0002, 0.015, 2500)))
        out.append(
            (
                f"random walk (business days), seed {seed}",
                pd.DataFrame({"timestamp": pd.bdate_range("2015-01-01", periods=2500), "value": prices}),
            )
        )
    co2 = pd.read_csv(CO2_SAMPLE, parse_dates=["timestamp"])
    out.append(("CO2 weekly (bundled)", co2[["timestamp", "value"]]))
    return out


def run_case(
    series: pd.DataFrame, overrides: list[str], folder: Path, champion_dir: str | None = None
) -> dict[str, Any]:
    """Normalize, window, train (from `champion_dir`'s weights when given and allowed), backtest and evaluate
    one series; the evaluation, the training result and time."""
    folder.mkdir(parents=True, exist_ok=True)
    config = build_config("default", None, ["window.lookback=52", "window.ma_window=5", "window.horizon=5", *overrides])
    frame, stats = normalize_series(series.assign(series_id="s"), ["value"], config.normalize)
    path = folder / "series.parquet"
    frame.to_parquet(path, index=False)
    counts = frame["split"].value_counts()
    normalized = NormalizeResult(
        path=str(path),
        content_hash=frame_hash(frame),
        series="s",
        columns=["value"],
        stats=stats,
        rows={k: int(counts[k]) for k in ("train", "val", "test")},
        gaps={"step": "", "gaps": 0, "largest": "", "filled_rows": 0},
    )
    windows = build_windows(normalized, config.window, folder / "windows")
    started = time.perf_counter()
    trained = train_and_save([windows], [normalized], config.train, folder / "model", champion_dir=champion_dir)
    seconds = time.perf_counter() - started
    backtest = (
        run_backtest(windows, normalized, config.train, config.evaluate.backtest_folds, folder / "backtest")
        if config.evaluate.backtest_folds
        else None
    )
    evaluation = evaluate_candidate(trained, normalized, None, config.evaluate, folder / "evaluate", backtest)
    return {
        "evaluation": evaluation,
        "train_seconds": seconds,
        "epochs": trained.epochs_run,
        "spec": windows.spec,
        "trained": trained,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="synthetic series per kind")
    parser.add_argument("--weeks", type=int, default=26, help="length of the seasonal series in weeks")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override, as in movavg")
    args = parser.parse_args()
    print(f"overrides: {args.overrides or 'none (defaults)'}")
    for name, series in cases(args.seeds, args.weeks):
        with tempfile.TemporaryDirectory() as tmp:
            result = run_case(series, args.overrides, Path(tmp))
        evaluation, spec = result["evaluation"], result["spec"]
        best = evaluation.baseline_mae
        naive = "  ".join(f"{describe_naive(k)} {v.mae:.4g}" for k, v in evaluation.baselines.items())
        folds = evaluation.backtest.folds if evaluation.backtest else []
        backtest = ", ".join(f"{f.mae / f.baseline_mae:.2f}" for f in folds) or "-"
        interval, naive_interval = evaluation.interval, evaluation.baseline_interval
        print(f"\n{name}: {len(series)} rows, seasons {spec.seasons}, residual of {spec.residual or 'last value'}")
        print(
            f"  model MAE {evaluation.model.mae:.4g} = {evaluation.model.mae / best:.3f} x best naive "
            f"({describe_naive(evaluation.best_baseline)} {best:.4g}); served by: {evaluation.winner}"
        )
        print(f"  naive: {naive}")
        print(f"  backtest model/naive per fold: {backtest}")
        print(
            f"  90% interval: model's coverage {interval.coverage:.3f}, mean width {interval.width:.4g} | best naive "
            f"forecast's {naive_interval.coverage:.3f}, {naive_interval.width:.4g}; "
            f"train {result['train_seconds']:.1f} s "
            f"({result['epochs']} epochs)"
        )


if __name__ == "__main__":
    main()
