"""Fold warm start vs cold folds, side by side in one run, through the library: per seed, N seeded synthetic
series x 1,000 hourly points (random walks, daily + weekly cycles, trends with level shifts, noisy sines;
`bench_many_series.make_series`, series `seed * N` on), default config (3 backtest folds, stacked training).

Cases, on the same series:
- cold: every fold and the main model from their seeded initial weights (today's default);
- warm folds: each fold but the first from its previous fold's weights (`train.warm_start_folds`);
- warm folds + main: the main model also from the last fold's weights.

For each: folds' and main models' mean epochs run, their window-epochs and wall time, the median of fold
model / best naive MAE, and the median of the main model's test MAE / best naive MAE; per seed, then the
spread over seeds.

Run: .venv/bin/python benchmarks/bench_fold_warm.py [--series 16] [--seeds 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_many_series import make_series

from movavg.backtest import score_fold, series_folds, train_folds
from movavg.config import build_config
from movavg.evaluation import evaluate_series
from movavg.model import train_models
from movavg.runtime import configure_environment
from movavg.schema import UnusableSeries
from movavg.series import PreparedSeries, prepare_series
from movavg.windowing import locate_windows

CASES = {"cold": (False, False), "warm folds": (True, False), "warm folds + main": (True, True)}


def prepared_series(seed: int, count: int, points: int) -> list[PreparedSeries]:
    """Series `seed * count` .. `seed * count + count - 1`, located for the default config."""
    config = build_config("default", None, [])
    rows = pd.concat([make_series(seed * count + i, points) for i in range(count)])
    out = []
    for name in rows["series_id"].unique():
        try:
            series = prepare_series(rows, name, config.ingest.model_columns, config.normalize)
            spec, bounds = locate_windows(series, config.window)
        except UnusableSeries:
            continue
        out.append(replace(series, spec=spec, bounds=bounds))
    return out


def run_case(prepared: list[PreparedSeries], warm_folds: bool, warm_main: bool) -> dict[str, float]:
    """Backtest folds, then main models, as `CASES` describes; their epochs, window-epochs, time and ratios."""
    config = build_config("default", None, [f"train.warm_start_folds={str(warm_folds).lower()}"])
    started = time.perf_counter()
    per_series = [series_folds(p, config.evaluate.backtest_folds) for p in prepared]
    fold_models = train_folds(per_series, config.train)
    fold_seconds = time.perf_counter() - started
    starts = [models[-1].final_weights() if warm_main and models else None for models in fold_models]
    started = time.perf_counter()
    mains = train_models([[p] for p in prepared], config.train, starts=starts)
    main_seconds = time.perf_counter() - started
    pairs = [pair for fs, ms in zip(per_series, fold_models, strict=True) for pair in zip(fs, ms, strict=True)]
    scored = [score_fold(fold, model) for fold, model in pairs]
    flat = [m for ms in fold_models for m in ms]
    main_ratios = []
    for series, model in zip(prepared, mains, strict=True):
        evaluation, _ = evaluate_series(model.model, model.spec, model.result.finite, series, config.evaluate)
        main_ratios.append(evaluation.model.mae / evaluation.baseline_mae)
    return {
        "fold_epochs": float(np.mean([m.result.epochs_run for m in flat])),
        "fold_window_epochs": float(sum(m.result.epochs_run * m.result.train_windows for m in flat)),
        "fold_seconds": fold_seconds,
        "fold_ratio": float(np.median([f.mae / f.baseline_mae for f in scored])),
        "main_epochs": float(np.mean([m.result.epochs_run for m in mains])),
        "main_seconds": main_seconds,
        "main_ratio": float(np.median(main_ratios)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--points", type=int, default=1000)
    args = parser.parse_args()
    configure_environment()
    pd.set_option("display.width", 200)
    rows = []
    for seed in range(args.seeds):
        prepared = prepared_series(seed, args.series, args.points)
        if seed == 0:
            run_case(prepared, True, True)  # compiles every stack shape once, outside the timings
        for name, (warm_folds, warm_main) in CASES.items():
            rows.append({"seed": seed, "case": name, **run_case(prepared, warm_folds, warm_main)})
            print(
                f"seed {seed}, {name}: "
                + ", ".join(f"{k} {v:.3f}" for k, v in rows[-1].items() if k not in ("seed", "case"))
            )
    table = pd.DataFrame(rows)
    print("\nper seed:")
    print(table.to_string(index=False, float_format="%.3f"))
    print("\nover seeds (mean, min-max):")
    for name in CASES:
        part = table[table["case"] == name]
        cells = [
            f"{column} {part[column].mean():.3f} ({part[column].min():.3f}-{part[column].max():.3f})"
            for column in ["fold_epochs", "fold_seconds", "fold_ratio", "main_epochs", "main_seconds", "main_ratio"]
        ]
        print(f"  {name}: " + ", ".join(cells))


if __name__ == "__main__":
    main()
