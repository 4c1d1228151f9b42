"""Ingest: validate new files from `incoming/`, append good rows to the immutable raw Parquet dataset.

Layout under the data dir::

    incoming/      users drop CSV or Parquet files here
    raw/           part-<seq>-<sha12>.parquet, one per ingested file, never rewritten
    processed/     source files moved here once ingested
    quarantine/    files that failed validation, each with <name>.reason.json
    ledger.jsonl   one line per handled file: name, sha256, outcome, rows

Reading the raw dataset concatenates the parts in ingest order, so a later file wins for a
(series_id, timestamp) that appears twice; the earlier value stays in its part file.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
from prefect import get_run_logger, task

from movavg.config import IngestConfig
from tasks.storage import append_jsonl, atomic_write_json, atomic_write_parquet, read_jsonl, sha256_file, stable_hash

SUPPORTED_SUFFIXES = {".csv", ".parquet"}
SERIES = "series_id"
TIMESTAMP = "timestamp"
BATCH = "_batch"


class ValidationError(ValueError):
    """A file that cannot be ingested; the message says what is wrong and what to do."""


@dataclass
class IngestResult:
    """What one ingest pass did, plus the fingerprint of all ingested data."""

    fingerprint: str
    raw_dir: str
    new_files: list[str] = field(default_factory=list)
    new_rows: int = 0
    quarantined: list[str] = field(default_factory=list)
    total_rows: int = 0
    files: list[dict[str, object]] = field(default_factory=list)  # one entry per handled file, as in the ledger


def read_source(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame (no validation)."""
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path)


def validate_frame(frame: pd.DataFrame, config: IngestConfig) -> pd.DataFrame:
    """Check columns and types; return canonical rows: `series_id`, `timestamp` (UTC), numeric columns.

    Raises `ValidationError` naming the column and rule that failed.
    """
    numeric = [config.target_column, *config.feature_columns]
    required = [config.timestamp_column, *numeric]
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ValidationError(
            f"missing column(s) {missing}; found {list(frame.columns)}. "
            "Rename them or set ingest.timestamp_column / ingest.target_column."
        )
    if frame.empty:
        raise ValidationError("file has a header but no rows")
    timestamps = pd.to_datetime(frame[config.timestamp_column], errors="coerce", utc=True, format="mixed")
    bad_ts = timestamps.isna()
    if bad_ts.any():
        raise ValidationError(
            f"column {config.timestamp_column!r}: {int(bad_ts.sum())} value(s) are not timestamps, "
            f"first at row {int(bad_ts.to_numpy().argmax())}"
        )
    out = pd.DataFrame({TIMESTAMP: timestamps})
    if config.series_id_column in frame.columns:
        out[SERIES] = frame[config.series_id_column].astype(str).to_numpy()
    else:
        out[SERIES] = config.default_series_id
    for column in numeric:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() | ~values.abs().lt(float("inf"))
        if bad.any():
            raise ValidationError(
                f"column {column!r}: {int(bad.sum())} value(s) are missing or not finite numbers, "
                f"first at row {int(bad.to_numpy().argmax())}"
            )
        out[column] = values.astype("float64").to_numpy()
    return out.drop_duplicates([SERIES, TIMESTAMP], keep="last").sort_values([SERIES, TIMESTAMP], ignore_index=True)


def pending_files(incoming: Path) -> list[Path]:
    """Files waiting in `incoming/`, oldest first (by modification time, then name)."""
    if not incoming.exists():
        return []
    files = [path for path in incoming.iterdir() if path.is_file() and not path.name.startswith(".")]
    return sorted(files, key=lambda path: (path.stat().st_mtime, path.name))


def raw_parts(raw_dir: Path) -> list[Path]:
    """Raw part files in ingest order."""
    return sorted(raw_dir.glob("part-*.parquet")) if raw_dir.exists() else []


def read_raw(raw_dir: Path) -> pd.DataFrame:
    """All ingested rows, deduplicated on (series_id, timestamp) with the later file winning, sorted."""
    parts = raw_parts(raw_dir)
    if not parts:
        return pd.DataFrame(columns=[SERIES, TIMESTAMP])
    frames = []
    for batch, part in enumerate(parts):
        frame = ds.dataset(part, format="parquet").to_table().to_pandas()
        frames.append(frame.assign(**{BATCH: batch}))
    data = pd.concat(frames, ignore_index=True)
    data = data.sort_values([SERIES, TIMESTAMP, BATCH], kind="stable")
    data = data.drop_duplicates([SERIES, TIMESTAMP], keep="last").drop(columns=BATCH)
    return data.reset_index(drop=True)


def fingerprint(raw_dir: Path) -> str:
    """Content fingerprint of the ingested data: parts are immutable and named by content hash."""
    return stable_hash([part.name for part in raw_parts(raw_dir)])[:32]


def quarantine(path: Path, quarantine_dir: Path, reason: str) -> Path:
    """Move a rejected file to `quarantine/` beside `<name>.reason.json`; return its new path."""
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    target = _free_name(quarantine_dir / path.name)
    shutil.move(str(path), target)
    record = {"file": path.name, "quarantined_as": target.name, "reason": reason, "at": _now()}
    atomic_write_json(target.with_name(target.name + ".reason.json"), record)
    return target


def ingest_files(data_dir: Path, config: IngestConfig) -> IngestResult:
    """Ingest every pending file of `<data_dir>/incoming/`; return what happened and the fingerprint."""
    raw_dir = data_dir / "raw"
    ledger_path = data_dir / "ledger.jsonl"
    seen = {entry["sha256"] for entry in read_jsonl(ledger_path) if entry.get("outcome") == "ingested"}
    result = IngestResult(fingerprint="", raw_dir=str(raw_dir))
    for path in pending_files(data_dir / "incoming"):
        digest = sha256_file(path)
        outcome, rows, reason = _ingest_one(path, digest, seen, raw_dir, config)
        if outcome == "quarantined":
            quarantine(path, data_dir / "quarantine", reason)
            result.quarantined.append(path.name)
        else:
            shutil.move(str(path), _free_name(data_dir / "processed" / path.name, mkdir=True))
        if outcome == "ingested":
            seen.add(digest)
            result.new_files.append(path.name)
            result.new_rows += rows
        entry = {"file": path.name, "sha256": digest, "outcome": outcome, "rows": rows, "reason": reason, "at": _now()}
        append_jsonl(ledger_path, entry)
        result.files.append(entry)
    result.fingerprint = fingerprint(raw_dir)
    result.total_rows = sum(_row_count(part) for part in raw_parts(raw_dir))
    return result


def _ingest_one(
    path: Path, digest: str, seen: set[str], raw_dir: Path, config: IngestConfig
) -> tuple[str, int, str]:
    """Validate one file and write its raw part; return (outcome, rows, reason)."""
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        return "quarantined", 0, f"unsupported file type {path.suffix or '(none)'!r}: use .csv or .parquet"
    if digest in seen:
        return "duplicate", 0, "same content as a file already ingested"
    try:
        rows = validate_frame(read_source(path), config)
    except ValidationError as error:
        return "quarantined", 0, str(error)
    except Exception as error:  # unreadable: wrong format, truncated, encoding
        return "quarantined", 0, f"cannot read file as {path.suffix.lstrip('.').upper()}: {error}"
    sequence = len(raw_parts(raw_dir))
    atomic_write_parquet(raw_dir / f"part-{sequence:06d}-{digest[:12]}.parquet", rows)
    return "ingested", len(rows), ""


def _row_count(part: Path) -> int:
    return ds.dataset(part, format="parquet").count_rows()


def _free_name(path: Path, mkdir: bool = False) -> Path:
    """`path`, or `path` with a numeric suffix if that name is taken."""
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    candidate, counter = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}.{counter}{path.suffix}")
        counter += 1
    return candidate


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@task(name="ingest", retries=2, retry_delay_seconds=2)
def ingest(data_dir: str, config: IngestConfig) -> IngestResult:
    """Prefect task: ingest pending files (retried on I/O errors; bad files are quarantined, not raised)."""
    result = ingest_files(Path(data_dir), config)
    logger = get_run_logger()
    logger.info("ingested %d new file(s), %d row(s); %d quarantined; fingerprint %s",
                len(result.new_files), result.new_rows, len(result.quarantined), result.fingerprint[:12])
    for name in result.quarantined:
        logger.warning("quarantined %s: see %s/quarantine/%s.reason.json", name, data_dir, name)
    return result
