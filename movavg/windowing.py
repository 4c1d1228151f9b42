"""Windowing: turn a normalized series into supervised (X, y) windows, vectorised, split by split.

Offsets, for window i of a series `values` with n rows::

    inputs   X[i] = values[i : i + lookback]                      (last input step t = i + lookback - 1)
    target   y[i] = mean(values[t + horizon - ma_window + 1 : t + horizon + 1, target_col])

so the target is the moving average of `ma_window` steps ending `horizon` steps after the last input.
Windows look back only: nothing after step t enters X[i]. `horizon=0, lookback=ma_window=w` is the
classic construction `X = data[i:i+w]`, `y = mean(data[i:i+w])` for every i, the last window included.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.lib.stride_tricks import sliding_window_view

from movavg.cache import stage_output
from movavg.config import WindowConfig
from movavg.schema import (
    SPLIT,
    SPLITS,
    TARGET_TIME,
    TIMESTAMP,
    NormalizeResult,
    UnusableSeries,
    WindowResult,
    WindowSpec,
)
from movavg.series import z_columns
from movavg.storage import sha256_file


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
        X of shape (m, lookback, features) and y of shape (m,), m = n - lookback - horizon + 1
        (0 when the series is too short), in the dtype of `values`.
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
    return np.ascontiguousarray(x), y


def naive_baselines(target: np.ndarray, lookback: int, ma_window: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """The two persistence forecasts per window, shape (m,) each: the last input value of the target,
    and the current moving average (mean of the last `ma_window` input values)."""
    m = window_count(len(target), lookback, horizon)
    last = target[lookback - 1 : lookback - 1 + m]
    current_ma = sliding_window_view(target, ma_window)[lookback - ma_window : lookback - ma_window + m].mean(axis=1)
    return last, current_ma


def split_windows(frame: pd.DataFrame, columns: list[str], spec: WindowSpec) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Windows of each split built from that split's rows only, so no window mixes splits.

    Returns {split: (X (m, lookback, f) float32, y (m,) float32, target timestamps (m,))}.
    Raises ValueError naming the split when one is too short for a single window.
    """
    out = {}
    for split in SPLITS:
        part = frame[frame[SPLIT] == split]
        values = part[z_columns(columns)].to_numpy(dtype="float32")
        x, y = make_windows(values, spec.lookback, spec.ma_window, spec.horizon)
        if len(y) == 0:
            need = spec.lookback + spec.horizon
            raise UnusableSeries(
                f"too short: the {split} slice has {len(part)} rows but one window needs lookback + horizon = {need}: "
                "ingest more data or lower window.lookback / window.horizon"
            )
        end = spec.target_end
        out[split] = (x, y, part[TIMESTAMP].to_numpy()[end : end + len(y)])
    return out


def windows_table(windows: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> pa.Table:
    """One row per window: split, target timestamp, y, and x flattened to a fixed-size list."""
    tables = []
    for split, (x, y, times) in windows.items():
        flat = pa.array(x.reshape(-1), pa.float32())
        tables.append(pa.table({
            SPLIT: pa.array([split] * len(y)),
            TARGET_TIME: pa.array(times),
            "y": pa.array(y, pa.float32()),
            "x": pa.FixedSizeListArray.from_arrays(flat, x.shape[1] * x.shape[2]),
        }))
    return pa.concat_tables(tables)


def load_windows(path: str, split: str, lookback: int) -> tuple[np.ndarray, np.ndarray]:
    """Read one split's windows back: X (m, lookback, features) float32, y (m,) float32."""
    table = pq.read_table(path, filters=[(SPLIT, "=", split)], columns=["x", "y"])
    flat = table.column("x").combine_chunks().flatten().to_numpy()
    y = table.column("y").to_numpy()
    return flat.reshape(len(y), lookback, -1), y


def build_windows(normalized: NormalizeResult, config: WindowConfig, out_dir: Path) -> WindowResult:
    """Window every split of the normalized series and write `windows.parquet` into `out_dir` atomically."""
    spec = WindowSpec.model_validate(config.model_dump())
    frame = pd.read_parquet(normalized.path)
    windows = split_windows(frame, normalized.columns, spec)
    with stage_output(out_dir) as tmp:
        pq.write_table(windows_table(windows), tmp / "windows.parquet")
    path = out_dir / "windows.parquet"
    counts = {split: len(y) for split, (_, y, _) in windows.items()}
    return WindowResult(path=str(path), content_hash=sha256_file(path), counts=counts,
                        features=len(normalized.columns), spec=spec)
