"""Windowing: supervised (X, y) windows of a normalized series, as views and index arrays, split by split.

Offsets, for window i of a series `values` with n rows::

    inputs   X[i] = values[i : i + lookback]                      (last input step t = i + lookback - 1)
    target   y[i] = mean(values[t + horizon - ma_window + 1 : t + horizon + 1, target_col])

so the target is the moving average of `ma_window` steps ending `horizon` steps after the last input.
Windows look back only: nothing after step t enters X[i]. `horizon=0, lookback=ma_window=w` is the
classic construction `X = data[i:i+w]`, `y = mean(data[i:i+w])` for every i, the last window included.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from movavg.cache import stage_output
from movavg.config import WindowConfig
from movavg.schema import (
    SPLIT,
    SPLITS,
    TIMESTAMP,
    NormalizeResult,
    UnusableSeries,
    WindowResult,
    WindowSpec,
)
from movavg.series import z_columns
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


def naive_baselines(target: np.ndarray, lookback: int, ma_window: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """The two persistence forecasts per window, shape (m,) each: the last input value of the target,
    and the current moving average (mean of the last `ma_window` input values)."""
    m = window_count(len(target), lookback, horizon)
    last = target[lookback - 1 : lookback - 1 + m]
    current_ma = sliding_window_view(target, ma_window)[lookback - ma_window : lookback - ma_window + m].mean(axis=1)
    return last, current_ma


class WindowArrays(NamedTuple):
    """Windows without copies: window i reads `values[starts[i] : starts[i] + lookback]` and predicts `targets[i]`.

    values: (N, features) float32 normalized rows (one or more series segments back to back);
    starts: (m,) int64; targets: (m,) float32.
    """

    values: np.ndarray
    starts: np.ndarray
    targets: np.ndarray


def split_bounds(frame: pd.DataFrame, spec: WindowSpec) -> pd.DataFrame:
    """Where each split's windows lie in a normalized series; windows never mix splits.

    Returns one row per split: `split`, `first_row` and `rows` (its rows in the series), `windows` (how many
    it yields) and the target timestamps of its first and last window. Raises UnusableSeries naming the split
    when one is too short for a single window.
    """
    labels, times = frame[SPLIT].to_numpy(), frame[TIMESTAMP].to_numpy()
    rows = []
    for split in SPLITS:
        where = np.flatnonzero(labels == split)
        count = window_count(len(where), spec.lookback, spec.horizon)
        if count == 0:
            need = spec.lookback + spec.horizon
            raise UnusableSeries(
                f"too short: the {split} slice has {len(where)} rows but one window needs lookback + horizon = {need}: "
                "ingest more data or lower window.lookback / window.horizon"
            )
        first = int(where[0])
        rows.append({SPLIT: split, "first_row": first, "rows": len(where), "windows": count,
                     "first_target": times[first + spec.target_end], "last_target": times[first + spec.target_end + count - 1]})
    return pd.DataFrame(rows)


def split_arrays(windows: list[WindowResult], series_paths: list[str], splits: Sequence[str]) -> dict[str, WindowArrays]:
    """{split: its windows of one or more series, back to back}, gathered lazily by `movavg.feed.window_batches`;
    each series and its bounds are read once for all `splits`."""
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {split: [] for split in splits}
    for result, path in zip(windows, series_paths, strict=True):
        bounds = pd.read_parquet(result.path).set_index(SPLIT)
        values = pd.read_parquet(path, columns=z_columns(result.columns)).to_numpy(dtype="float32")
        spec = result.spec
        for split in splits:
            first, rows = int(bounds.loc[split, "first_row"]), int(bounds.loc[split, "rows"])
            part = values[first : first + rows]
            parts[split].append((part, make_windows(part, spec.lookback, spec.ma_window, spec.horizon)[1]))
    return {split: _back_to_back(pieces) for split, pieces in parts.items()}


def _back_to_back(pieces: list[tuple[np.ndarray, np.ndarray]]) -> WindowArrays:
    """Segments (rows, targets) concatenated, each window's start shifted by the rows before its segment."""
    offsets = np.cumsum([0] + [len(part) for part, _ in pieces[:-1]])
    starts = [np.arange(len(y), dtype="int64") + offset for (_, y), offset in zip(pieces, offsets, strict=True)]
    return WindowArrays(np.concatenate([part for part, _ in pieces]), np.concatenate(starts),
                        np.concatenate([y for _, y in pieces]))


def build_windows(normalized: NormalizeResult, config: WindowConfig, out_dir: Path) -> WindowResult:
    """Locate every split's windows in the normalized series and write `bounds.parquet` into `out_dir`
    atomically; the windows themselves are gathered batch by batch at training time, never stored."""
    spec = WindowSpec.model_validate(config.model_dump())
    frame = pd.read_parquet(normalized.path, columns=[TIMESTAMP, SPLIT])
    bounds = split_bounds(frame, spec)
    with stage_output(out_dir) as tmp:
        bounds.to_parquet(tmp / "bounds.parquet", index=False)
    path = out_dir / "bounds.parquet"
    counts = dict(zip(bounds[SPLIT], bounds["windows"].astype(int), strict=True))
    return WindowResult(path=str(path), content_hash=sha256_file(path), counts=counts, columns=normalized.columns,
                        features=len(normalized.columns), spec=spec)
