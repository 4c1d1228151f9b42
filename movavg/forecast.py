"""Forecasting with a model bundle: predicted moving averages for every window of a series, scored
against the actual moving averages where they are known."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from movavg.bundle import BundleSpec, load_bundle
from movavg.registry import current_champion
from movavg.schema import SERIES, TIMESTAMP
from movavg.session import keras_session
from movavg.windowing import PREDICT_BATCH, make_windows, window_count

if TYPE_CHECKING:
    import keras


def predict_normalized(model: keras.Model, values: np.ndarray, lookback: int, per_window: bool) -> np.ndarray:
    """Model output for every window of normalized rows `values` (n, f), fed batch by batch (never all
    windows at once) -> normalized MA (n - lookback + 1,), window i ending at row i + lookback - 1."""
    from movavg.feed import window_batches, window_offsets

    count = window_count(len(values), lookback, 0)
    if count == 0:
        return np.empty((0,), dtype="float64")
    starts = np.arange(count)
    out = model.predict(window_batches(values, starts, None, lookback, PREDICT_BATCH, per_window), verbose=0)
    return out.reshape(-1).astype("float64") + window_offsets(values, starts, lookback, per_window)


def forecast_frame(model: keras.Model, bundle: BundleSpec, series_id: str, series: pd.DataFrame) -> pd.DataFrame:
    """Predict the MA for every window of one series given in original units.

    Args:
        series_id: which series (its scaler statistics come from the bundle).
        series: rows of that series sorted by time, with `timestamp` and the bundle's columns.

    Returns:
        One row per window with `timestamp` (the last input step), `series_id`, `horizon` (steps
        after `timestamp` at which the averaged span ends) and `predicted_ma` (original units).
    """
    missing = [column for column in bundle.columns if column not in series.columns]
    if missing:
        raise ValueError(f"input lacks the model's column(s) {missing}")
    cfg, stats = bundle.window, bundle.stats_for(series_id)
    values = stats.transform(series[bundle.columns].to_numpy(dtype="float64"))
    # every window whose inputs are known gets a forecast, also the newest ones.
    predicted = stats.inverse_target(predict_normalized(model, values, cfg.lookback, stats.per_window))
    ends = series[TIMESTAMP].to_numpy()[cfg.lookback - 1 :]
    return pd.DataFrame({TIMESTAMP: ends, SERIES: series_id, "horizon": cfg.horizon, "predicted_ma": predicted})


def score_frame(model: keras.Model, bundle: BundleSpec, series_id: str, series: pd.DataFrame) -> pd.DataFrame:
    """Forecasts next to actual MAs for every window whose target lies inside `series`.

    Returns one row per window with `timestamp` (last input step), `actual`, `predicted`.
    """
    cfg = bundle.window
    forecasts = forecast_frame(model, bundle, series_id, series)
    target = series[bundle.columns[0]].to_numpy(dtype="float64")
    _, actual = make_windows(target, cfg.lookback, cfg.ma_window, cfg.horizon)
    m = window_count(len(target), cfg.lookback, cfg.horizon)
    return pd.DataFrame({
        TIMESTAMP: forecasts[TIMESTAMP].to_numpy()[:m],
        "actual": actual,
        "predicted": forecasts["predicted_ma"].to_numpy()[:m],
    })


def forecast_with_champions(artifacts_dir: Path, rows: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Forecast each series in `rows` with that series' own champion (`model_version` per row).

    Returns the forecasts (empty when none could be made) and one note per series left out and why.
    """
    with keras_session():
        frames, notes = _forecast_each(artifacts_dir, rows)
    columns = [TIMESTAMP, SERIES, "horizon", "predicted_ma", "model_version"]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)), notes


def _forecast_each(artifacts_dir: Path, rows: pd.DataFrame) -> tuple[list[pd.DataFrame], list[str]]:
    frames, notes, loaded = [], [], {}
    for series_id, part in rows.groupby(SERIES, sort=True):
        champion = current_champion(artifacts_dir, str(series_id))
        if champion is None:
            notes.append(f"{series_id}: no champion (not modelled yet)")
            continue
        if champion.version not in loaded:
            loaded[champion.version] = load_bundle(Path(champion.path))
        model, bundle = loaded[champion.version]
        if len(part) < bundle.window.lookback:
            notes.append(f"{series_id}: {len(part)} rows, its champion {champion.version} needs lookback = "
                         f"{bundle.window.lookback}")
            continue
        frame = forecast_frame(model, bundle, str(series_id), part.sort_values(TIMESTAMP))
        frames.append(frame.assign(model_version=champion.version))
    return frames, notes
