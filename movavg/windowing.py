"""Windowing: supervised (X, y) windows of a normalized series, as views and index arrays, split by split.

Offsets, for window i of a series `values` with n rows::

    inputs   X[i] = values[i : i + lookback]                      (last input step t = i + lookback - 1)
    target   y[i] = mean(values[t + horizon - ma_window + 1 : t + horizon + 1, target_col])

so the target is the moving average of `ma_window` steps ending `horizon` steps after the last input.
Windows look back only: nothing after step t enters X[i]. In the pipeline a window belongs to the split its
averaged span lies in; its inputs (and seasonal lags, `WindowSpec.history` rows before t) may come from
earlier rows. `horizon=0, lookback=ma_window=w` is the classic construction `X = data[i:i+w]`,
`y = mean(data[i:i+w])` for every i, the last window included.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from movavg.cache import stage_output
from movavg.config import WindowConfig
from movavg.frequency import infer_frequency
from movavg.naive import NaiveForecast, NaiveSpec, moving_average, naive_errors
from movavg.schema import (
    SERIES,
    SPLIT,
    SPLITS,
    TIMESTAMP,
    NormalizeResult,
    UnusableSeries,
    WindowResult,
    WindowSpec,
)
from movavg.seasons import (
    CALENDAR_WIDTH,
    calendar_features,
    calendar_kind,
    fit_profile,
    natural_seasons,
    seasonal_component,
    usable_seasons,
)
from movavg.series import PreparedSeries, z_columns
from movavg.storage import sha256_file

PREDICT_BATCH = 1024  # windows per batch where no gradient is computed (validation, forecasts)


def window_count(n: int, lookback: int, horizon: int) -> int:
    """Number of windows a series of n rows yields: max(0, n - lookback - horizon + 1)."""
    return max(0, n - lookback - horizon + 1)


def make_windows(
    values: np.ndarray, lookback: int, ma_window: int, horizon: int, target_col: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Supervised windows of a series, without a Python loop over rows.

    Args:
        values: shape (n,) or (n, features).
        lookback: input steps per window (>= 1).
        ma_window: length of the moving average (1 <= ma_window <= lookback + horizon).
        horizon: steps from the last input step to the end of the averaged span (>= 0).
        target_col: feature whose moving average is the target.

    Returns:
        X of shape (m, lookback, features), a read-only view of `values` (no copy), and y of shape (m,),
        m = n - lookback - horizon + 1 (0 when the series is too short), in the dtype of `values`.
    """
    if lookback < 1 or ma_window < 1 or horizon < 0:
        raise ValueError(f"need lookback >= 1, ma_window >= 1, horizon >= 0; got {lookback}, {ma_window}, {horizon}")
    if ma_window > lookback + horizon:
        raise ValueError(f"ma_window ({ma_window}) must not exceed lookback + horizon ({lookback + horizon})")
    array = np.asarray(values)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"values must have shape (n,) or (n, features), got {np.asarray(values).shape}")
    m = window_count(len(array), lookback, horizon)
    if m == 0:
        return np.empty((0, lookback, array.shape[1]), array.dtype), np.empty((0,), array.dtype)
    x = sliding_window_view(array, lookback, axis=0)[:m].transpose(0, 2, 1)
    first_end = lookback - 1 + horizon
    target = array[first_end - ma_window + 1 :, target_col]
    y = sliding_window_view(target, ma_window)[:m].mean(axis=1)
    return x, y


def window_ends(n: int, spec: WindowSpec) -> np.ndarray:
    """Last input rows t of every window of a series of n rows whose target is known: history <= t < n - h."""
    return np.arange(spec.history, max(spec.history, n - spec.horizon), dtype="int64")


class WindowArrays(NamedTuple):
    """Windows without copies: window i reads rows `values[starts[i] : starts[i] + lookback]` (plus its lag
    rows) and learns `targets[i]`, in model space (the target MA minus the window's offset, see `offsets`).

    values: (N, columns + calendar) float32 normalized rows (one or more series back to back);
    starts: (m,) int64; targets: (m,) float32.
    """

    values: np.ndarray
    starts: np.ndarray
    targets: np.ndarray


def series_values(normalized: np.ndarray, timestamps: pd.Series, spec: WindowSpec) -> np.ndarray:
    """(n, columns + calendar) float32: a series' normalized columns (n, columns), the target deseasonalized when
    the spec has a profile (`seasonal_component` subtracted), then its calendar features."""
    columns = np.asarray(normalized, dtype="float32")
    if spec.profile is not None:  # subtracted in float64, then rounded once
        columns = np.array(normalized, dtype="float64")
        columns[:, 0] -= seasonal_component(spec.profile, timestamps)
        columns = columns.astype("float32")
    return np.concatenate([columns, calendar_features(timestamps, spec.calendar)], axis=1)


def seasonal_offsets(spec: WindowSpec, timestamps: pd.Series, ends: np.ndarray) -> np.ndarray:
    """What a deseasonalized forecast from rows `ends` (m,) gets back, (m,) normalized units: the mean of the
    spec's profile over the averaged span, steps horizon - ma_window + 1 .. horizon after t; 0 without a profile."""
    if spec.profile is None:
        return np.zeros(len(ends))
    ahead = np.arange(spec.horizon - spec.ma_window + 1, spec.horizon + 1)
    return seasonal_component(spec.profile, pd.DatetimeIndex(timestamps)[ends], ahead).mean(axis=1)


def with_profile(spec: WindowSpec, frame: pd.DataFrame, target_z: str) -> WindowSpec:
    """`spec` with the seasonal profile of its seasons fitted on the train rows of `frame` (`fit_profile`);
    none when it has no season."""
    if not spec.seasons:
        return spec.model_copy(update={"profile": None})
    train = frame[frame[SPLIT] == "train"]
    frequency = spec.frequency or infer_frequency(frame[TIMESTAMP])
    profile = fit_profile(train[target_z].to_numpy(), train[TIMESTAMP], spec.seasons, frequency)
    return spec.model_copy(update={"profile": profile})


def feed_options(spec: WindowSpec, values: np.ndarray) -> dict[str, Any]:
    """`window_batches` arguments for windows of `spec` over rows `values` (normalized columns, then calendar)."""
    return {"lags": spec.lags, "shifted": values.shape[1] - CALENDAR_WIDTH[spec.calendar]}


def input_features(spec: WindowSpec, values: np.ndarray) -> int:
    """Channels the model sees per input step: the rows' columns plus one per seasonal lag."""
    return values.shape[1] + len(spec.lags)


def offsets(target_z: np.ndarray, ends: np.ndarray, spec: WindowSpec, per_window: bool) -> np.ndarray:
    """Each window's offset (m,) in normalized units: what the model's output is added to. The residual
    baseline's forecast, or the last value with `per_window`, or 0."""
    if spec.residual is not None:
        return NaiveForecast(NaiveSpec.parse(spec.residual), spec).predict(target_z, ends)
    return np.asarray(target_z, dtype="float64")[ends] if per_window else np.zeros(len(ends))


def with_best_residual(spec: WindowSpec, target_z: np.ndarray, bounds: pd.DataFrame) -> WindowSpec:
    """`spec` learning the residual of the naive forecast with the lowest MAE on its train windows (`bounds`)."""
    errors = naive_errors(target_z, split_ends(bounds, "train"), spec)
    return spec.model_copy(update={"residual": min(errors, key=errors.__getitem__)})


def rows_for_targets(frame: pd.DataFrame, first_target: int, spec: WindowSpec) -> pd.DataFrame:
    """The rows of a series `frame` that the windows whose targets end at row `first_target` or later read:
    from `spec.horizon + spec.history` rows before it (fewer at the start of the series), renumbered from 0."""
    return frame.iloc[max(0, first_target - spec.horizon - spec.history) :].reset_index(drop=True)


def split_ends(bounds: pd.DataFrame, split: str) -> np.ndarray:
    """Last input rows of the windows of `split`, from `split_bounds`' table."""
    row = bounds.set_index(SPLIT).loc[split]
    return np.arange(int(row["first_end"]), int(row["first_end"]) + int(row["windows"]))


def split_bounds(frame: pd.DataFrame, spec: WindowSpec) -> pd.DataFrame:
    """Which windows belong to each split: those whose averaged span lies in it. Their inputs may lie in
    earlier rows (history known at forecast time); their targets never leave the split.

    Returns one row per split: `split`, `first_end` (last input row of its first window), `windows` and the
    target timestamps of its first and last window. Raises UnusableSeries naming the split when one is too
    short for a single window.
    """
    labels, times = frame[SPLIT].to_numpy(), frame[TIMESTAMP].to_numpy()
    rows = []
    for split in SPLITS:
        where = np.flatnonzero(labels == split)
        first = max(int(where[0]) + spec.ma_window - 1 - spec.horizon, spec.history) if len(where) else 0
        count = int(where[-1]) - spec.horizon - first + 1 if len(where) else 0
        if count <= 0:
            raise UnusableSeries(
                f"too short: the {split} slice has {len(where)} rows, too few for one window reading "
                f"{spec.history + 1} rows and ending {spec.horizon} steps ahead: ingest more data or lower "
                "window.lookback / window.horizon (or set window.seasons)"
            )
        rows.append(
            {
                SPLIT: split,
                "first_end": first,
                "windows": count,
                "first_target": times[first + spec.horizon],
                "last_target": times[first + spec.horizon + count - 1],
            }
        )
    return pd.DataFrame(rows)


def split_arrays(prepared: list[PreparedSeries], splits: Sequence[str]) -> dict[str, WindowArrays]:
    """{split: its windows of one or more located series (`locate_windows`), back to back}, gathered lazily by
    `movavg.feed.window_batches`."""
    pieces = [series_windows(p.frame, p.columns, *located(p), p.stats.per_window, splits) for p in prepared]
    return back_to_back(pieces, splits)


def located(prepared: PreparedSeries) -> tuple[WindowSpec, pd.DataFrame]:
    """The window spec and bounds of a series whose windows were located (`locate_windows`)."""
    if prepared.spec is None or prepared.bounds is None:
        raise ValueError(f"series {prepared.series!r} has no windows yet: locate them first (`locate_windows`)")
    return prepared.spec, prepared.bounds


def load_prepared(normalized: NormalizeResult, windows: WindowResult | None = None) -> PreparedSeries:
    """A series as the normalize stage cached it, located as the window stage did when `windows` is given."""
    return PreparedSeries(
        series=normalized.series,
        frame=pd.read_parquet(normalized.path),
        columns=normalized.columns,
        stats=normalized.stats,
        gaps=normalized.gaps,
        spec=windows.spec if windows else None,
        bounds=pd.read_parquet(windows.path) if windows else None,
    )


def series_windows(
    frame: pd.DataFrame,
    columns: list[str],
    spec: WindowSpec,
    bounds: pd.DataFrame,
    per_window: bool,
    splits: Sequence[str],
) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """One normalized series' rows (`series_values`) and, per split, its windows' (starts, model-space targets)."""
    rows = series_values(frame[z_columns(columns)].to_numpy(), frame[TIMESTAMP], spec)
    target_ma = moving_average(rows[:, 0], spec.ma_window)
    per_split = {}
    for split in splits:
        ends = split_ends(bounds, split)
        shift = offsets(rows[:, 0], ends, spec, per_window)
        per_split[split] = (ends - spec.lookback + 1, (target_ma[ends + spec.horizon] - shift).astype("float32"))
    return rows, per_split


def back_to_back(
    pieces: list[tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]], splits: Sequence[str]
) -> dict[str, WindowArrays]:
    """Series concatenated, each window's start shifted by the rows of the series before its own."""
    offsets_ = np.cumsum([0] + [len(rows) for rows, _ in pieces[:-1]])
    data = np.concatenate([rows for rows, _ in pieces])
    return {
        split: WindowArrays(
            data,
            np.concatenate([windows[split][0] + offset for (_, windows), offset in zip(pieces, offsets_, strict=True)]),
            np.concatenate([windows[split][1] for _, windows in pieces]),
        )
        for split in splits
    }


def window_spec(frame: pd.DataFrame, target_z: str, config: WindowConfig) -> WindowSpec:
    """The window offsets of one normalized series (`timestamp`, `series_id`, `split` and the normalized target
    `target_z`): the config's, the series' frequency, its usable seasons (`window.seasons` for all series or
    this one, else the frequency's natural ones; `usable_seasons`), its calendar inputs and the naive forecast
    whose residual the model learns (the best one on the train windows)."""
    return spec_with_notes(frame, target_z, config)[0]


def spec_with_notes(frame: pd.DataFrame, target_z: str, config: WindowConfig) -> tuple[WindowSpec, list[str]]:
    """`window_spec` and a note per season lengthened past the horizon or left out for a short train slice."""
    frequency = infer_frequency(frame[TIMESTAMP])
    given = config.seasons_for(str(frame[SERIES].iloc[0]) if SERIES in frame.columns and len(frame) else "")
    train_rows = int((frame[SPLIT] == "train").sum())
    seasons, notes = usable_seasons(
        natural_seasons(frequency) if given is None else given, train_rows, config.lookback, config.horizon
    )
    spec = WindowSpec(
        lookback=config.lookback,
        ma_window=config.ma_window,
        horizon=config.horizon,
        seasons=seasons,
        seasonal_inputs=config.seasonal_inputs,
        calendar=calendar_kind(frequency) if config.calendar_inputs else "none",
        frequency=frequency,
    )
    if config.deseasonalize:
        spec = with_profile(spec, frame, target_z)
    if config.residual == "best-baseline":
        spec = with_best_residual(spec, frame[target_z].to_numpy(), split_bounds(frame, spec))
    return spec, notes


def locate_windows(prepared: PreparedSeries, config: WindowConfig) -> tuple[WindowSpec, pd.DataFrame]:
    """The window spec of a prepared series (`window_spec`) and each split's windows (`split_bounds`). Raises
    UnusableSeries when a split is too short for one window."""
    spec, bounds, _ = located_with_notes(prepared, config)
    return spec, bounds


def located_with_notes(prepared: PreparedSeries, config: WindowConfig) -> tuple[WindowSpec, pd.DataFrame, list[str]]:
    """`locate_windows` and `spec_with_notes`' notes."""
    spec, notes = spec_with_notes(prepared.frame, z_columns(prepared.columns)[0], config)
    return spec, split_bounds(prepared.frame, spec), notes


def build_windows(normalized: NormalizeResult, config: WindowConfig, out_dir: Path) -> WindowResult:
    """Locate every split's windows in the cached normalized series (`locate_windows`) and write
    `bounds.parquet` into `out_dir` atomically; the windows themselves are gathered batch by batch at training
    time, never stored."""
    spec, bounds, notes = located_with_notes(load_prepared(normalized), config)
    with stage_output(out_dir) as tmp:
        bounds.to_parquet(tmp / "bounds.parquet", index=False)
    path = out_dir / "bounds.parquet"
    counts = dict(zip(bounds[SPLIT], bounds["windows"].astype(int), strict=True))
    return WindowResult(
        path=str(path),
        content_hash=sha256_file(path),
        counts=counts,
        columns=normalized.columns,
        features=len(normalized.columns),
        spec=spec,
        notes=notes,
    )
