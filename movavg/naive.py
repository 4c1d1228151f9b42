"""Naive forecasts as small models: what anyone could forecast the target moving average with, no training.

Each is named by a typed `NaiveSpec` and has the interface of a model: `fit` (nothing to learn; it checks the
history it needs) and `predict`. For the window whose last input row is t, with horizon h, MA length w and
season s (s > h, so every row read is known at t)::

    last              target[t]
    ma                mean(target[t - w + 1 : t + 1])                      (the current MA)
    seasonal          mean(target[t + h - w + 1 - s : t + h + 1 - s])      (the same span one season earlier)
    seasonal_change   target[t] + seasonal - target[t - s]                 (that span's change since then)

All are affine in the target, so they commute with z-scoring. Records name them as `naive_last`,
`naive_ma`, `seasonal_<s>` and `seasonal_change_<s>` (`NaiveSpec.name`, read back by `NaiveSpec.parse`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from movavg.schema import WindowSpec

NaiveKind = Literal["last", "ma", "seasonal", "seasonal_change"]
PLAIN_NAMES: dict[str, NaiveKind] = {"naive_last": "last", "naive_ma": "ma"}


def moving_average(target: np.ndarray, ma_window: int) -> np.ndarray:
    """ma[j] = mean(target[j - ma_window + 1 : j + 1]), shape (n,) float64; NaN for j < ma_window - 1."""
    values = np.asarray(target, dtype="float64")
    out = np.full(len(values), np.nan)
    if len(values) >= ma_window:
        sums = np.cumsum(np.concatenate([[0.0], values]))
        out[ma_window - 1 :] = (sums[ma_window:] - sums[:-ma_window]) / ma_window
    return out


class NaiveSpec(BaseModel):
    """One naive forecast: its kind and, for the seasonal ones, the season length in steps."""

    model_config = ConfigDict(frozen=True)

    kind: NaiveKind
    season: int | None = None

    @property
    def name(self) -> str:
        """Its name in records: `naive_last`, `naive_ma`, `seasonal_<s>`, `seasonal_change_<s>`."""
        return f"naive_{self.kind}" if self.season is None else f"{self.kind}_{self.season}"

    @classmethod
    def parse(cls, name: str) -> NaiveSpec:
        """The spec a record's name stands for; raises ValueError for a name that is none of them."""
        if name in PLAIN_NAMES:
            return cls(kind=PLAIN_NAMES[name])
        for kind in ("seasonal_change", "seasonal"):
            season = name.removeprefix(f"{kind}_")
            if season != name and season.isdigit():
                return cls(kind=kind, season=int(season))
        raise ValueError(f"not a naive forecast: {name!r}")

    def describe(self) -> str:
        """In words: "last value", "current MA", "seasonal change (336 steps)"."""
        plain = {"last": "last value", "ma": "current MA"}
        return plain.get(self.kind) or f"{self.kind.replace('_', ' ')} ({self.season} steps)"

    def history(self, window: WindowSpec) -> int:
        """Rows before the last input row t that it reads."""
        if self.kind == "last":
            return 0
        if self.kind == "ma":
            return window.ma_window - 1
        span = self.season - window.horizon + window.ma_window - 1  # type: ignore[operator]
        return max(span, self.season) if self.kind == "seasonal_change" else span  # type: ignore[type-var]


class NaiveForecast:
    """A naive forecast with a model's interface, for one window spec (horizon, MA length)."""

    def __init__(self, spec: NaiveSpec, window: WindowSpec) -> None:
        self.spec, self.window = spec, window

    def fit(self, target: np.ndarray, ends: np.ndarray) -> NaiveForecast:
        """Nothing to learn; raises ValueError when a window lacks the history it reads."""
        if len(ends) and int(np.min(ends)) < self.spec.history(self.window):
            raise ValueError(f"{self.spec.describe()} reads {self.spec.history(self.window)} rows before each window")
        return self

    def predict(self, target: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Its forecasts (m,) of the target MA for the windows whose last input rows are `ends` (m,)."""
        values = np.asarray(target, dtype="float64")
        return self._predict(values, moving_average(values, self.window.ma_window), ends)

    def _predict(self, values: np.ndarray, ma: np.ndarray, ends: np.ndarray) -> np.ndarray:
        kind, season, horizon = self.spec.kind, self.spec.season, self.window.horizon
        if kind == "last":
            return values[ends]
        if kind == "ma":
            return ma[ends]
        span = ma[ends + horizon - season]  # type: ignore[operator]
        return values[ends] + span - values[ends - season] if kind == "seasonal_change" else span  # type: ignore[operator]


def naive_specs(window: WindowSpec) -> list[NaiveSpec]:
    """Every naive forecast for `window`: the last value, the current MA, and per season both seasonal ones."""
    seasonal = [NaiveSpec(kind=kind, season=s) for s in window.seasons for kind in ("seasonal", "seasonal_change")]
    return [NaiveSpec(kind="last"), NaiveSpec(kind="ma"), *seasonal]


def naive_names(window: WindowSpec) -> list[str]:
    """The record names of `naive_specs(window)`."""
    return [spec.name for spec in naive_specs(window)]


def naive_forecasts(target: np.ndarray, ends: np.ndarray, window: WindowSpec) -> dict[str, np.ndarray]:
    """{name: forecasts (m,)} of every naive forecast for the windows whose last input rows are `ends` (m,);
    `window.history` rows before each t must exist."""
    values = np.asarray(target, dtype="float64")
    ma = moving_average(values, window.ma_window)
    return {spec.name: NaiveForecast(spec, window)._predict(values, ma, ends) for spec in naive_specs(window)}


def naive_errors(target: np.ndarray, ends: np.ndarray, window: WindowSpec) -> dict[str, float]:
    """{name: MAE} of every naive forecast on the windows ending at `ends`, against the actual target MA."""
    actual = moving_average(target, window.ma_window)[ends + window.horizon]
    return {name: float(np.mean(np.abs(f - actual))) for name, f in naive_forecasts(target, ends, window).items()}


def describe_naive(name: str) -> str:
    """A record's naive forecast name in words: `seasonal_change_336` -> "seasonal change (336 steps)"."""
    return NaiveSpec.parse(name).describe()
