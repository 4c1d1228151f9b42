"""Bundled and generated sample data for the demo and the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"
CO2_SAMPLE = SAMPLE_DIR / "mauna_loa_co2_weekly.csv"


def synthetic_series(
    n: int, seed: int = 0, start: str = "2024-01-01", freq: str = "h", features: int = 0, kind: str = "sine"
) -> pd.DataFrame:
    """A seeded series with `timestamp`, `value` and `features` extra columns `feature_1..k`.

    kind="sine": a noisy daily cycle on a slow trend (stationary-ish); kind="walk": a random walk.
    Extra features are noisy leading copies of the value, so they carry real signal.
    """
    rng = np.random.default_rng(seed)
    steps = np.arange(n)
    if kind == "walk":
        value = 100 + np.cumsum(rng.normal(0, 1, n))
    else:
        value = 10 + 0.002 * steps + 3 * np.sin(2 * np.pi * steps / 24) + rng.normal(0, 0.5, n)
    frame = pd.DataFrame({"timestamp": pd.date_range(start, periods=n, freq=freq), "value": value.round(4)})
    for k in range(1, features + 1):
        lead = np.roll(value, -k)
        lead[-k:] = value[-k:]
        frame[f"feature_{k}"] = (lead + rng.normal(0, 0.3, n)).round(4)
    return frame
