"""Validation: the rules a file and its rows must pass before they reach the raw store.

A whole file is refused (`ValidationError`, its `rule` named) when it cannot be read as the expected table;
otherwise each row is checked and the bad ones split off with their rule and reason. Rows are numbered from
1, the first data row after a CSV header being row 1. A later file wins for a (series_id, timestamp) that
appears twice (policy `latest`); the earlier value stays in its part file. Checking a new file reads only the
partitions of the series it holds, and of those only the parts overlapping its time range (conflicts) and the
newest rows (outliers): the cost follows the new data, not the store.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from movavg.config import PANDAS_RANGE, IngestConfig
from movavg.dates import parse_dates
from movavg.rawstore import (
    partition_problem,
)
from movavg.schema import BAD_COLUMN, BAD_MESSAGE, BAD_RULE, ROW, SERIES, TIMESTAMP

SUPPORTED_SUFFIXES = {".csv", ".parquet"}
IN_PROGRESS_SUFFIXES = {".tmp", ".part", ".partial", ".crdownload", ".download", ".swp"}
TZ_SUFFIX = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)
MAX_PROBLEMS_IN_REASON = 200
HEADER_BYTES = 1 << 20  # a CSV header line longer than this is refused before it is parsed
DECODE_CHUNK = 1 << 20
FLOAT32_MAX = float(np.finfo(np.float32).max)


class ValidationError(ValueError):
    """A whole file that cannot be ingested; `rule` names the check, the message says what to do."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


# ---- reading ---------------------------------------------------------------------------------


def sniff_csv(path: Path, max_columns: int) -> None:
    """Reject binary files, other delimiters, text that is not UTF-8 and headers wider than `max_columns` or with
    a repeated name before pandas parses anything (so a hostile header costs one bounded read)."""
    with path.open("rb") as handle:
        head = handle.read(HEADER_BYTES)
    if b"\x00" in head:
        raise ValidationError("not-csv", "binary content (NUL bytes): not a CSV file")
    check_utf8(path)
    text = head.decode("utf-8", errors="ignore")  # a character cut at the read's end is dropped, not judged
    if not text.strip():
        raise ValidationError("empty-file", "the file is empty")
    if "\n" not in text and "\r" not in text and path.stat().st_size > HEADER_BYTES:
        raise ValidationError(
            "too-many-columns",
            f"the header line is longer than {HEADER_BYTES // 2**20} MiB: "
            "not a table movavg can read; split it or drop columns",
        )
    first_line = text.lstrip("\ufeff").splitlines()[0]
    if "," not in first_line:
        for delimiter, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            if delimiter in first_line:
                raise ValidationError(
                    "wrong-delimiter",
                    f"the header is separated by {name}; movavg reads comma-separated CSV: re-export it with commas",
                )
    check_header([name.strip() for name in next(csv.reader([first_line]), [])], max_columns)


def check_utf8(path: Path) -> None:
    """Decode the whole file incrementally (a character split across two reads is joined, not refused)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(DECODE_CHUNK):
                decoder.decode(chunk)
                offset += len(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as error:
            raise ValidationError(
                "not-csv", f"not UTF-8 text (byte {offset + error.start + 1}): not a CSV file (save it as UTF-8 CSV)"
            ) from None


def check_header(names: list[str], max_columns: int) -> None:
    """A header with more than `max_columns` columns, or a name twice, is refused whole."""
    if len(names) > max_columns:
        raise ValidationError(
            "too-many-columns",
            f"the header has {len(names):,} columns, more than "
            f"ingest.max_columns = {max_columns}: drop the columns movavg does not use",
        )
    reserved = [name for name in names if str(name).startswith("_movavg_")]
    if reserved:
        raise ValidationError(
            "reserved-columns", f"column name(s) {reserved} are reserved for movavg's own use: rename them"
        )
    repeated = sorted({name for name in names if names.count(name) > 1}) if len(names) != len(set(names)) else []
    if repeated:
        raise ValidationError(
            "duplicate-columns",
            f"column name(s) {repeated} appear more than once; movavg cannot "
            "tell which to use: rename or drop the copies",
        )


def read_chunks(path: Path, config: IngestConfig) -> Iterator[pd.DataFrame]:
    """The file's rows as DataFrames with a 1-based ROW column; chunked when the file is large.

    CSV cells are read as text so nothing is lost before validation; Parquet keeps its types.
    """
    if path.stat().st_size == 0:
        raise ValidationError("empty-file", "the file is empty (0 bytes)")
    chunk_rows = config.chunk_rows if path.stat().st_size > config.max_file_bytes else None
    first = 1
    for chunk in _raw_chunks(path, chunk_rows, config.max_columns):
        chunk = chunk.reset_index(drop=True)
        chunk.insert(0, ROW, np.arange(first, first + len(chunk)))
        first += len(chunk)
        yield chunk


def _raw_chunks(path: Path, chunk_rows: int | None, max_columns: int) -> Iterator[pd.DataFrame]:
    try:
        if path.suffix.lower() == ".parquet":
            check_header(pq.read_schema(path).names, max_columns)
            parquet = pq.ParquetFile(path)
            if chunk_rows is None:
                yield parquet.read().to_pandas()
            else:
                for batch in parquet.iter_batches(batch_size=chunk_rows):
                    yield batch.to_pandas()
            return
        sniff_csv(path, max_columns)
        if chunk_rows is None:
            yield pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=True)
        else:
            yield from pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=True, chunksize=chunk_rows)
    except ValidationError:
        raise
    except pd.errors.EmptyDataError:
        raise ValidationError("empty-file", "the file is empty") from None
    except Exception as error:  # truncated Parquet, garbage, ragged CSV
        kind = path.suffix.lstrip(".").upper()
        raise ValidationError(
            "unreadable", f"cannot read the file as {kind}: {type(error).__name__}: {error}"
        ) from None


# ---- validating ------------------------------------------------------------------------------


def check_columns(frame: pd.DataFrame, config: IngestConfig) -> None:
    """File-level checks: required columns present, at least one row."""
    required = [config.timestamp_column, *config.model_columns]
    missing = [column for column in required if column not in frame.columns]
    if missing:
        found = [column for column in frame.columns if column != ROW]
        raise ValidationError(
            "missing-columns",
            f"missing column(s) {missing}; found {found}. Rename them or set "
            "ingest.timestamp_column / ingest.target_column / ingest.feature_columns.",
        )


OUT_OF_PANDAS = "outside the timestamps pandas represents in nanoseconds (1677-09-22 .. 2262-04-11), e.g. a placeholder"


def parse_timestamps(column: pd.Series, timestamp_format: str | None = None) -> tuple[pd.Series, pd.Series, list[str]]:
    """UTC timestamps, a per-row problem ('' when fine: unparseable, missing, ambiguous day and month, or naive
    among aware) and notes on how the file's dates were read (`movavg.dates`)."""
    if pd.api.types.is_datetime64_any_dtype(column):
        parsed = column.dt.tz_localize("UTC") if column.dt.tz is None else column.dt.tz_convert("UTC")
        return parsed, pd.Series(np.where(parsed.isna(), "missing timestamp", ""), index=column.index), []
    text = column.astype(str).str.strip()
    missing = column.isna() | text.eq("") | text.str.lower().isin(["nan", "nat", "none", "null"])
    parsed, problem, notes = parse_dates(text.where(~missing, ""), timestamp_format)
    problem[missing] = "missing timestamp"
    problem[parsed.isna() & problem.eq("")] = "not a timestamp"
    aware = text.str.contains(TZ_SUFFIX, na=False)
    if aware.any() and (~aware & problem.eq("")).any():
        problem[~aware & problem.eq("")] = "timestamp without a timezone in a file whose other timestamps have one"
    return parsed, problem, notes


def parse_numbers(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """float64 values and a per-row problem: missing, not a number, or not finite."""
    text = column.astype(str).str.strip()
    values = pd.to_numeric(column, errors="coerce").astype("float64")
    problem = pd.Series("", index=column.index, dtype=object)
    problem[values.isna()] = "not a number"
    problem[column.isna() | text.eq("") | text.str.lower().isin(["nan", "none", "null", "na", "n/a"])] = "missing value"
    problem[np.isinf(values.to_numpy())] = "not finite"
    return values, problem


def validate_rows(frame: pd.DataFrame, config: IngestConfig) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Split a chunk (with ROW) into canonical good rows and bad rows with reasons.

    Returns (good, bad, notes). good: ROW, `series_id`, `timestamp` (UTC), the model columns, sorted,
    one row per (series, timestamp). bad: the original cells plus BAD_COLUMN, BAD_RULE, BAD_MESSAGE.
    """
    check_columns(frame, config)
    problems: list[pd.DataFrame] = []
    good = pd.DataFrame({ROW: frame[ROW].to_numpy()}, index=frame.index)
    good[TIMESTAMP], problem, date_notes = parse_timestamps(frame[config.timestamp_column], config.timestamp_format)
    problems.append(_problems(frame, problem, config.timestamp_column, "timestamp"))
    problems.append(
        _problems(frame, _time_range_problems(good[TIMESTAMP], config), config.timestamp_column, "timestamp-range")
    )
    sid = config.series_id_column
    good[SERIES] = frame[sid].astype(str).fillna("").str.strip() if sid in frame.columns else config.default_series_id
    if sid in frame.columns:  # a null id (a Parquet null, an empty CSV cell) is a bad row, never a crash
        missing = np.where(good[SERIES].isin(["", "nan", "None"]), "missing series id", "")
        too_long = good[SERIES].map(partition_problem).to_numpy(dtype=object)
        problems.append(_problems(frame, np.where(missing != "", missing, too_long), sid, "series-id"))
    for column in config.model_columns:
        good[column], problem = parse_numbers(frame[column])
        problems.append(_problems(frame, problem, column, "number"))
    for column in config.model_columns:
        limits = _range_problems(good[column], config if column == config.target_column else None)
        problems.append(_problems(frame, limits, column, "out-of-range"))
    bad = pd.concat(problems).drop_duplicates(ROW) if problems else frame.iloc[0:0]
    good = good[~good[ROW].isin(bad[ROW])]
    good, duplicates, notes = _dedupe_and_sort(good, frame)
    notes = date_notes + notes
    return good.reset_index(drop=True), pd.concat([bad, duplicates]).sort_values(ROW), notes


def _time_range_problems(stamps: pd.Series, config: IngestConfig) -> np.ndarray:
    """Timestamps outside ingest.earliest_timestamp .. ingest.latest_timestamp (placeholders such as 9999-12-31,
    or values no plot or nanosecond clock can hold)."""
    earliest, latest = config.timestamp_range
    problem = np.full(len(stamps), "", dtype=object)
    problem[(stamps < pd.Timestamp(earliest)).to_numpy()] = f"before ingest.earliest_timestamp {earliest:%Y-%m-%d}"
    problem[(stamps > pd.Timestamp(latest)).to_numpy()] = f"after ingest.latest_timestamp {latest:%Y-%m-%d}"
    beyond = ((stamps < pd.Timestamp(PANDAS_RANGE[0])) | (stamps > pd.Timestamp(PANDAS_RANGE[1]))).to_numpy()
    problem[beyond & (problem != "")] = OUT_OF_PANDAS
    if config.max_future_days is not None:
        now = pd.Timestamp.now(tz="UTC")
        ahead = ((stamps - now) > pd.Timedelta(days=config.max_future_days)).to_numpy() & (problem == "")
        problem[ahead] = [
            f"{stamp:%Y-%m-%d %H:%M} is {human_ahead(stamp - now)} after it was ingested (ingest.max_future_days = "
            f"{config.max_future_days:g}; null for simulated data): a typo in the year? fix the row"
            for stamp in stamps[ahead]
        ]
    return problem


def human_ahead(delta: pd.Timedelta) -> str:
    """`97 years`, `3 days`: how far ahead of now a timestamp lies."""
    days = delta / pd.Timedelta(days=1)
    return f"{days / 365.25:.0f} years" if days >= 730 else f"{days:.0f} days"


def _range_problems(values: pd.Series, config: IngestConfig | None) -> np.ndarray:
    """Values the model cannot compute with (beyond float32) and, for the target, beyond the configured bounds."""
    problem = np.full(len(values), "", dtype=object)
    problem[(values.abs() > FLOAT32_MAX).to_numpy()] = (
        f"beyond the float32 range the model computes in (|x| > {FLOAT32_MAX:.3g})"
    )
    if config is None:
        return problem
    if config.min_value is not None:
        problem[(values < config.min_value).to_numpy()] = f"below ingest.min_value {config.min_value:g}"
    if config.max_value is not None:
        problem[(values > config.max_value).to_numpy()] = f"above ingest.max_value {config.max_value:g}"
    return problem


def _problems(frame: pd.DataFrame, problem: Any, column: str, rule: str) -> pd.DataFrame:
    mask = np.asarray(problem) != ""
    return frame[mask].assign(**{BAD_COLUMN: column, BAD_RULE: rule, BAD_MESSAGE: np.asarray(problem)[mask]})


def _dedupe_and_sort(good: pd.DataFrame, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Keep the last row of each (series, timestamp); the others become bad rows naming the kept one."""
    notes = []
    if not good.sort_values([SERIES, TIMESTAMP], kind="stable")[ROW].equals(good[ROW]) and len(good) > 1:
        notes.append("rows were out of time order; sorted")
    dropped = good.duplicated([SERIES, TIMESTAMP], keep="last")
    kept_row = good.groupby([SERIES, TIMESTAMP])[ROW].transform("last")
    duplicates = frame.loc[good.index[dropped]].assign(
        **{
            BAD_COLUMN: TIMESTAMP,
            BAD_RULE: "duplicate-timestamp",
            BAD_MESSAGE: [f"duplicate timestamp; row {k} kept" for k in kept_row[dropped]],
        }
    )
    if dropped.any():
        notes.append(f"{int(dropped.sum())} duplicate timestamp(s); the last row of each was kept")
    good = good[~dropped].sort_values([SERIES, TIMESTAMP], kind="stable")
    return good, duplicates, notes


def split_conflicts(
    good: pd.DataFrame, existing: pd.DataFrame, config: IngestConfig
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Rows whose (series, timestamp) was already ingested with another target value, per policy."""
    if existing.empty or good.empty:
        return good, good.iloc[0:0], []
    target = config.target_column
    merged = good.merge(
        existing[[SERIES, TIMESTAMP, target]], on=[SERIES, TIMESTAMP], how="left", suffixes=("", "_old")
    )
    conflict = (merged[f"{target}_old"].notna() & (merged[f"{target}_old"] != merged[target])).to_numpy()
    if not conflict.any():
        return good, good.iloc[0:0], []
    if config.on_conflict == "latest":
        return (
            good,
            good.iloc[0:0],
            [
                f"{int(conflict.sum())} row(s) replace already-ingested values "
                "(policy latest; the earlier values stay in the raw history)"
            ],
        )
    return good[~conflict], good[conflict], []


def split_outliers(
    good: pd.DataFrame, existing: pd.DataFrame, config: IngestConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows whose target lies more than `ingest.outlier_mads` median absolute deviations from its series'
    median (over `existing`, the series' newest stored values, and these rows). Returns (kept, outliers with
    `message`)."""
    target = config.target_column
    if config.outlier_mads is None or good.empty:
        return good, good.iloc[0:0].assign(**{BAD_MESSAGE: pd.Series(dtype=object)})
    reference = pd.concat([existing[[SERIES, target]], good[[SERIES, target]]]) if len(existing) else good
    grouped = reference.groupby(SERIES)[target]
    median = good[SERIES].map(grouped.median())
    deviation = (reference[target] - reference[SERIES].map(grouped.median())).abs()
    by_series = deviation.groupby(reference[SERIES])
    scale = good[SERIES].map(by_series.median().where(lambda mad: mad > 0, by_series.mean()))
    distance = (good[target] - median).abs() / scale
    outlier = (scale > 0) & (distance > config.outlier_mads)
    messages = [
        f"{value:.6g} is {far:.3g} median absolute deviations from its series' median {mid:.6g} "
        f"(ingest.outlier_mads = {config.outlier_mads:g})"
        for value, far, mid in zip(good[target][outlier], distance[outlier], median[outlier], strict=True)
    ]
    return good[~outlier], good[outlier].assign(**{BAD_MESSAGE: messages})


def read_valid(path: Path, config: IngestConfig) -> pd.DataFrame:
    """Read and validate a whole file strictly (for `movavg predict`): any bad row is an error."""
    frames = []
    for chunk in read_chunks(path, config):
        good, bad, _ = validate_rows(chunk, config)
        if len(bad):
            first = bad.iloc[0]
            raise ValidationError(
                first[BAD_RULE],
                f"{len(bad)} bad row(s); first: row {first[ROW]}, column {first[BAD_COLUMN]!r}: {first[BAD_MESSAGE]}",
            )
        frames.append(good.drop(columns=ROW))
    if not frames or not sum(map(len, frames)):
        raise ValidationError("header-only", "the file has a header but no rows")
    return pd.concat(frames, ignore_index=True)
