"""Sample data for the demo, the tests and the benchmarks: the bundled CO2 record (package data) and
seeded synthetic series."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

CO2_SAMPLE = Path(__file__).with_name("sample_data") / "mauna_loa_co2_weekly.csv"
SAMPLES = ("co2", "synthetic")


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


def write_sample(sample: str, folder: Path) -> Path:
    """Put sample `co2` or `synthetic` into `folder`, dated as settled (complete, not still arriving)."""
    folder.mkdir(parents=True, exist_ok=True)
    if sample == "co2":
        target = folder / CO2_SAMPLE.name
        shutil.copy2(CO2_SAMPLE, target)
    elif sample == "synthetic":
        target = folder / "synthetic_3_features.csv"
        synthetic_series(5000, seed=0, features=2).to_csv(target, index=False)
    else:
        raise ValueError(f"unknown sample {sample!r}: use {' or '.join(SAMPLES)}")
    settled = time.time() - 3600
    os.utime(target, (settled, settled))
    return target
