"""One series, ready for windows: selected from the raw store, gaps found (and filled if asked), split
chronologically (train | val | test) and z-scored with statistics of the train slice only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from movavg.cache import stage_output
from movavg.config import NormalizeConfig
from movavg.frequency import describe_frequency, gap_steps, human_duration, infer_frequency, step_offset
from movavg.rawstore import read_raw
from movavg.scaling import ScalerStats, fit_stats
from movavg.schema import (
    SERIES,
    SPLIT,
    SPLITS,
    TIMESTAMP,
    Frequency,
    GapReport,
    NormalizeResult,
    UnusableSeries,
    WindowSpec,
)
from movavg.storage import atomic_write_json, frame_hash

HOLIDAY_DAYS = 2  # up to this many missing weekdays in a row are holidays, not gaps


def choose_series(
    available: dict[str, str], wanted: str | list[str] | None, incoming: Path = Path("<data-dir>/incoming")
) -> tuple[list[str], list[str]]:
    """(series to model, requested ids that are not in the data) from the ingested series and the filter.

    Raises ValueError saying what to do when nothing was ingested or the filter matches no series.
    """
    if not available:
        raise ValueError(
            f"no data ingested yet: put CSV or Parquet files into {incoming}/ (or run `movavg demo`); "
            "files modified in the last ingest.settle_seconds wait for the next run"
        )
    if wanted is None:
        return sorted(available), []
    requested = [wanted] if isinstance(wanted, str) else list(wanted)
    chosen = [series for series in requested if series in available]
    if not chosen:
        shown = ", ".join(sorted(available)[:10]) + (" ..." if len(available) > 10 else "")
        raise ValueError(f"normalize.series matches no ingested series ({', '.join(requested)}); available: {shown}")
    return chosen, [series for series in requested if series not in available]


def select_series(raw: pd.DataFrame, series: str) -> pd.DataFrame:
    """Rows of one series sorted by time."""
    return raw[raw[SERIES] == series].sort_values(TIMESTAMP, ignore_index=True)


def find_gaps(timestamps: pd.Series) -> tuple[Frequency, int, pd.Timedelta]:
    """(the series' frequency, number of gaps, largest step) of a sorted time index.

    A gap is a step that skips at least one step of the series' calendar (`movavg.frequency.gap_steps`; a fixed
    step: longer than 1.5x the median one). Business days count only holes of more than HOLIDAY_DAYS missing
    weekdays, so weekends and holidays are not gaps.
    """
    frequency = infer_frequency(timestamps)
    if len(timestamps) < 2:
        return frequency, 0, pd.Timedelta(0)
    missing = gap_steps(timestamps, frequency)
    allowed = HOLIDAY_DAYS if frequency.kind == "business-daily" else 0
    return frequency, int((missing > allowed).sum()), pd.Timedelta(timestamps.diff().max())


def fill_gaps(series: pd.DataFrame, columns: list[str], method: str) -> pd.DataFrame:
    """Resample one series to its calendar (`find_gaps`' frequency: business days, month starts, its fixed step,
    ...); new rows get values by forward fill or time interpolation. An irregular series is left as it is."""
    frequency, gaps, _ = find_gaps(series[TIMESTAMP])
    if method == "none" or gaps == 0 or frequency.kind == "irregular":
        return series
    indexed = series.set_index(TIMESTAMP)
    grid = pd.date_range(indexed.index[0], indexed.index[-1], freq=step_offset(frequency))
    filled = indexed.reindex(indexed.index.union(grid))
    filled[columns] = filled[columns].ffill() if method == "ffill" else filled[columns].interpolate(method="time")
    filled[SERIES] = series[SERIES].iloc[0]
    return filled.loc[grid].rename_axis(TIMESTAMP).reset_index()


def split_labels(n: int, config: NormalizeConfig) -> np.ndarray:
    """Chronological labels ('train' | 'val' | 'test') for n rows."""
    train_end = round(n * config.train_fraction)
    val_end = round(n * (config.train_fraction + config.val_fraction))
    labels = np.empty(n, dtype=object)
    labels[:train_end], labels[train_end:val_end], labels[val_end:] = SPLITS
    return labels


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
    for index, name in enumerate(z_columns(columns)):
        frame[name] = normalized[:, index]
    return frame, stats


def z_columns(columns: list[str]) -> list[str]:
    """Names of the normalized copies of `columns`."""
    return [f"{column}__z" for column in columns]


def check_usable(series: pd.DataFrame, series_id: str, target: str) -> None:
    """Raise UnusableSeries when a series holds nothing to forecast."""
    if series.empty:
        raise UnusableSeries(f"no rows of series {series_id!r} were ingested")
    if series[target].nunique() == 1:
        raise UnusableSeries(f"constant ({target} is always {series[target].iloc[0]:g}): nothing to forecast")


@dataclass
class PreparedSeries:
    """One series in memory, ready for a model: what the normalize stage writes, plus (once located by
    `movavg.windowing.locate_windows`) where its windows lie.

    frame: n rows sorted by time: `timestamp`, `series_id`, the columns (original units), `split` and the
    normalized `<column>__z` copies; gaps filled as configured.
    """

    series: str
    frame: pd.DataFrame
    columns: list[str]
    stats: ScalerStats
    gaps: GapReport | None = None  # what normalize found (None for a backtest fold's slice)
    spec: WindowSpec | None = None
    bounds: pd.DataFrame | None = None  # `movavg.windowing.split_bounds`' table

    @property
    def rows(self) -> dict[str, int]:
        """Rows per split."""
        counts = self.frame[SPLIT].value_counts()
        return {split: int(counts.get(split, 0)) for split in SPLITS}


def prepare_series(raw: pd.DataFrame, series_id: str, columns: list[str], config: NormalizeConfig) -> PreparedSeries:
    """One series of `raw` (rows of one or more series: `series_id`, `timestamp`, the columns) split and
    z-scored with its train-slice statistics. Raises UnusableSeries for a series that cannot be modelled."""
    series = select_series(raw, series_id)
    check_usable(series, series_id, columns[0])
    frame, stats = normalize_series(series, columns, config)
    frequency, gaps, largest = find_gaps(series[TIMESTAMP])
    report = GapReport(
        step=describe_frequency(frequency),
        gaps=gaps,
        largest=human_duration(largest),
        filled_rows=len(frame) - len(series),
        frequency=frequency,
    )
    return PreparedSeries(series=series_id, frame=frame, columns=columns, stats=stats, gaps=report)


def normalize_and_save(
    raw_dir: Path, series_id: str, columns: list[str], config: NormalizeConfig, out_dir: Path
) -> NormalizeResult:
    """Read one series from the raw store, prepare it (`prepare_series`) and write `series.parquet` +
    `stats.json` into `out_dir` atomically. Raises UnusableSeries for a series that cannot be modelled."""
    prepared = prepare_series(read_raw(raw_dir, series_id), series_id, columns, config)
    with stage_output(out_dir) as tmp:
        prepared.frame.to_parquet(tmp / "series.parquet", index=False)
        atomic_write_json(tmp / "stats.json", prepared.stats.model_dump())
    return NormalizeResult(
        path=str(out_dir / "series.parquet"),
        content_hash=frame_hash(prepared.frame),
        series=str(prepared.frame[SERIES].iloc[0]),
        columns=columns,
        stats=prepared.stats,
        rows=prepared.rows,
        gaps=prepared.gaps,  # type: ignore[arg-type]  # prepare_series always reports them
    )
