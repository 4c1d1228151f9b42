"""Model bundles: a saved Keras model plus everything needed to feed it, and forecasting with one.

A bundle folder holds `model.keras` and `bundle.json` (columns, series, scaler statistics, window
config). Models load with Keras safe mode on, so a `.keras` file cannot run arbitrary code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pydantic import BaseModel

from movavg.config import TrainConfig, WindowConfig
from tasks.ingest import SERIES, TIMESTAMP
from tasks.normalize import ScalerStats, to_model_space
from tasks.window import make_windows, window_count

if TYPE_CHECKING:
    import keras

MODEL_FILE = "model.keras"
BUNDLE_FILE = "bundle.json"
PREDICT_BATCH = 1024


class ModelBundle(BaseModel):
    """What a model needs besides its weights: inputs, scaling and the target it predicts."""

    series: str
    columns: list[str]
    stats: ScalerStats
    window: WindowConfig
    train: TrainConfig

    def same_target(self, other: ModelBundle) -> bool:
        """True when both models predict the same quantity (column, MA length, horizon)."""
        return (self.columns[0], self.window.ma_window, self.window.horizon) == (
            other.columns[0], other.window.ma_window, other.window.horizon)


def bundle_intact(folder: Path) -> bool:
    """Cheap check that a bundle's files are there and whole (the .keras file is a zip archive)."""
    import zipfile

    model = folder / MODEL_FILE
    return model.exists() and zipfile.is_zipfile(model) and (folder / BUNDLE_FILE).exists()


def load_bundle(folder: Path) -> tuple[keras.Model, ModelBundle]:
    """Load `model.keras` (safe mode) and `bundle.json` from a bundle folder."""
    import keras

    bundle = ModelBundle.model_validate(json.loads((folder / BUNDLE_FILE).read_text(encoding="utf-8")))
    model = keras.saving.load_model(folder / MODEL_FILE, safe_mode=True, compile=False)
    return model, bundle


def predict_normalized(model: keras.Model, x: np.ndarray, per_window: bool) -> np.ndarray:
    """Model output for normalized windows x (m, lookback, f) -> normalized MA (m,)."""
    if len(x) == 0:
        return np.empty((0,), dtype="float64")
    shifted, _, offset = to_model_space(x.astype("float32"), None, per_window)
    out = model.predict(shifted, batch_size=PREDICT_BATCH, verbose=0).reshape(-1)
    return out.astype("float64") + offset


def forecast_frame(model: keras.Model, bundle: ModelBundle, series: pd.DataFrame) -> pd.DataFrame:
    """Predict the MA for every window of one series given in original units.

    Args:
        series: rows of one series sorted by time, with `timestamp` and the bundle's columns.

    Returns:
        One row per window with `timestamp` (the last input step), `series_id`, `horizon` (steps
        after `timestamp` at which the averaged span ends) and `predicted_ma` (original units).
    """
    missing = [column for column in bundle.columns if column not in series.columns]
    if missing:
        raise ValueError(f"input lacks the model's column(s) {missing}")
    cfg = bundle.window
    values = bundle.stats.transform(series[bundle.columns].to_numpy(dtype="float64"))
    # horizon 0 here: every window whose inputs are known gets a forecast, also the newest ones.
    x, _ = make_windows(values, cfg.lookback, 1, 0)
    predicted = bundle.stats.inverse_target(predict_normalized(model, x, bundle.stats.per_window))
    ends = series[TIMESTAMP].to_numpy()[cfg.lookback - 1 :]
    series_id = series[SERIES].to_numpy()[cfg.lookback - 1 :] if SERIES in series else bundle.series
    return pd.DataFrame({TIMESTAMP: ends, SERIES: series_id, "horizon": cfg.horizon, "predicted_ma": predicted})


def score_frame(model: keras.Model, bundle: ModelBundle, series: pd.DataFrame) -> pd.DataFrame:
    """Forecasts next to actual MAs for every window whose target lies inside `series`.

    Returns one row per window with `timestamp` (last input step), `actual`, `predicted`.
    """
    cfg = bundle.window
    forecasts = forecast_frame(model, bundle, series)
    target = series[bundle.columns[0]].to_numpy(dtype="float64")
    _, actual = make_windows(target, cfg.lookback, cfg.ma_window, cfg.horizon)
    m = window_count(len(target), cfg.lookback, cfg.horizon)
    return pd.DataFrame({
        TIMESTAMP: forecasts[TIMESTAMP].to_numpy()[:m],
        "actual": actual,
        "predicted": forecasts["predicted_ma"].to_numpy()[:m],
    })
