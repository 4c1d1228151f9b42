"""Forecasting with a model bundle: predicted moving averages for every window of a series, scored
against the actual moving averages where they are known."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from movavg.bundle import BundleSpec, load_bundle
from movavg.frequency import infer_frequency, steps_after
from movavg.intervals import local_scale
from movavg.naive import NaiveForecast, NaiveSpec, describe_naive, moving_average
from movavg.registry import current_champion, metrics_of
from movavg.schema import SERIES, TIMESTAMP, Frequency, WindowSpec
from movavg.session import keras_session
from movavg.windowing import PREDICT_BATCH, feed_options, offsets, seasonal_offsets, series_values, window_ends

if TYPE_CHECKING:
    import keras

CONTEXT_ROWS = 64  # rows before the newest window that give its scale and the series' step


def predict_normalized(
    model: keras.Model, values: np.ndarray, ends: np.ndarray, spec: WindowSpec, per_window: bool
) -> np.ndarray:
    """Model output, in model space, for the windows of normalized rows `values` (n, columns + calendar) whose
    last input rows are `ends` (m,) -> (m,). Windows are gathered in numpy (`window_array`) PREDICT_BATCH at a
    time, never all at once, and predicted with `predict_on_batch`: no `tf.data` pipeline to build and trace
    per call (50x less overhead for a forecast)."""
    from movavg.feed import window_array

    options = feed_options(spec, values)
    out = [np.empty((0,), dtype="float64")]
    for first in range(0, len(ends), PREDICT_BATCH):
        starts = ends[first : first + PREDICT_BATCH] - spec.lookback + 1
        x = window_array(values, starts, spec.lookback, per_window, **options)
        out.append(np.asarray(model.predict_on_batch(x)).reshape(-1).astype("float64"))
    return np.concatenate(out)


def forecast_frame(
    model: keras.Model | None, bundle: BundleSpec, series_id: str, series: pd.DataFrame, newest: bool = False
) -> pd.DataFrame:
    """Predict the MA for every window of one series given in original units whose inputs are known.

    Args:
        model: the bundle's model (None for a baseline bundle, which serves its naive forecast).
        series_id: which series (its scaler statistics and window spec come from the bundle).
        series: rows of that series sorted by time, with `timestamp` and the bundle's columns.
        newest: only the newest window (the rows before it still give its scale and the series' step).

    Returns:
        One row per window with `timestamp` (the last input step t, from row `history` on), `series_id`,
        `horizon` (steps after `timestamp` at which the averaged span ends), `predicted_ma` (original units) and
        `scale` (the window's typical step, `local_scale`, which its prediction interval is a multiple of).
    """
    missing = [column for column in bundle.columns if column not in series.columns]
    if missing:
        raise ValueError(f"input lacks the model's column(s) {missing}")
    spec = bundle.window_for(series_id)
    first = rows_read(bundle, series_id) - 1  # the first row with enough history
    ends = np.arange(max(first, len(series) - 1) if newest else first, len(series))
    target = series[bundle.columns[0]].to_numpy(dtype="float64")
    if bundle.kind == "baseline":
        predicted = NaiveForecast(NaiveSpec.parse(bundle.baselines[series_id]), spec).predict(target, ends)
    else:
        stats = bundle.stats_for(series_id)
        values = series_values(
            stats.transform(series[bundle.columns].to_numpy(dtype="float64")), series[TIMESTAMP], spec
        )
        shift = offsets(values[:, 0].astype("float64"), ends, spec, stats.per_window)
        shift += seasonal_offsets(spec, series[TIMESTAMP], ends)
        predicted = stats.inverse_target(predict_normalized(model, values, ends, spec, stats.per_window) + shift)
        if (blend := bundle.blends.get(series_id)) is not None:
            naive = NaiveForecast(NaiveSpec.parse(blend.naive), spec).predict(target, ends)
            predicted = blend.weight * predicted + (1 - blend.weight) * naive
    return pd.DataFrame(
        {
            TIMESTAMP: series[TIMESTAMP].to_numpy()[ends],
            "target_time": target_times(series[TIMESTAMP], spec.horizon, spec.frequency)[ends],
            SERIES: series_id,
            "horizon": spec.horizon,
            "predicted_ma": predicted,
            "scale": local_scale(target, ends, spec.lookback),
        }
    )


def rows_read(bundle: BundleSpec, series_id: str) -> int:
    """Rows one forecast of `series_id` reads, its last input row included: the model's window (lookback, lag
    channels, seasonal inputs), or for a naive champion only what that naive forecast reads."""
    spec = bundle.window_for(series_id)
    if bundle.kind == "baseline":
        return NaiveSpec.parse(bundle.baselines[series_id]).history(spec) + 1
    return spec.history + 1


def target_times(timestamps: pd.Series, horizon: int, frequency: Frequency | None = None) -> np.ndarray:
    """For each row t, when the averaged span of a forecast from t ends: the timestamp of row t + horizon where
    the input has it, else the last timestamp plus the remaining steps on the series' calendar (`frequency`, the
    bundle's; inferred from `timestamps` for bundles that predate it): a month start plus 5 months is a month
    start, business days skip weekends."""
    stamps = pd.DatetimeIndex(timestamps)
    if horizon == 0 or len(stamps) == 0:
        return stamps.to_numpy()
    frequency = frequency or infer_frequency(stamps)
    beyond = steps_after(stamps[-1], min(horizon, len(stamps)), frequency) or [stamps[-1]] * min(horizon, len(stamps))
    return pd.DatetimeIndex([*stamps[horizon:], *beyond]).to_numpy()


def score_frame(model: keras.Model | None, bundle: BundleSpec, series_id: str, series: pd.DataFrame) -> pd.DataFrame:
    """Forecasts next to actual MAs for every window whose target lies inside `series`.

    Returns one row per window with `timestamp` (last input step t), `target_row` (row of `series` where its
    averaged span ends, t + horizon), `actual`, `predicted` and `scale`.
    """
    spec = bundle.window_for(series_id)
    forecasts = forecast_frame(model, bundle, series_id, series)
    ends = window_ends(len(series), spec)
    rows = ends - (rows_read(bundle, series_id) - 1)  # forecast_frame's row of each scored window
    actual = moving_average(series[bundle.columns[0]].to_numpy(dtype="float64"), spec.ma_window)[ends + spec.horizon]
    return pd.DataFrame(
        {
            TIMESTAMP: forecasts[TIMESTAMP].to_numpy()[rows],
            "target_row": ends + spec.horizon,
            "actual": actual,
            "predicted": forecasts["predicted_ma"].to_numpy()[rows],
            "scale": forecasts["scale"].to_numpy()[rows],
        }
    )


def with_interval(forecasts: pd.DataFrame, metrics: dict[str, Any]) -> pd.DataFrame:
    """`forecasts` with `lower` and `upper` in place of `scale`: the central interval calibrated for the model
    that made them (its `metrics["interval"]`); NaN for models published before intervals were calibrated."""
    interval = metrics.get("interval") or {}
    low, high = interval.get("lower_factor", math.nan), interval.get("upper_factor", math.nan)
    scale = forecasts["scale"]
    return forecasts.drop(columns="scale").assign(
        lower=forecasts["predicted_ma"] + low * scale, upper=forecasts["predicted_ma"] + high * scale
    )


def newest_forecast(
    model: keras.Model | None, bundle: BundleSpec, series_id: str, series: pd.DataFrame, metrics: dict[str, Any]
) -> pd.DataFrame:
    """The forecast from the newest window of one series (`series`: its rows sorted by time, original units),
    with the interval calibrated for the model (`metrics`, as `with_interval` reads them): one row.

    Reads the rows the forecast needs, and at least CONTEXT_ROWS and a lookback more: the window's scale
    (`local_scale`) and the series' step (`target_times`) come from the rows before it, also for a naive
    forecast that reads one row.
    """
    spec = bundle.window_for(series_id)
    recent = series.tail(max(rows_read(bundle, series_id), spec.lookback + 1, CONTEXT_ROWS))
    return with_interval(forecast_frame(model, bundle, series_id, recent, newest=True), metrics)


def widened(forecasts: pd.DataFrame, margin: float) -> pd.DataFrame:
    """`forecasts` with each interval widened on each side by `margin` times its width (the adaptive margin in
    force for the champion, `SeriesHealth.interval_margin`) and that `margin` as a column."""
    width = forecasts["upper"] - forecasts["lower"]
    return forecasts.assign(lower=forecasts["lower"] - margin * width, upper=forecasts["upper"] + margin * width)


def forecast_with_champions(
    artifacts_dir: Path, rows: pd.DataFrame, margins: dict[str, tuple[str, float]] | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Forecast each series in `rows` with that series' own champion (`model_version` per row), its interval the
    one served: calibrated, widened by the adaptive margin in force (`margins`: per series (version, margin),
    applied when that version is the champion), as `latest.parquet` has it and the live log scores it.

    Returns the forecasts (empty when none could be made) and one note per series left out and why.
    """
    with keras_session():
        frames, notes = _forecast_each(artifacts_dir, rows, margins or {})
    columns = [TIMESTAMP, "target_time", SERIES, "horizon", "predicted_ma", "lower", "upper", "model_version"]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)), notes


def _forecast_each(
    artifacts_dir: Path, rows: pd.DataFrame, margins: dict[str, tuple[str, float]]
) -> tuple[list[pd.DataFrame], list[str]]:
    frames: list[pd.DataFrame] = []
    notes: list[str] = []
    loaded: dict[str, Any] = {}  # version -> (model, bundle, metrics), or why it cannot be loaded
    for series_id, part in rows.groupby(SERIES, sort=True):
        champion = current_champion(artifacts_dir, str(series_id))
        if champion is None:
            notes.append(f"{series_id}: no champion (not modelled yet)")
            continue
        if champion.version not in loaded:  # a global model's bundle and metrics are read once for all its series
            try:
                loaded[champion.version] = (*load_bundle(Path(champion.path)), metrics_of(Path(champion.path)))
            except Exception as error:  # damaged files: this champion cannot serve; the other series go on
                loaded[champion.version] = f"{type(error).__name__}: {error}"
        if isinstance(loaded[champion.version], str):
            notes.append(
                f"{series_id}: its champion {champion.version} cannot be loaded ({loaded[champion.version]}); "
                "run `movavg run` to replace it, or `movavg promote` an earlier version"
            )
            continue
        model, bundle, metrics = loaded[champion.version]
        needed = rows_read(bundle, str(series_id))
        if len(part) < needed:
            notes.append(
                f"{series_id}: {len(part)} rows, but its champion {champion.version} "
                f"({describe_kind(bundle, str(series_id))}) reads {needed} rows per forecast: pass at least "
                f"the newest {needed}"
            )
            continue
        frame = with_interval(
            forecast_frame(model, bundle, str(series_id), part.sort_values(TIMESTAMP)), metrics.get(str(series_id), {})
        )
        version, margin = margins.get(str(series_id), ("", 0.0))
        frames.append(
            widened(frame, margin if version == champion.version else 0.0).assign(model_version=champion.version)
        )
    return frames, notes


def describe_kind(bundle: BundleSpec, series_id: str) -> str:
    """`LSTM`, or the naive forecast a baseline bundle serves for `series_id`, in words."""
    return f"naive: {describe_naive(bundle.baselines[series_id])}" if bundle.kind == "baseline" else "LSTM"
