"""Retraining noise: how much a model's test MAE moves when the same series is trained again on unchanged data,
which sets `publish.min_improvement` (a challenger must beat the champion by more than this to replace it).

Each seeded series is fitted by `movavg.Forecaster` under the default config with `train.seed` 0..S-1 (a retrain
differs from the model before it by its initial weights and batch order, as a warm start from the champion
does); for every pair of seeds the relative gain (MAE_a - MAE_b) / MAE_a of the second over the first is a gain
that retraining alone produced. Prints the spread and, for candidate thresholds, how often noise alone would
have replaced a champion.

    python benchmarks/bench_retrain_noise.py [--seeds 5]
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import pandas as pd

from movavg.config import build_config
from movavg.forecaster import Forecaster
from movavg.samples import CO2_SAMPLE, calendar_series, synthetic_series


def series() -> pd.DataFrame:
    """Eight seeded series of different shapes and the bundled CO2 sample, as one long frame."""
    co2 = pd.read_csv(CO2_SAMPLE, parse_dates=["timestamp"])[["timestamp", "value"]]
    parts = [
        synthetic_series(1500, seed=1).assign(series_id="sine"),
        synthetic_series(1500, seed=2, kind="walk").assign(series_id="walk"),
        synthetic_series(48 * 7 * 6, seed=3, freq="30min", kind="seasonal").assign(series_id="half-hourly"),
        synthetic_series(2 * 365, seed=4, freq="D", kind="yearly").assign(series_id="daily"),
        calendar_series(360, "MS", seed=5).assign(series_id="monthly"),
        calendar_series(160, "QS", seed=6, start="1980-01-01").assign(series_id="quarterly"),
        synthetic_series(900, seed=7, kind="walk").assign(series_id="walk-2"),
        co2.assign(series_id="co2"),
    ]
    return pd.concat(parts, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    frame = series()
    maes: dict[int, pd.Series] = {}
    for seed in range(args.seeds):
        started = time.perf_counter()
        config = build_config("default", None, [f"train.seed={seed}", "evaluate.backtest_folds=0"])
        evaluated = Forecaster(config).fit(frame).evaluate().set_index("series_id")
        maes[seed] = evaluated["lstm_mae"]
        print(
            f"seed {seed}: {time.perf_counter() - started:.0f} s; "
            + ", ".join(f"{k} {v:.4g}" for k, v in maes[seed].items())
        )
    gains = []
    for first, second in itertools.permutations(range(args.seeds), 2):
        gains += list(((maes[first] - maes[second]) / maes[first]).to_numpy())
    gains_array = np.asarray(gains)
    spread = np.abs(gains_array)
    print(f"\n{len(gains_array)} retrain pairs over {len(maes[0])} series")
    print(
        "relative gain of a retrain on unchanged data: "
        + ", ".join(f"p{q} {np.percentile(spread, q):.3%}" for q in (50, 75, 90, 95, 99))
        + f", max {spread.max():.3%}"
    )
    for threshold in (0.0, 0.01, 0.02, 0.03, 0.05, 0.1):
        churn = float(np.mean(gains_array > threshold))
        print(f"min_improvement {threshold:.0%}: noise alone replaces the champion in {churn:.1%} of retrains")
    per_series = pd.DataFrame(maes)
    print("\nper series, relative spread (max - min) / min over seeds:")
    print(((per_series.max(axis=1) - per_series.min(axis=1)) / per_series.min(axis=1)).round(4).to_string())


if __name__ == "__main__":
    main()
