"""Scaling: z-score statistics fitted on the train slice only, and the per-window (RevIN-style) shift.

With `per_window=True` the model sees each window minus its own last value and predicts the moving
average minus the last value of the target, so a trending series never leaves the training range.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

MIN_STD = 1e-12


class ScalerStats(BaseModel):
    """Per-column mean and std fitted on the train slice; saved with every model."""

    model_config = ConfigDict(extra="ignore")

    columns: list[str]
    mean: list[float]
    std: list[float]
    fitted_rows: int
    per_window: bool

    def transform(self, values: np.ndarray) -> np.ndarray:
        """(n, features) original units -> normalized."""
        return (values - np.asarray(self.mean)) / np.asarray(self.std)

    def inverse_target(self, values: np.ndarray) -> np.ndarray:
        """Normalized target (column 0) -> original units."""
        return values * self.std[0] + self.mean[0]


def fit_stats(train_values: np.ndarray, columns: list[str], per_window: bool) -> ScalerStats:
    """Mean and std per column of the (n, features) train slice; a constant column gets std 1."""
    if len(train_values) == 0:
        raise ValueError("the train slice is empty: ingest more rows or raise normalize.train_fraction")
    std = train_values.std(axis=0)
    std = np.where(std > MIN_STD, std, 1.0)
    return ScalerStats(
        columns=columns,
        mean=train_values.mean(axis=0).tolist(),
        std=std.tolist(),
        fitted_rows=len(train_values),
        per_window=per_window,
    )


def to_model_space(
    x: np.ndarray, y: np.ndarray | None, per_window: bool
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Apply the per-window shift: x (m, lookback, f), y (m,) -> shifted copies and offsets (m,).

    The offset is the target's (feature 0) last input value; without `per_window` it is zero.
    """
    if not per_window:
        return x, y, np.zeros(len(x), dtype=x.dtype)
    offset = x[:, -1, 0].copy()
    shifted_y = None if y is None else y - offset
    return x - x[:, -1:, :], shifted_y, offset
