"""The raw store: validate new files from `incoming/`, append good rows to the immutable raw Parquet dataset.

Layout under the data dir::

    incoming/      users drop CSV or Parquet files here
    raw/           the raw dataset, partitioned by series (see `movavg.dataset`); parts are never rewritten,
                   only merged by compaction, which keeps every row
    processed/     source files moved here once ingested (also partly bad ones: their good rows are in raw/)
    quarantine/    <name>.reason.json for every file with a problem; whole bad files beside it;
                   <name>.rows.csv with the bad rows of a partly bad file
    ledger.jsonl   one line per handled file: name, sha256, outcome, row counts, reason

Every input row ends up exactly once in raw/ or in quarantine/. Rows are numbered from 1, the first
data row after a CSV header being row 1. A later file wins for a (series_id, timestamp) that appears twice
(policy `latest`); the earlier value stays in its part file. Checking a new file reads only the partitions
of the series it holds, and of those only the parts overlapping its time range (conflicts) and the newest
rows (outliers): the cost follows the new data, not the store.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from movavg.config import IngestConfig
from movavg.dataset import (
    OUTLIER_REFERENCE_ROWS,
    PartInfo,
    StoreIndex,
    add_part,
    begin_journal,
    combined_fingerprint,
    commit_index,
    compact_series,
    end_journal,
    has_rows,
    migrate_flat_parts,
    next_fingerprint,
    open_store,
    part_path,
    partition_problem,
    read_all,
    read_series,
    read_tail,
    remember_file,
    write_part,
)
from movavg.schema import ROW, SERIES, TIMESTAMP, FileReport, IngestResult
from movavg.storage import (
    append_jsonl,
    atomic_write_json,
    commit_file,
    failpoint,
    read_jsonl,
    remove_stale_temp,
    safe_name,
    sha256_file,
    temp_path,
    utc_now,
)

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
    repeated = sorted({name for name in names if names.count(name) > 1}) if len(names) != len(set(names)) else []
    if repeated:
        raise ValidationError(
            "duplicate-columns",
            f"column name(s) {repeated} appear more than once; movavg cannot "
            "tell which to use: rename or drop the copies",
        )


def read_chunks(path: Path, config: IngestConfig) -> Iterator[pd.DataFrame]:
    """The file's rows as DataFrames with a 1-based `row` column; chunked when the file is large.

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


def parse_timestamps(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """UTC timestamps and a per-row problem ('' when fine): unparseable, missing, or naive among aware."""
    if pd.api.types.is_datetime64_any_dtype(column):
        parsed = column.dt.tz_localize("UTC") if column.dt.tz is None else column.dt.tz_convert("UTC")
        return parsed, pd.Series(np.where(parsed.isna(), "missing timestamp", ""), index=column.index)
    text = column.astype(str).str.strip()
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    problem = pd.Series("", index=column.index, dtype=object)
    problem[text.eq("") | text.str.lower().isin(["nan", "nat", "none", "null"])] = "missing timestamp"
    problem[parsed.isna() & problem.eq("")] = "not a timestamp"
    aware = text.str.contains(TZ_SUFFIX)
    if aware.any() and (~aware & problem.eq("")).any():
        problem[~aware & problem.eq("")] = "timestamp without a timezone in a file whose other timestamps have one"
    return parsed, problem


def parse_numbers(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """float64 values and a per-row problem: missing, not a number, or not finite."""
    text = column.astype(str).str.strip()
    values = pd.to_numeric(column, errors="coerce").astype("float64")
    problem = pd.Series("", index=column.index, dtype=object)
    problem[values.isna()] = "not a number"
    problem[text.eq("") | text.str.lower().isin(["nan", "none", "null", "na", "n/a"])] = "missing value"
    problem[np.isinf(values.to_numpy())] = "not finite"
    return values, problem


def validate_rows(frame: pd.DataFrame, config: IngestConfig) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Split a chunk (with `row`) into canonical good rows and bad rows with reasons.

    Returns (good, bad, notes). good: `row`, `series_id`, `timestamp` (UTC), the model columns, sorted,
    one row per (series, timestamp). bad: the original cells plus `column`, `rule`, `message`.
    """
    check_columns(frame, config)
    problems: list[pd.DataFrame] = []
    good = pd.DataFrame({ROW: frame[ROW].to_numpy()}, index=frame.index)
    good[TIMESTAMP], problem = parse_timestamps(frame[config.timestamp_column])
    problems.append(_problems(frame, problem, config.timestamp_column, "timestamp"))
    problems.append(
        _problems(frame, _time_range_problems(good[TIMESTAMP], config), config.timestamp_column, "timestamp-range")
    )
    sid = config.series_id_column
    good[SERIES] = frame[sid].astype(str).str.strip() if sid in frame.columns else config.default_series_id
    if sid in frame.columns:
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
    return good.reset_index(drop=True), pd.concat([bad, duplicates]).sort_values(ROW), notes


def _time_range_problems(stamps: pd.Series, config: IngestConfig) -> np.ndarray:
    """Timestamps outside ingest.earliest_timestamp .. ingest.latest_timestamp (placeholders such as 9999-12-31,
    or values no plot or nanosecond clock can hold)."""
    earliest, latest = config.timestamp_range
    problem = np.full(len(stamps), "", dtype=object)
    problem[(stamps < pd.Timestamp(earliest)).to_numpy()] = f"before ingest.earliest_timestamp {earliest:%Y-%m-%d}"
    problem[(stamps > pd.Timestamp(latest)).to_numpy()] = f"after ingest.latest_timestamp {latest:%Y-%m-%d}"
    return problem


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
    return frame[mask].assign(column=column, rule=rule, message=np.asarray(problem)[mask])


def _dedupe_and_sort(good: pd.DataFrame, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Keep the last row of each (series, timestamp); the others become bad rows naming the kept one."""
    notes = []
    if not good.sort_values([SERIES, TIMESTAMP], kind="stable")[ROW].equals(good[ROW]) and len(good) > 1:
        notes.append("rows were out of time order; sorted")
    dropped = good.duplicated([SERIES, TIMESTAMP], keep="last")
    kept_row = good.groupby([SERIES, TIMESTAMP])[ROW].transform("last")
    duplicates = frame.loc[good.index[dropped]].assign(
        column=TIMESTAMP,
        rule="duplicate-timestamp",
        message=[f"duplicate timestamp; row {k} kept" for k in kept_row[dropped]],
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
        return good, good.iloc[0:0].assign(message=pd.Series(dtype=object))
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
    return good[~outlier], good[outlier].assign(message=messages)


def read_valid(path: Path, config: IngestConfig) -> pd.DataFrame:
    """Read and validate a whole file strictly (for `movavg predict`): any bad row is an error."""
    frames = []
    for chunk in read_chunks(path, config):
        good, bad, _ = validate_rows(chunk, config)
        if len(bad):
            first = bad.iloc[0]
            raise ValidationError(
                first["rule"],
                f"{len(bad)} bad row(s); first: row {first[ROW]}, column {first['column']!r}: {first['message']}",
            )
        frames.append(good.drop(columns=ROW))
    if not frames or not sum(map(len, frames)):
        raise ValidationError("header-only", "the file has a header but no rows")
    return pd.concat(frames, ignore_index=True)


# ---- the raw dataset -------------------------------------------------------------------------


def read_raw(raw_dir: Path, series: str | None = None) -> pd.DataFrame:
    """Ingested rows (of one series, or all), deduplicated on (series_id, timestamp) with the later file
    winning, sorted. With `series`, only that series' partition is read."""
    return read_all(raw_dir) if series is None else read_series(raw_dir, series)


DATA_FOLDERS = {
    "incoming": "the files to ingest",
    "raw": "the ingested data",
    "processed": "the ingested files",
    "quarantine": "the bad files and rows",
    "cache": "the stage outputs",
}


def folder_problem(data_dir: Path) -> str | None:
    """What stops the data folder being used (one of its folders is a file), in one line; None when nothing does."""
    for name, holds in DATA_FOLDERS.items():
        if (data_dir / name).exists() and not (data_dir / name).is_dir():
            return f"{data_dir / name} is a file, not a folder: move it aside; movavg keeps {holds} in {name}/"
    return None


def has_data(data_dir: Path) -> bool:
    """True once anything was ingested into `<data_dir>/raw/`."""
    return has_rows(data_dir / "raw")


def existing_rows(
    raw_dir: Path, good: pd.DataFrame, index: StoreIndex, target: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What a chunk's good rows are checked against, per series they hold: (stored rows inside their time
    range, for conflicts; the series' newest stored rows, for the outlier reference)."""
    overlapping, newest = [], []
    for series, rows in good.groupby(SERIES, sort=False):
        if str(series) not in index.series:
            continue
        overlapping.append(read_series(raw_dir, str(series), index, rows[TIMESTAMP].min(), rows[TIMESTAMP].max()))
        newest.append(
            read_tail(raw_dir, str(series), OUTLIER_REFERENCE_ROWS, index)[[target]].assign(**{SERIES: series})
        )
    empty = pd.DataFrame(
        {
            SERIES: pd.Series(dtype=str),
            TIMESTAMP: pd.Series(dtype="datetime64[ns, UTC]"),
            target: pd.Series(dtype="float64"),
        }
    )
    return (
        pd.concat(overlapping, ignore_index=True) if overlapping else empty,
        pd.concat(newest, ignore_index=True) if newest else empty,
    )


# ---- one file --------------------------------------------------------------------------------


def pending_files(incoming: Path, settle_seconds: float) -> tuple[list[Path], list[Path]]:
    """(ready, waiting): files in `incoming/` oldest first; files modified within `settle_seconds`,
    hidden files and names of partial downloads are waiting (still being written)."""
    if not incoming.exists():
        return [], []
    now = time.time()
    ready, waiting = [], []
    for path in sorted(incoming.iterdir(), key=lambda p: (p.lstat().st_mtime, p.name)):
        mode = path.lstat().st_mode
        if stat.S_ISDIR(mode):
            continue
        fresh = stat.S_ISREG(mode) and now - path.lstat().st_mtime < settle_seconds
        (waiting if partial_download(path) or fresh else ready).append(path)
    return ready, waiting


def partial_download(path: Path) -> bool:
    """A name that says the file is still arriving: hidden, or ending like a partial download."""
    return path.name.startswith(".") or path.suffix.lower() in IN_PROGRESS_SUFFIXES


def settled_files(incoming: Path, settle_seconds: float, max_wait: float) -> tuple[list[Path], dict[str, str]]:
    """The files ready to ingest, after waiting (up to `max_wait` seconds) for files modified within
    `settle_seconds` to settle; and {name: why it is left in incoming/} for the others."""
    deadline = time.monotonic() + max_wait
    while True:
        ready, waiting = pending_files(incoming, settle_seconds)
        fresh = [path for path in waiting if not partial_download(path)]
        left = deadline - time.monotonic()
        if not fresh or left <= 0:
            break
        newest = max(path.lstat().st_mtime for path in fresh)
        time.sleep(min(max(newest + settle_seconds - time.time(), 0.05), left))
    return ready, {path.name: waiting_reason(path, settle_seconds) for path in waiting}


def waiting_reason(path: Path, settle_seconds: float) -> str:
    """Why a file stays in `incoming/`, and when it is picked up."""
    if partial_download(path):
        return "named like a partial download (hidden, or *.part, *.tmp, ...): rename it once complete"
    age = time.time() - path.lstat().st_mtime
    return (
        f"still being written (modified {max(age, 0):.1f} s ago, within ingest.settle_seconds = "
        f"{settle_seconds:g}); picked up by the next run once unchanged that long"
    )


def ingest_file(
    path: Path,
    digest: str,
    raw_dir: Path,
    index: StoreIndex,
    config: IngestConfig,
) -> tuple[FileReport, pd.DataFrame, list[tuple[str, PartInfo]]]:
    """Validate one file chunk by chunk and write its good rows into their series' partitions, one part per
    series (and chunk), under sequence number `index.next_seq`; the parts stay invisible until the caller
    commits the index listing them.

    Returns the report, the bad rows (empty when none) and the written parts. Raises ValidationError for a
    whole-file problem (after removing any part it wrote).
    """
    report = FileReport(file=path.name, sha256=digest, outcome="ingested")
    bad_rows: list[pd.DataFrame] = []
    written: list[tuple[str, PartInfo]] = []
    fingerprints = index.fingerprints()  # each series' fingerprint as its parts of this file roll it forward
    begin_journal(raw_dir, {"op": "ingest", "seq": index.next_seq, "digest": digest, "file": path.name})
    try:
        for number, chunk in enumerate(read_chunks(path, config)):
            good, bad, notes = validate_rows(chunk, config)
            overlapping, newest = existing_rows(raw_dir, good, index, config.target_column)
            good, conflicts, conflict_notes = split_conflicts(good, overlapping, config)
            good, outliers = split_outliers(good, newest, config)
            bad_rows.append(
                pd.concat(
                    [
                        bad,
                        _rejected(
                            chunk,
                            conflicts,
                            config.target_column,
                            "conflict",
                            "already ingested with another value (policy first)",
                        ),
                        _rejected(chunk, outliers, config.target_column, "outlier"),
                    ]
                )
            )
            report.rows_in = (report.rows_in or 0) + len(chunk)
            report.notes += notes + conflict_notes
            stored = overlapping.groupby(SERIES)[TIMESTAMP].agg(set)
            for series, rows in good.drop(columns=ROW).groupby(SERIES, sort=True):
                new = int((~rows[TIMESTAMP].isin(stored.get(series, set()))).sum())
                previous = fingerprints.get(str(series), "")
                written.append(
                    (str(series), write_part(raw_dir, str(series), rows, index.next_seq, digest, number, new, previous))
                )
                fingerprints[str(series)] = next_fingerprint(previous, index.next_seq, digest)
            report.rows_ingested += len(good)
        if report.rows_in == 0:
            raise ValidationError("header-only", "the file has a header but no rows")
    except BaseException:
        for series, part in written:
            part_path(raw_dir, series, part.name).unlink(missing_ok=True)
        end_journal(raw_dir)
        raise
    failpoint("ingest:after-part")
    bad = pd.concat(bad_rows) if bad_rows else pd.DataFrame()
    report.rows_quarantined = len(bad)
    if len(bad):
        report.outcome = "partial" if report.rows_ingested else "quarantined"
        report.rule = ",".join(sorted(set(bad["rule"])))
        report.reason = f"{len(bad)} of {report.rows_in} row(s) rejected ({report.rule}); see {path.name}.rows.csv"
    return report, bad, written


def _rejected(
    chunk: pd.DataFrame, rejected: pd.DataFrame, column: str, rule: str, message: str | None = None
) -> pd.DataFrame:
    """The original cells of the `rejected` rows as bad rows; their message is `message` or theirs."""
    rows = chunk[chunk[ROW].isin(rejected[ROW])]
    text = message if message is not None else rows[ROW].map(dict(zip(rejected[ROW], rejected["message"], strict=True)))
    return rows.assign(column=column, rule=rule, message=text)


# ---- quarantine ------------------------------------------------------------------------------


def write_reason(quarantine_dir: Path, name: str, report: FileReport, bad: pd.DataFrame) -> Path:
    """`<name>.reason.json` (file, rule, message, row problems) and, for bad rows, `<name>.rows.csv`."""
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    problems = (
        [
            {"row": int(r[ROW]), "column": r["column"], "rule": r["rule"], "message": r["message"]}
            for _, r in bad.head(MAX_PROBLEMS_IN_REASON).iterrows()
        ]
        if len(bad)
        else []
    )
    if len(bad):
        rows_path = quarantine_dir / f"{name}.rows.csv"
        columns = [ROW, "column", "rule", "message"] + [
            c for c in bad.columns if c not in {ROW, "column", "rule", "message"}
        ]
        bad[columns].to_csv(temp := temp_path(rows_path), index=False)
        commit_file(temp, rows_path)
    record = {
        "file": report.file,
        "outcome": report.outcome,
        "rule": report.rule,
        "message": report.reason,
        "rows_in": report.rows_in,
        "rows_ingested": report.rows_ingested,
        "rows_quarantined": report.rows_quarantined,
        "problems": problems,
        "problems_truncated": len(bad) > MAX_PROBLEMS_IN_REASON,
        "notes": report.notes,
        "at": utc_now(),
    }
    path = quarantine_dir / f"{name}.reason.json"
    atomic_write_json(path, record)
    return path


def _free_name(path: Path) -> Path:
    """`path`, or `path` with a numeric suffix if that name is taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate, counter = path, 1
    while candidate.exists() or candidate.is_symlink():
        candidate = path.with_name(f"{path.stem}.{counter}{path.suffix}")
        counter += 1
    return candidate


# ---- a pass over incoming/ -------------------------------------------------------------------


def ingest_files(data_dir: Path, config: IngestConfig) -> IngestResult:
    """Ingest every ready file of `<data_dir>/incoming/`; return what happened and the fingerprints.

    Call it under the run lock (`movavg.lock.run_lock`); it first removes temp files of crashed runs and
    moves a store of the earlier unpartitioned layout into partitions.
    """
    raw_dir, ledger_path = data_dir / "raw", data_dir / "ledger.jsonl"
    for folder in (raw_dir, data_dir / "cache", data_dir / "quarantine", data_dir / "processed"):
        remove_stale_temp(folder, depth=1 if folder == raw_dir else 2)
    migrate_flat_parts(raw_dir)
    index, store_notes = open_store(raw_dir)
    seen = {entry["sha256"] for entry in read_jsonl(ledger_path) if entry.get("rows_ingested")}
    seen.update(index.recent_files)
    ready, waiting = settled_files(data_dir / "incoming", config.settle_seconds, config.max_wait_seconds)
    result = IngestResult(
        fingerprint="", raw_dir=str(raw_dir), waiting=list(waiting), waiting_why=waiting, warnings=store_notes
    )
    for path in ready:
        report = _handle(path, data_dir, raw_dir, seen, index, config)
        if report.rows_ingested:
            seen.add(report.sha256)
            result.new_files.append(report.file)
            result.new_rows += report.rows_ingested
        if report.outcome in {"quarantined", "partial"}:
            result.quarantined.append(report.file)
        entry = {**report.__dict__, "at": utc_now()}
        append_jsonl(ledger_path, entry)
        result.files.append(entry)
    result.series = index.fingerprints()
    result.fingerprint = combined_fingerprint(result.series)
    result.total_rows = sum(entry.rows for entry in index.series.values())
    return result


def _handle(
    path: Path, data_dir: Path, raw_dir: Path, seen: set[str], index: StoreIndex, config: IngestConfig
) -> FileReport:
    """Ingest or quarantine one file and move it out of `incoming/`."""
    name = safe_name(path.name)
    if path.is_symlink():
        report = FileReport(
            file=path.name,
            sha256="",
            outcome="quarantined",
            rows_in=None,
            rule="symlink",
            reason="symbolic links are not followed: copy the file itself into incoming/",
        )
        return _quarantine_whole(path, data_dir, name, report)
    if not stat.S_ISREG(path.lstat().st_mode):
        kind = _file_kind(path.lstat().st_mode)
        report = FileReport(
            file=path.name,
            sha256="",
            outcome="quarantined",
            rows_in=None,
            rule="not-a-file",
            reason=f"{kind}, not a regular file: never opened; copy the data itself into incoming/",
        )
        return _quarantine_whole(path, data_dir, name, report)
    digest = sha256_file(path)
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        report = FileReport(
            file=path.name,
            sha256=digest,
            outcome="quarantined",
            rows_in=None,
            rule="unsupported-type",
            reason=f"unsupported file type {path.suffix or '(none)'!r}: use .csv or .parquet",
        )
        return _quarantine_whole(path, data_dir, name, report)
    if digest in seen:
        report = FileReport(
            file=path.name,
            sha256=digest,
            outcome="duplicate",
            rows_in=None,
            reason="same content as a file already ingested",
        )
        shutil.move(str(path), _free_name(data_dir / "processed" / name))
        return report
    try:
        report, bad, written = ingest_file(path, digest, raw_dir, index, config)
    except ValidationError as error:
        report = FileReport(
            file=path.name, sha256=digest, outcome="quarantined", rows_in=None, rule=error.rule, reason=str(error)
        )
        return _quarantine_whole(path, data_dir, name, report)
    if written:
        _commit_parts(raw_dir, index, written, digest, config.compact_after_parts)
    if report.outcome == "quarantined":
        return _quarantine_whole(path, data_dir, name, report, bad)
    if report.outcome == "partial":
        write_reason(data_dir / "quarantine", name, report, bad)
    shutil.move(str(path), _free_name(data_dir / "processed" / name))
    return report


def _commit_parts(
    raw_dir: Path, index: StoreIndex, written: list[tuple[str, PartInfo]], digest: str, compact_after_parts: int
) -> None:
    """Make one file's parts visible (the index commit), then compact the series that need it."""
    for series, part in written:
        add_part(index, series, part, digest)
    index.next_seq += 1
    remember_file(index, digest)
    commit_index(raw_dir, index)
    end_journal(raw_dir)
    for series in sorted({series for series, _ in written}):
        compact_series(raw_dir, series, index, compact_after_parts)


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    return next((name for test, name in kinds if test(mode)), "a special file")


def _quarantine_whole(
    path: Path, data_dir: Path, name: str, report: FileReport, bad: pd.DataFrame | None = None
) -> FileReport:
    target = _free_name(data_dir / "quarantine" / name)
    if stat.S_ISREG(path.lstat().st_mode):
        shutil.move(str(path), target)
    else:  # a rename never opens it (a copy across file systems would block on a FIFO)
        os.replace(path, target)
    write_reason(data_dir / "quarantine", target.name, report, bad if bad is not None else pd.DataFrame())
    return report
