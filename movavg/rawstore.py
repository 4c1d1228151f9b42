"""The raw store: validate new files from `incoming/`, append good rows to the immutable raw Parquet dataset.

Layout under the data dir::

    incoming/      users drop CSV or Parquet files here
    raw/           part-<seq>-<sha12>.parquet, one per ingested file, never rewritten
    processed/     source files moved here once ingested (also partly bad ones: their good rows are in raw/)
    quarantine/    <name>.reason.json for every file with a problem; whole bad files beside it;
                   <name>.rows.csv with the bad rows of a partly bad file
    ledger.jsonl   one line per handled file: name, sha256, outcome, row counts, reason

Every input row ends up exactly once in raw/ or in quarantine/. Rows are numbered from 1, the first
data row after a CSV header being row 1. Reading the raw dataset concatenates the parts in ingest
order, so a later file wins for a (series_id, timestamp) that appears twice (policy `latest`); the
earlier value stays in its part file.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from movavg.config import IngestConfig
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
    stable_hash,
    temp_path,
    utc_now,
)

SUPPORTED_SUFFIXES = {".csv", ".parquet"}
IN_PROGRESS_SUFFIXES = {".tmp", ".part", ".partial", ".crdownload", ".download", ".swp"}
BATCH = "_batch"
TZ_SUFFIX = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)
MAX_PROBLEMS_IN_REASON = 200
FLOAT32_MAX = float(np.finfo(np.float32).max)
SERIES_METADATA = b"movavg.series"  # key-value metadata of a raw part: the series ids it holds


class ValidationError(ValueError):
    """A whole file that cannot be ingested; `rule` names the check, the message says what to do."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


# ---- reading ---------------------------------------------------------------------------------


def sniff_csv(path: Path) -> None:
    """Reject binary files and files with another delimiter before pandas guesses at them."""
    head = path.open("rb").read(65536)
    if b"\x00" in head:
        raise ValidationError("not-csv", "binary content (NUL bytes): not a CSV file")
    try:
        first_line = head.decode("utf-8").splitlines()[0] if head.strip() else ""
    except UnicodeDecodeError:
        raise ValidationError("not-csv", "not UTF-8 text: not a CSV file (save it as UTF-8 CSV)") from None
    if not first_line.strip():
        raise ValidationError("empty-file", "the file is empty")
    if "," not in first_line:
        for delimiter, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            if delimiter in first_line:
                raise ValidationError("wrong-delimiter", f"the header is separated by {name}; movavg reads "
                                      "comma-separated CSV: re-export it with commas")


def read_chunks(path: Path, config: IngestConfig) -> Iterator[pd.DataFrame]:
    """The file's rows as DataFrames with a 1-based `row` column; chunked when the file is large.

    CSV cells are read as text so nothing is lost before validation; Parquet keeps its types.
    """
    if path.stat().st_size == 0:
        raise ValidationError("empty-file", "the file is empty (0 bytes)")
    chunk_rows = config.chunk_rows if path.stat().st_size > config.max_file_bytes else None
    first = 1
    for chunk in _raw_chunks(path, chunk_rows):
        chunk = chunk.reset_index(drop=True)
        chunk.insert(0, ROW, np.arange(first, first + len(chunk)))
        first += len(chunk)
        yield chunk


def _raw_chunks(path: Path, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    try:
        if path.suffix.lower() == ".parquet":
            parquet = pq.ParquetFile(path)
            if chunk_rows is None:
                yield parquet.read().to_pandas()
            else:
                for batch in parquet.iter_batches(batch_size=chunk_rows):
                    yield batch.to_pandas()
            return
        sniff_csv(path)
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
        raise ValidationError("unreadable", f"cannot read the file as {kind}: {type(error).__name__}: {error}") from None


# ---- validating ------------------------------------------------------------------------------


def check_columns(frame: pd.DataFrame, config: IngestConfig) -> None:
    """File-level checks: required columns present, at least one row."""
    required = [config.timestamp_column, *config.model_columns]
    missing = [column for column in required if column not in frame.columns]
    if missing:
        found = [column for column in frame.columns if column != ROW]
        raise ValidationError("missing-columns", f"missing column(s) {missing}; found {found}. Rename them or set "
                              "ingest.timestamp_column / ingest.target_column / ingest.feature_columns.")


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
    sid = config.series_id_column
    good[SERIES] = frame[sid].astype(str).str.strip() if sid in frame.columns else config.default_series_id
    if sid in frame.columns:
        problems.append(_problems(frame, np.where(good[SERIES].isin(["", "nan", "None"]), "missing series id", ""),
                                  sid, "series-id"))
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


def _range_problems(values: pd.Series, config: IngestConfig | None) -> np.ndarray:
    """Values the model cannot compute with (beyond float32) and, for the target, beyond the configured bounds."""
    problem = np.full(len(values), "", dtype=object)
    problem[(values.abs() > FLOAT32_MAX).to_numpy()] = f"beyond the float32 range the model computes in (|x| > {FLOAT32_MAX:.3g})"
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
        column=TIMESTAMP, rule="duplicate-timestamp",
        message=[f"duplicate timestamp; row {k} kept" for k in kept_row[dropped]])
    if dropped.any():
        notes.append(f"{int(dropped.sum())} duplicate timestamp(s); the last row of each was kept")
    good = good[~dropped].sort_values([SERIES, TIMESTAMP], kind="stable")
    return good, duplicates, notes


def split_conflicts(good: pd.DataFrame, existing: pd.DataFrame, config: IngestConfig) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Rows whose (series, timestamp) was already ingested with another target value, per policy."""
    if existing.empty or good.empty:
        return good, good.iloc[0:0], []
    target = config.target_column
    merged = good.merge(existing[[SERIES, TIMESTAMP, target]], on=[SERIES, TIMESTAMP], how="left", suffixes=("", "_old"))
    conflict = (merged[f"{target}_old"].notna() & (merged[f"{target}_old"] != merged[target])).to_numpy()
    if not conflict.any():
        return good, good.iloc[0:0], []
    if config.on_conflict == "latest":
        return good, good.iloc[0:0], [f"{int(conflict.sum())} row(s) replace already-ingested values "
                                      "(policy latest; the earlier values stay in the raw history)"]
    return good[~conflict], good[conflict], []


def split_outliers(good: pd.DataFrame, existing: pd.DataFrame, config: IngestConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows whose target lies more than `ingest.outlier_mads` median absolute deviations from its series'
    median (over the series' ingested values and these rows). Returns (kept, outliers with `message`)."""
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
    messages = [f"{value:.6g} is {far:.3g} median absolute deviations from its series' median {mid:.6g} "
                f"(ingest.outlier_mads = {config.outlier_mads:g})"
                for value, far, mid in zip(good[target][outlier], distance[outlier], median[outlier], strict=True)]
    return good[~outlier], good[outlier].assign(message=messages)


def read_valid(path: Path, config: IngestConfig) -> pd.DataFrame:
    """Read and validate a whole file strictly (for `movavg predict`): any bad row is an error."""
    frames = []
    for chunk in read_chunks(path, config):
        good, bad, _ = validate_rows(chunk, config)
        if len(bad):
            first = bad.iloc[0]
            raise ValidationError(first["rule"], f"{len(bad)} bad row(s); first: row {first[ROW]}, column "
                                  f"{first['column']!r}: {first['message']}")
        frames.append(good.drop(columns=ROW))
    if not frames or not sum(map(len, frames)):
        raise ValidationError("header-only", "the file has a header but no rows")
    return pd.concat(frames, ignore_index=True)


# ---- the raw dataset -------------------------------------------------------------------------


def raw_parts(raw_dir: Path) -> list[Path]:
    """Raw part files in ingest order."""
    return sorted(raw_dir.glob("part-*.parquet")) if raw_dir.exists() else []


def part_series(part: Path) -> list[str]:
    """The series ids a raw part holds: from its footer metadata (parts written before it was recorded
    there are read for their series column)."""
    metadata = pq.read_metadata(part).metadata or {}
    if SERIES_METADATA in metadata:
        return list(json.loads(metadata[SERIES_METADATA]))
    return sorted(pq.read_table(part, columns=[SERIES]).column(SERIES).unique().to_pylist())


def series_parts(raw_dir: Path) -> dict[str, list[str]]:
    """{series id: names of the raw parts holding its rows, in ingest order}."""
    index: dict[str, list[str]] = {}
    for part in raw_parts(raw_dir):
        for series in part_series(part):
            index.setdefault(series, []).append(part.name)
    return index


def series_fingerprints(raw_dir: Path) -> dict[str, str]:
    """{series id: fingerprint of its ingested data}: it changes when a new part holds rows of that series
    (parts are immutable and named by content hash), and only then."""
    return {series: stable_hash(parts)[:32] for series, parts in sorted(series_parts(raw_dir).items())}


def read_raw(raw_dir: Path, series: str | None = None) -> pd.DataFrame:
    """Ingested rows (of one series, or all), deduplicated on (series_id, timestamp) with the later file
    winning, sorted. With `series`, only the parts holding it are read."""
    parts = raw_parts(raw_dir)
    if series is not None:
        holding = set(series_parts(raw_dir).get(series, []))
        parts = [part for part in parts if part.name in holding]
    if not parts:
        return pd.DataFrame({SERIES: pd.Series(dtype=str), TIMESTAMP: pd.Series(dtype="datetime64[ns, UTC]")})
    rows = None if series is None else ds.field(SERIES) == series
    frames = [ds.dataset(part, format="parquet").to_table(filter=rows).to_pandas().assign(**{BATCH: batch})
              for batch, part in enumerate(parts)]
    data = pd.concat(frames, ignore_index=True).sort_values([SERIES, TIMESTAMP, BATCH], kind="stable")
    data = data.drop_duplicates([SERIES, TIMESTAMP], keep="last").drop(columns=[BATCH, ROW], errors="ignore")
    return data.reset_index(drop=True)


def has_data(data_dir: Path) -> bool:
    """True once anything was ingested into `<data_dir>/raw/`."""
    return bool(raw_parts(data_dir / "raw"))


def fingerprint(raw_dir: Path) -> str:
    """Content fingerprint of the ingested data: parts are immutable and named by content hash."""
    return stable_hash([part.name for part in raw_parts(raw_dir)])[:32]


# ---- one file --------------------------------------------------------------------------------


def pending_files(incoming: Path, settle_seconds: float) -> tuple[list[Path], list[Path]]:
    """(ready, waiting): files in `incoming/` oldest first; files modified within `settle_seconds`,
    hidden files and names of partial downloads are waiting (still being written)."""
    if not incoming.exists():
        return [], []
    now = time.time()
    ready, waiting = [], []
    for path in sorted(incoming.iterdir(), key=lambda p: (p.lstat().st_mtime, p.name)):
        if path.is_dir() and not path.is_symlink():
            continue
        in_progress = path.name.startswith(".") or path.suffix.lower() in IN_PROGRESS_SUFFIXES
        fresh = not path.is_symlink() and now - path.stat().st_mtime < settle_seconds
        (waiting if in_progress or fresh else ready).append(path)
    return ready, waiting


def ingest_file(path: Path, digest: str, raw_dir: Path, existing: pd.DataFrame, config: IngestConfig,
                sequence: int) -> tuple[FileReport, pd.DataFrame]:
    """Validate one file chunk by chunk and stream its good rows into one raw part (temp file, then rename).

    Returns the report and the bad rows (empty when none). Raises ValidationError for a whole-file problem.
    """
    report = FileReport(file=path.name, sha256=digest, outcome="ingested")
    part = raw_dir / f"part-{sequence:06d}-{digest[:12]}.parquet"
    raw_dir.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(part)
    writer: pq.ParquetWriter | None = None
    bad_rows: list[pd.DataFrame] = []
    series_ids: set[str] = set()
    try:
        for chunk in read_chunks(path, config):
            good, bad, notes = validate_rows(chunk, config)
            good, conflicts, conflict_notes = split_conflicts(good, existing, config)
            good, outliers = split_outliers(good, existing, config)
            bad = pd.concat([bad, _rejected(chunk, conflicts, config.target_column, "conflict",
                                            "already ingested with another value (policy first)"),
                             _rejected(chunk, outliers, config.target_column, "outlier")])
            report.rows_in = (report.rows_in or 0) + len(chunk)
            report.notes += notes + conflict_notes
            bad_rows.append(bad)
            if len(good):
                table = pa.Table.from_pandas(good.drop(columns=ROW), preserve_index=False)
                writer = writer or pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table.cast(writer.schema))
                report.rows_ingested += len(good)
                series_ids.update(good[SERIES].unique())
        if report.rows_in == 0:
            raise ValidationError("header-only", "the file has a header but no rows")
    finally:
        if writer is not None:
            writer.add_key_value_metadata({SERIES_METADATA: json.dumps(sorted(series_ids))})
            writer.close()
    if report.rows_ingested == 0:
        tmp.unlink(missing_ok=True)
    else:
        commit_file(tmp, part)
        failpoint("ingest:after-part")
    bad = pd.concat(bad_rows) if bad_rows else pd.DataFrame()
    report.rows_quarantined = len(bad)
    if len(bad):
        report.outcome = "partial" if report.rows_ingested else "quarantined"
        report.rule = ",".join(sorted(set(bad["rule"])))
        report.reason = f"{len(bad)} of {report.rows_in} row(s) rejected ({report.rule}); see {path.name}.rows.csv"
    return report, bad


def _rejected(chunk: pd.DataFrame, rejected: pd.DataFrame, column: str, rule: str,
              message: str | None = None) -> pd.DataFrame:
    """The original cells of the `rejected` rows as bad rows; their message is `message` or theirs."""
    rows = chunk[chunk[ROW].isin(rejected[ROW])]
    text = message if message is not None else rows[ROW].map(dict(zip(rejected[ROW], rejected["message"], strict=True)))
    return rows.assign(column=column, rule=rule, message=text)


# ---- quarantine ------------------------------------------------------------------------------


def write_reason(quarantine_dir: Path, name: str, report: FileReport, bad: pd.DataFrame) -> Path:
    """`<name>.reason.json` (file, rule, message, row problems) and, for bad rows, `<name>.rows.csv`."""
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    problems = [{"row": int(r[ROW]), "column": r["column"], "rule": r["rule"], "message": r["message"]}
                for _, r in bad.head(MAX_PROBLEMS_IN_REASON).iterrows()] if len(bad) else []
    if len(bad):
        rows_path = quarantine_dir / f"{name}.rows.csv"
        columns = [ROW, "column", "rule", "message"] + [c for c in bad.columns if c not in {ROW, "column", "rule", "message"}]
        bad[columns].to_csv(temp := temp_path(rows_path), index=False)
        commit_file(temp, rows_path)
    record = {"file": report.file, "outcome": report.outcome, "rule": report.rule, "message": report.reason,
              "rows_in": report.rows_in, "rows_ingested": report.rows_ingested,
              "rows_quarantined": report.rows_quarantined, "problems": problems,
              "problems_truncated": len(bad) > MAX_PROBLEMS_IN_REASON, "notes": report.notes, "at": utc_now()}
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
    """Ingest every ready file of `<data_dir>/incoming/`; return what happened and the fingerprint.

    Call it under the run lock (`movavg.lock.run_lock`); it first removes temp files of crashed runs.
    """
    raw_dir, ledger_path = data_dir / "raw", data_dir / "ledger.jsonl"
    for folder in (raw_dir, data_dir / "cache", data_dir / "quarantine", data_dir / "processed"):
        remove_stale_temp(folder)
    seen = {entry["sha256"] for entry in read_jsonl(ledger_path) if entry.get("rows_ingested")}
    ready, waiting = pending_files(data_dir / "incoming", config.settle_seconds)
    result = IngestResult(fingerprint="", raw_dir=str(raw_dir), waiting=[p.name for p in waiting])
    existing: pd.DataFrame | None = None
    for path in ready:
        if existing is None:
            existing = read_raw(raw_dir)
        report = _handle(path, data_dir, raw_dir, seen, existing, config)
        if report.rows_ingested:
            seen.add(report.sha256)
            result.new_files.append(report.file)
            result.new_rows += report.rows_ingested
            existing = None  # re-read: the new part changes what is already ingested
        if report.outcome in {"quarantined", "partial"}:
            result.quarantined.append(report.file)
        entry = {**report.__dict__, "at": utc_now()}
        append_jsonl(ledger_path, entry)
        result.files.append(entry)
    result.fingerprint = fingerprint(raw_dir)
    result.series = series_fingerprints(raw_dir)
    result.total_rows = sum(ds.dataset(part, format="parquet").count_rows() for part in raw_parts(raw_dir))
    return result


def _handle(path: Path, data_dir: Path, raw_dir: Path, seen: set[str], existing: pd.DataFrame,
            config: IngestConfig) -> FileReport:
    """Ingest or quarantine one file and move it out of `incoming/`."""
    name = safe_name(path.name)
    if path.is_symlink():
        report = FileReport(file=path.name, sha256="", outcome="quarantined", rows_in=None, rule="symlink",
                            reason="symbolic links are not followed: copy the file itself into incoming/")
        return _quarantine_whole(path, data_dir, name, report)
    digest = sha256_file(path)
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        report = FileReport(file=path.name, sha256=digest, outcome="quarantined", rows_in=None, rule="unsupported-type",
                            reason=f"unsupported file type {path.suffix or '(none)'!r}: use .csv or .parquet")
        return _quarantine_whole(path, data_dir, name, report)
    if digest in seen or any(raw_dir.glob(f"part-*-{digest[:12]}.parquet")):
        report = FileReport(file=path.name, sha256=digest, outcome="duplicate", rows_in=None,
                            reason="same content as a file already ingested")
        shutil.move(str(path), _free_name(data_dir / "processed" / name))
        return report
    try:
        report, bad = ingest_file(path, digest, raw_dir, existing, config, len(raw_parts(raw_dir)))
    except ValidationError as error:
        report = FileReport(file=path.name, sha256=digest, outcome="quarantined", rows_in=None, rule=error.rule,
                            reason=str(error))
        return _quarantine_whole(path, data_dir, name, report)
    if report.outcome == "quarantined":
        return _quarantine_whole(path, data_dir, name, report, bad)
    if report.outcome == "partial":
        write_reason(data_dir / "quarantine", name, report, bad)
    shutil.move(str(path), _free_name(data_dir / "processed" / name))
    return report


def _quarantine_whole(path: Path, data_dir: Path, name: str, report: FileReport,
                      bad: pd.DataFrame | None = None) -> FileReport:
    target = _free_name(data_dir / "quarantine" / name)
    shutil.move(str(path), target)
    write_reason(data_dir / "quarantine", target.name, report, bad if bad is not None else pd.DataFrame())
    return report
