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

    kind="sine": a noisy daily cycle on a slow trend (stationary-ish); kind="walk": a random walk;
    kind="seasonal": `seasonal_values` (a daily shape per weekday, level shifts, AR(1) noise; use freq="30min");
    kind="yearly": `yearly_values` (a yearly and a weekly cycle, trend, level shifts, AR(1) noise; use freq="D").
    Extra features are noisy leading copies of the value, so they carry real signal.
    """
    rng = np.random.default_rng(seed)
    steps = np.arange(n)
    if kind == "seasonal":
        value = seasonal_values(pd.date_range(start, periods=n, freq=freq), rng)
    elif kind == "yearly":
        value = yearly_values(pd.date_range(start, periods=n, freq=freq), rng)
    elif kind == "walk":
        value = 100 + np.cumsum(rng.normal(0, 1, n))
    else:
        value = 10 + 0.002 * steps + 3 * np.sin(2 * np.pi * steps / 24) + rng.normal(0, 0.5, n)
    frame = pd.DataFrame({"timestamp": pd.date_range(start, periods=n, freq=freq), "value": value.round(4)})
    for k in range(1, features + 1):
        lead = np.roll(value, -k)
        lead[-k:] = value[-k:]
        frame[f"feature_{k}"] = (lead + rng.normal(0, 0.3, n)).round(4)
    return frame


def seasonal_values(times: pd.DatetimeIndex, rng: np.random.Generator, noise: float = 0.4) -> np.ndarray:
    """Demand-like values at `times`: a random daily shape (6 harmonics) that differs by weekday, on a level
    that drifts and shifts now and then (about every two weeks), plus AR(1) noise (phi 0.7)."""
    n = len(times)
    day = (times.hour * 3600 + times.minute * 60).to_numpy() / 86400.0
    weekday = times.dayofweek.to_numpy()
    harmonics = np.arange(1, 7)[:, None]
    coefficients = (
        rng.normal(0, 2, (6, 2)) / harmonics + rng.normal(0, 1, (7, 6, 2)) / harmonics
    )  # (weekday, k, sin|cos)
    angles = (2 * np.pi * harmonics * day[None, :]).T  # (n, k)
    shape = (coefficients[weekday, :, 0] * np.sin(angles) + coefficients[weekday, :, 1] * np.cos(angles)).sum(axis=1)
    shifts = np.cumsum(np.where(rng.random(n) < 1 / (14 * 48), rng.normal(0, 3, n), 0.0))
    shocks, ar = rng.normal(0, noise, n), np.zeros(n)
    for i in range(1, n):
        ar[i] = 0.7 * ar[i - 1] + shocks[i]
    return 50 + np.cumsum(rng.normal(0, 0.03, n)) + shifts + shape + ar


def yearly_values(times: pd.DatetimeIndex, rng: np.random.Generator, noise: float = 1.5) -> np.ndarray:
    """Daily-demand-like values at `times`: a random yearly shape (3 harmonics) and weekly shape, a random
    trend, level shifts about twice a year, plus AR(1) noise (phi 0.6)."""
    n = len(times)
    year = (times.dayofyear.to_numpy() - 1) / 365.25
    harmonics = np.arange(1, 4)[:, None]
    yearly = (rng.normal(0, 8, (3, 2)) / harmonics).T  # (2, k)
    angles = 2 * np.pi * harmonics * year[None, :]  # (k, n)
    shape = yearly[0] @ np.sin(angles) + yearly[1] @ np.cos(angles)
    weekly = rng.normal(0, 2, 7)[times.dayofweek.to_numpy()]
    shifts = np.cumsum(np.where(rng.random(n) < 1 / 180, rng.normal(0, 4, n), 0.0))
    shocks, ar = rng.normal(0, noise, n), np.zeros(n)
    for i in range(1, n):
        ar[i] = 0.6 * ar[i - 1] + shocks[i]
    return 100 + rng.normal(0, 0.01) * np.arange(n) + shifts + shape + weekly + ar


CALENDAR_SEASON = {"MS": 12, "ME": 12, "QS": 4, "QE": 4, "YS": 0, "YE": 0}


def calendar_series(
    n: int, freq: str = "MS", seed: int = 0, kind: str = "seasonal", start: str = "1990-01-01"
) -> pd.DataFrame:
    """A seeded series on a calendar frequency (`MS`, `ME`, `QS`, `QE`, `YS`, `YE`, or any pandas alias) with
    `timestamp` and `value`.

    kind="seasonal": a trend, a season of a year (12 months, 4 quarters; none for yearly data) with a random
    shape, AR(1) noise and a level shift; kind="walk": a random walk with drift; kind="repeating": a straight
    trend plus the same yearly shape every year, no noise (the last value plus the change over the same span a
    year earlier forecasts it exactly).
    """
    rng = np.random.default_rng(seed)
    times = pd.date_range(start, periods=n, freq=freq)
    season = CALENDAR_SEASON.get(freq.split("-")[0], 0)
    shape = rng.normal(0, 6, season) if season else np.zeros(1)
    phase = np.arange(n) % season if season else np.zeros(n, dtype=int)
    if kind == "walk":
        value = 100 + np.cumsum(rng.normal(0.1, 2, n))
    elif kind == "repeating":
        value = 50 + 0.2 * np.arange(n) + shape[phase] * 2
    else:
        shocks, ar = rng.normal(0, 1.5, n), np.zeros(n)
        for i in range(1, n):
            ar[i] = 0.5 * ar[i - 1] + shocks[i]
        shift = np.where(np.arange(n) >= rng.integers(n // 3, 2 * n // 3), rng.normal(0, 5), 0.0)
        value = 100 + rng.normal(0.3, 0.1) * np.arange(n) + shape[phase] + ar + shift
    return pd.DataFrame({"timestamp": times, "value": value.round(4)})


def write_sample(sample: str, folder: Path) -> Path:
    """Put sample `co2` or `synthetic` into `folder`, dated as settled (complete, not still arriving)."""
    if sample not in SAMPLES:
        raise ValueError(f"unknown sample {sample!r}: use {' or '.join(SAMPLES)}")
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
