"""Ingest: validate new files from `incoming/`, append their good rows to the raw store (`movavg.rawstore`),
move bad files and rows to `quarantine/` with a reason.

Layout under the data dir::

    incoming/      users drop CSV or Parquet files here
    raw/           the raw store, partitioned by series (see `movavg.rawstore`); parts are never rewritten,
                   only merged by compaction, which keeps every row
    processed/     source files moved here once ingested (also partly bad ones: their good rows are in raw/)
    quarantine/    <name>.reason.json for every file with a problem; whole bad files beside it;
                   <name>.rows.csv with the bad rows of a partly bad file
    ledger.jsonl   one line per handled file: name, sha256, outcome, row counts, reason

Every input row ends up exactly once in raw/ or in quarantine/. The rules that decide it live in
`movavg.validation`.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from pathlib import Path

import pandas as pd

from movavg.config import IngestConfig
from movavg.rawstore import (
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
    next_fingerprint,
    open_store,
    part_path,
    read_series,
    read_tail,
    remember_file,
    write_part,
)
from movavg.schema import BAD_COLUMN, BAD_MESSAGE, BAD_RULE, ROW, SERIES, TIMESTAMP, FileReport, IngestResult
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
from movavg.validation import (
    IN_PROGRESS_SUFFIXES,
    MAX_PROBLEMS_IN_REASON,
    SUPPORTED_SUFFIXES,
    ValidationError,
    read_chunks,
    split_conflicts,
    split_outliers,
    validate_rows,
)

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
    folders = {path.name: FOLDER_REASON for path in subfolders(incoming)}
    return ready, {**{path.name: waiting_reason(path, settle_seconds) for path in waiting}, **folders}


FOLDER_REASON = "a folder: only files directly in incoming/ are ingested; move its files up into incoming/"


def subfolders(incoming: Path) -> list[Path]:
    """The folders inside `incoming/` (left there, never read), by name."""
    if not incoming.exists():
        return []
    return sorted(path for path in incoming.iterdir() if not path.is_symlink() and path.is_dir())


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
        report.rule = ",".join(sorted(set(bad[BAD_RULE])))
        report.reason = f"{len(bad)} of {report.rows_in} row(s) rejected ({report.rule}); see {path.name}.rows.csv"
    return report, bad, written


def _rejected(
    chunk: pd.DataFrame, rejected: pd.DataFrame, column: str, rule: str, message: str | None = None
) -> pd.DataFrame:
    """The original cells of the `rejected` rows as bad rows; their message is `message` or theirs."""
    rows = chunk[chunk[ROW].isin(rejected[ROW])]
    text = (
        message if message is not None else rows[ROW].map(dict(zip(rejected[ROW], rejected[BAD_MESSAGE], strict=True)))
    )
    return rows.assign(**{BAD_COLUMN: column, BAD_RULE: rule, BAD_MESSAGE: text})


# ---- quarantine ------------------------------------------------------------------------------


def quarantine_columns(input_columns: list[str]) -> dict[str, str]:
    """The rows file's names for movavg's working columns: `row`, `column`, `rule`, `message`, or, when the
    input already has a column of one of those names, all four prefixed `movavg_` so no input cell is lost."""
    names = {ROW: "row", BAD_COLUMN: "column", BAD_RULE: "rule", BAD_MESSAGE: "message"}
    if set(names.values()) & set(input_columns):
        return {key: f"movavg_{name}" for key, name in names.items()}
    return names


def write_reason(quarantine_dir: Path, name: str, report: FileReport, bad: pd.DataFrame) -> Path:
    """`<name>.reason.json` (file, rule, message, row problems) and, for bad rows, `<name>.rows.csv`: movavg's
    four columns (`quarantine_columns`) and then the rows' input cells, unchanged."""
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    problems = [
        {"row": int(r[ROW]), "column": r[BAD_COLUMN], "rule": r[BAD_RULE], "message": r[BAD_MESSAGE]}
        for _, r in bad.head(MAX_PROBLEMS_IN_REASON).iterrows()
    ]
    if len(bad):
        rows_path = quarantine_dir / f"{name}.rows.csv"
        names = quarantine_columns([c for c in bad.columns if c not in (ROW, BAD_COLUMN, BAD_RULE, BAD_MESSAGE)])
        columns = list(names) + [c for c in bad.columns if c not in names]
        bad[columns].rename(columns=names).to_csv(temp := temp_path(rows_path), index=False)
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

    Call it under the run lock (`movavg.lock.run_lock`); it first removes temp files of crashed runs.
    """
    raw_dir, ledger_path = data_dir / "raw", data_dir / "ledger.jsonl"
    for folder in (raw_dir, data_dir / "cache", data_dir / "quarantine", data_dir / "processed"):
        remove_stale_temp(folder, depth=1 if folder == raw_dir else 2)
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
