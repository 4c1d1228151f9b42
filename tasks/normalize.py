"""Normalize: pick the series, split it chronologically, z-score with statistics of the train slice only.

Also holds the per-window (RevIN-style) shift used by train, evaluate and predict: with
`per_window=True` the model sees each window minus its own last value and predicts the moving
average minus the last value of the target, so a trending series never leaves the training range.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from prefect import get_run_logger
from pydantic import BaseModel

from movavg.config import NormalizeConfig
from tasks.caching import COMPLETE_MARKER, cached_stage, stage_output_dir
from tasks.ingest import SERIES, TIMESTAMP, read_raw
from tasks.storage import atomic_directory, atomic_write_json, frame_hash

SPLITS = ("train", "val", "test")
SPLIT = "split"
MIN_STD = 1e-12


class ScalerStats(BaseModel):
    """Per-column mean and std fitted on the train slice; saved with every model."""

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


class GapReport(BaseModel):
    """Holes in the time index: steps longer than 1.5x the median step."""

    step: str
    gaps: int
    largest: str
    filled_rows: int


class NormalizeResult(BaseModel):
    """Where the normalized series lives and what identifies its content."""

    path: str
    content_hash: str
    series: str
    columns: list[str]
    stats: ScalerStats
    rows: dict[str, int]
    gaps: GapReport


def select_series(raw: pd.DataFrame, series: str | None) -> pd.DataFrame:
    """Rows of one series sorted by time; `series=None` is allowed when there is only one."""
    if raw.empty:
        raise ValueError("no data ingested yet: put CSV or Parquet files into <data-dir>/incoming/ (or run `movavg demo`); "
                         "files modified in the last ingest.settle_seconds wait for the next run")
    available = sorted(raw[SERIES].unique())
    if series is None:
        if len(available) > 1:
            shown = ", ".join(available[:10]) + (" ..." if len(available) > 10 else "")
            raise ValueError(f"data holds {len(available)} series ({shown}); choose one with normalize.series=<id>")
        series = available[0]
    if series not in available:
        raise ValueError(f"series {series!r} not found; available: {', '.join(available[:10])}")
    return raw[raw[SERIES] == series].sort_values(TIMESTAMP, ignore_index=True)


def find_gaps(timestamps: pd.Series) -> tuple[pd.Timedelta, int, pd.Timedelta]:
    """(median step, number of gaps, largest step) of a sorted time index."""
    steps = timestamps.diff().dropna()
    if steps.empty:
        return pd.Timedelta(0), 0, pd.Timedelta(0)
    step = steps.median()
    return step, int((steps > 1.5 * step).sum()), steps.max()


def fill_gaps(series: pd.DataFrame, columns: list[str], method: str) -> pd.DataFrame:
    """Resample one series to its median step; new rows get values by forward fill or time interpolation."""
    step, gaps, _ = find_gaps(series[TIMESTAMP])
    if method == "none" or gaps == 0:
        return series
    indexed = series.set_index(TIMESTAMP)
    grid = pd.date_range(indexed.index[0], indexed.index[-1], freq=step)
    filled = indexed.reindex(indexed.index.union(grid))
    filled[columns] = filled[columns].ffill() if method == "ffill" else filled[columns].interpolate(method="time")
    filled[SERIES] = series[SERIES].iloc[0]
    return filled.loc[grid].rename_axis(TIMESTAMP).reset_index()


def split_labels(n: int, config: NormalizeConfig) -> np.ndarray:
    """Chronological labels ('train' | 'val' | 'test') for n rows."""
    train_end = int(round(n * config.train_fraction))
    val_end = int(round(n * (config.train_fraction + config.val_fraction)))
    labels = np.empty(n, dtype=object)
    labels[:train_end], labels[train_end:val_end], labels[val_end:] = SPLITS
    return labels


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


def normalize_series(
    series: pd.DataFrame, columns: list[str], config: NormalizeConfig
) -> tuple[pd.DataFrame, ScalerStats]:
    """Split one series (its rows sorted by time, see `select_series`) and z-score `columns` with
    train-slice statistics, gaps filled per config.

    Returns a frame with `timestamp`, `series_id`, `split`, the original columns and
    `<column>__z` normalized copies, plus the fitted statistics.
    """
    frame = fill_gaps(series, columns, config.fill_gaps)[[TIMESTAMP, SERIES, *columns]].copy()
    frame[SPLIT] = split_labels(len(frame), config)
    values = frame[columns].to_numpy(dtype="float64")
    stats = fit_stats(values[frame[SPLIT].to_numpy() == "train"], columns, config.per_window)
    normalized = stats.transform(values)
    for index, column in enumerate(columns):
        frame[f"{column}__z"] = normalized[:, index]
    return frame, stats


def z_columns(columns: list[str]) -> list[str]:
    """Names of the normalized copies of `columns`."""
    return [f"{column}__z" for column in columns]


def to_model_space(x: np.ndarray, y: np.ndarray | None, per_window: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Apply the per-window shift: x (m, lookback, f), y (m,) -> shifted copies and offsets (m,).

    The offset is the target's (feature 0) last input value; without `per_window` it is zero.
    """
    if not per_window:
        return x, y, np.zeros(len(x), dtype=x.dtype)
    offset = x[:, -1, 0].copy()
    shifted_y = None if y is None else y - offset
    return x - x[:, -1:, :], shifted_y, offset


def normalize_and_save(raw_dir: Path, columns: list[str], config: NormalizeConfig, out_dir: Path) -> NormalizeResult:
    """Read raw, normalize, write `series.parquet` + `stats.json` into `out_dir` atomically."""
    series = select_series(read_raw(raw_dir), config.series)
    frame, stats = normalize_series(series, columns, config)
    step, gaps, largest = find_gaps(series[TIMESTAMP])
    gap_report = GapReport(step=str(step), gaps=gaps, largest=str(largest), filled_rows=len(frame) - len(series))
    with atomic_directory(out_dir) as tmp:
        frame.to_parquet(tmp / "series.parquet", index=False)
        atomic_write_json(tmp / "stats.json", stats.model_dump())
        (tmp / COMPLETE_MARKER).touch()
    counts = frame[SPLIT].value_counts()
    return NormalizeResult(
        path=str(out_dir / "series.parquet"),
        content_hash=frame_hash(frame),
        series=str(frame[SERIES].iloc[0]),
        columns=columns,
        stats=stats,
        rows={split: int(counts.get(split, 0)) for split in SPLITS},
        gaps=gap_report,
    )


@cached_stage("normalize", normalize_series, retries=1)
def normalize(
    cache_dir: str, fingerprint: str, raw_dir: str, columns: list[str], config: NormalizeConfig
) -> NormalizeResult:
    """Prefect task: cached on the data fingerprint, the column choice, this config and this code."""
    out_dir = stage_output_dir("normalize", normalize_series, cache_dir, fingerprint=fingerprint, raw_dir=raw_dir,
                               columns=columns, config=config)
    result = normalize_and_save(Path(raw_dir), columns, config, out_dir)
    logger = get_run_logger()
    logger.info("normalized series %r: %s rows", result.series, result.rows)
    if result.gaps.gaps:
        logger.warning("%d gap(s) in the time index (usual step %s, largest %s); %s", result.gaps.gaps,
                       result.gaps.step, result.gaps.largest,
                       f"filled {result.gaps.filled_rows} row(s) ({config.fill_gaps})" if config.fill_gaps != "none"
                       else "not filled: set normalize.fill_gaps=ffill or interpolate to fill them")
    return result
