"""Prediction intervals: each window's scale, and split-conformal offsets calibrated on held-back windows.

An interval is forecast + lower_factor * scale .. forecast + upper_factor * scale, `scale` being the window's
typical step (`local_scale`), so it widens where the series moves more.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from movavg.schema import Interval


def local_scale(target: np.ndarray, ends: np.ndarray, lookback: int) -> np.ndarray:
    """Each window's typical step, (m,): the mean absolute change of the target over the `lookback` steps up
    to its last input row t (fewer at the start of a series), never 0. Prediction intervals scale with it, so
    they widen where the series moves more (a price at a higher level, a volatile week)."""
    values = np.asarray(target, dtype="float64")
    steps = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(values)))])  # steps[t]: sum of |changes| up to row t
    first = np.maximum(ends - lookback, 0)
    scale = (steps[ends] - steps[first]) / np.maximum(ends - first, 1)
    return np.maximum(scale, 1e-9 * (1.0 + np.abs(values[ends])))


def conformal_interval(residuals: np.ndarray, level: float) -> tuple[float, float]:
    """Split-conformal offsets (lower, upper) of a central `level` interval from held-back residuals
    (actual - predicted, here in units of each window's scale): each tail's order statistic at rank
    ceil((n + 1)(1 + level) / 2), so that without assumptions on their distribution a new residual falls outside
    each with chance <= (1 - level) / 2.
    Infinite when there are too few residuals."""
    ordered = np.sort(np.asarray(residuals, dtype="float64"))
    n = len(ordered)
    rank = math.ceil((n + 1) * (1 + level) / 2)
    if n == 0 or rank > n:
        return -math.inf, math.inf
    return float(ordered[n - rank]), float(ordered[rank - 1])


def interval_scores(
    val: pd.DataFrame, test: pd.DataFrame, column: str, level: float, extra: Sequence[float] = ()
) -> tuple[Interval, np.ndarray, np.ndarray]:
    """The interval of forecast `column` calibrated on `val` (residuals in units of each window's `scale`) and
    `extra` residuals in the same units (the backtest folds' models'), with its coverage and mean width on
    `test`; also the test windows' lower and upper bounds."""
    residuals = np.concatenate([((val["actual"] - val[column]) / val["scale"]).to_numpy(), np.asarray(extra, float)])
    low, high = conformal_interval(residuals, level)
    scale = test["scale"].to_numpy()
    lower, upper = test[column].to_numpy() + low * scale, test[column].to_numpy() + high * scale
    actual = test["actual"].to_numpy()
    coverage = float(np.mean((actual >= lower) & (actual <= upper))) if len(test) else math.nan
    width = float(np.mean(upper - lower)) if len(test) else math.nan
    interval = Interval(
        level=level,
        lower_factor=low,
        upper_factor=high,
        calibration_windows=len(residuals),
        coverage=coverage,
        width=width,
    )
    return interval, lower, upper
