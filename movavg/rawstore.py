"""The raw dataset: immutable Parquet parts partitioned by series, and the index that makes them visible.

Layout under `raw/`::

    _index.json                          the commit point: every visible part, per series (see `StoreIndex`)
    _journal.jsonl                       only while a write is in flight: what it is writing (see `recover`)
    series_id=<percent-encoded id>/      one hive-style partition per series (readable by pyarrow, DuckDB, Spark)
        part-<seq>-<sha12>.parquet       the rows one ingested file held for this series, sorted by time
        part-<seq>-c<hash12>.parquet     a compaction of earlier parts: every row kept, with its `_seq`
    _damaged/                            part files that could not be read, moved aside (never deleted)

A part is written under a hidden temp name, renamed into its partition, and becomes visible only when the
index that lists it is committed (atomic replace). Every write first records what it will write in the
journal, so a crash leaves nothing that cannot be told apart: the next writer (`open_store`) deletes only what
the journal names and the index does not list. The index is derived state: each part carries its sequence
number, file digest and the series' fingerprint in its Parquet footer, so a missing, truncated or stale index
is rebuilt from the parts themselves, with a warning, and never causes a part to be deleted.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from movavg.schema import SERIES, TIMESTAMP
from movavg.storage import (
    append_jsonl,
    atomic_write_json,
    commit_file,
    failpoint,
    parsed_once,
    read_jsonl,
    sha256_file,
    stable_hash,
    temp_path,
    utc_now,
)

INDEX = "_index.json"
JOURNAL = "_journal.jsonl"
DAMAGED = "_damaged"
PART_META = b"movavg"  # footer key of a part's own record: seq, digests, fingerprint, merged_from
PART_NAME = re.compile(r"^part-(\d+)-(c?)([0-9a-f]{12})(?:-(\d+))?\.parquet$")
SEQ = "_seq"  # ingest order of a row inside a compacted part
ROW_GROUP_ROWS = 8_192  # small enough that the newest rows of a large part are read alone
RECENT_FILES = 64  # file hashes kept in the index to recognise a file whose ledger line a crash lost
MAX_PARTITION_NAME = 200
OUTLIER_REFERENCE_ROWS = 2_000


class PartInfo(BaseModel):
    """One visible part of one series."""

    name: str
    seq: int  # ingest sequence number of its (newest) rows
    rows: int
    new_rows: int  # rows whose timestamp the series did not have before (the others replaced a value)
    first: str  # ISO timestamps of its first and last row
    last: str
    arrived: str = ""  # when its rows were ingested (UTC ISO; a compacted part: its newest source's); "" unknown


class SeriesEntry(BaseModel):
    parts: list[PartInfo] = Field(default_factory=list)
    fingerprint: str = ""  # rolls forward with every ingest that adds rows; compaction leaves it as it is

    @property
    def rows(self) -> int:
        """Distinct timestamps stored (a replaced value counts once)."""
        return sum(part.new_rows for part in self.parts)

    @property
    def last(self) -> str:
        return max(part.last for part in self.parts)

    @property
    def arrived(self) -> str:
        """When rows new to the series last arrived (UTC ISO; "" when no part records it)."""
        return max((part.arrived for part in self.parts if part.new_rows > 0), default="")


class StoreIndex(BaseModel):
    """`raw/_index.json`: which parts are visible. Rewritten whole and atomically after every change."""

    format: int = 1
    next_seq: int = 0
    series: dict[str, SeriesEntry] = Field(default_factory=dict)
    recent_files: list[str] = Field(default_factory=list)  # sha256 of the newest ingested files

    def fingerprints(self) -> dict[str, str]:
        """{series id: fingerprint of its ingested data}, sorted by id."""
        return {series: entry.fingerprint for series, entry in sorted(self.series.items())}


def partition_name(series: str) -> str:
    """The hive-style folder of a series: `series_id=` + its percent-encoded id (no path separator survives)."""
    return f"{SERIES}={quote(series, safe='')}"


def partition_problem(series: str) -> str:
    """Why a series id cannot name a partition ('' when it can)."""
    if len(partition_name(series)) > MAX_PARTITION_NAME:
        return f"series id too long ({len(series)} characters; at most {MAX_PARTITION_NAME - 20} once percent-encoded)"
    return ""


log = logging.getLogger("movavg.rawstore")


def read_committed_index(raw_dir: Path) -> StoreIndex | None:
    """The committed `_index.json` as written; None when there is none. Raises ValueError when it cannot be read
    (truncated, garbage, another format)."""
    path = raw_dir / INDEX
    if not path.exists():
        return None
    try:
        return StoreIndex.model_validate_json(path.read_bytes())
    except (ValueError, OSError) as error:  # pydantic's ValidationError is a ValueError
        raise ValueError(f"{path} cannot be read ({type(error).__name__})") from None


def load_index(raw_dir: Path) -> StoreIndex:
    """The visible parts, for reading only (do not change it: writers open the store with `open_store`): the
    committed index, or, when it is missing while parts exist or cannot be read, one rebuilt from the parts in
    memory (the next ingest commits it). A committed index is parsed once per version of the file
    (`movavg.storage.parsed_once`): with 5,000 series it is 2 MB, and parsing it for every series read made
    reading the store quadratic in the series count."""
    if not (raw_dir / INDEX).exists():
        return _load_index(raw_dir)
    try:
        return parsed_once(raw_dir / INDEX, lambda _: _load_index(raw_dir))
    except OSError:  # replaced or removed meanwhile: read it as it is now
        return _load_index(raw_dir)


def _load_index(raw_dir: Path) -> StoreIndex:
    try:
        index = read_committed_index(raw_dir)
    except ValueError as problem:
        log.warning("%s; reading the store from its parts", problem)
        return rebuild_index(raw_dir, repair=False)[0]
    if index is None:
        return rebuild_index(raw_dir, repair=False)[0] if stored_parts(raw_dir) else StoreIndex()
    return index


def commit_index(raw_dir: Path, index: StoreIndex) -> None:
    """Make the index's parts visible (atomic replace)."""
    atomic_write_json(raw_dir / INDEX, index.model_dump(mode="json"))


def series_fingerprints(raw_dir: Path) -> dict[str, str]:
    """{series id: fingerprint of its ingested data}, from the index alone (no data is read)."""
    return load_index(raw_dir).fingerprints()


def combined_fingerprint(fingerprints: dict[str, str]) -> str:
    """One fingerprint of everything ingested, from the series' own."""
    return stable_hash(fingerprints)[:32]


def fingerprint(raw_dir: Path) -> str:
    """Fingerprint of everything ingested."""
    return combined_fingerprint(series_fingerprints(raw_dir))


def has_rows(raw_dir: Path) -> bool:
    return bool(load_index(raw_dir).series)


def part_path(raw_dir: Path, series: str, name: str) -> Path:
    return raw_dir / partition_name(series) / name


def series_paths(raw_dir: Path, series: str, index: StoreIndex | None = None) -> list[Path]:
    """The visible parts of one series, oldest first."""
    entry = (index or load_index(raw_dir)).series.get(series)
    return [part_path(raw_dir, series, part.name) for part in entry.parts] if entry else []


def visible_files(raw_dir: Path | str) -> list[str]:
    """Every visible part file, for readers outside movavg: `pyarrow.dataset.dataset(visible_files(raw),
    partitioning="hive", partition_base_dir=raw)` never counts a file a crash left behind, even before the next
    ingest has cleaned it up. `raw_dir` may be a path or a str, as the README writes it."""
    raw_dir = Path(raw_dir)
    index = load_index(raw_dir)
    return [str(path) for series in sorted(index.series) for path in series_paths(raw_dir, series, index)]


def _read_part(path: Path, part: PartInfo, series: str, rows: ds.Expression | None) -> pd.DataFrame:
    frame = ds.dataset(path, format="parquet").to_table(filter=rows).to_pandas()
    if SEQ not in frame.columns:
        frame[SEQ] = part.seq
    frame.insert(0, SERIES, series)
    return frame


def read_series(
    raw_dir: Path,
    series: str,
    index: StoreIndex | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Rows of one series (optionally only those with start <= timestamp <= end), the latest ingest winning per
    timestamp, sorted by time. Opens only the parts of this series whose time range overlaps."""
    entry = (index or load_index(raw_dir)).series.get(series)
    rows = None
    if start is not None and end is not None:
        rows = (ds.field(TIMESTAMP) >= pa.scalar(start, pa.timestamp("ns", "UTC"))) & (
            ds.field(TIMESTAMP) <= pa.scalar(end, pa.timestamp("ns", "UTC"))
        )
    frames = [
        _read_part(part_path(raw_dir, series, part.name), part, series, rows)
        for part in (entry.parts if entry else [])
        if rows is None or (pd.Timestamp(part.last) >= start and pd.Timestamp(part.first) <= end)
    ]
    if not frames:
        return pd.DataFrame({SERIES: pd.Series(dtype=str), TIMESTAMP: pd.Series(dtype="datetime64[ns, UTC]")})
    data = pd.concat(frames, ignore_index=True).sort_values([TIMESTAMP, SEQ], kind="stable")
    return data.drop_duplicates(TIMESTAMP, keep="last").drop(columns=SEQ).reset_index(drop=True)


def read_tail(raw_dir: Path, series: str, rows: int, index: StoreIndex) -> pd.DataFrame:
    """The newest `rows` stored rows of one series (reading whole row groups, newest parts first), any order."""
    entry, frames, have = index.series.get(series), [], 0
    for part in reversed(entry.parts if entry else []):
        parquet = pq.ParquetFile(part_path(raw_dir, series, part.name))
        groups = []
        for group in reversed(range(parquet.num_row_groups)):
            groups.append(group)
            have += parquet.metadata.row_group(group).num_rows
            if have >= rows:
                break
        frames.append(parquet.read_row_groups(sorted(groups)).to_pandas())
        if have >= rows:
            break
    if not frames:
        return pd.DataFrame()
    newest = pd.concat(frames, ignore_index=True)
    return newest.nlargest(rows, TIMESTAMP) if len(newest) > rows else newest


def read_all(raw_dir: Path) -> pd.DataFrame:
    """Every series' rows (for small stores and tests), sorted by series and time."""
    index = load_index(raw_dir)
    frames = [read_series(raw_dir, series, index) for series in sorted(index.series)]
    if not frames:
        return read_series(raw_dir, "", index)
    return pd.concat(frames, ignore_index=True)


# ---- writing ---------------------------------------------------------------------------------


def next_fingerprint(previous: str, seq: int, digest: str) -> str:
    """A series' fingerprint after one more part (ingest `seq` of the file with sha256 `digest`)."""
    return stable_hash(previous, seq, digest)[:32]


def _write_table(path: Path, table: pa.Table, record: dict[str, Any]) -> None:
    """Write a part under a hidden temp name with its own record in the footer, then rename it into place."""
    metadata = {**(table.schema.metadata or {}), PART_META: json.dumps(record, sort_keys=True).encode()}
    pq.write_table(table.replace_schema_metadata(metadata), tmp := temp_path(path), row_group_size=ROW_GROUP_ROWS)
    commit_file(tmp, path)


def write_part(
    raw_dir: Path,
    series: str,
    rows: pd.DataFrame,
    seq: int,
    digest: str,
    chunk: int = 0,
    new_rows: int | None = None,
    previous: str = "",
) -> PartInfo:
    """Write one series' rows of one ingested file (or of its chunk number `chunk`), sorted by time and without
    the series column, into its partition; invisible until the index lists it. `previous` is the series'
    fingerprint before this part (recorded in the footer with the one after it, for `rebuild_index`)."""
    folder = raw_dir / partition_name(series)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"part-{seq:08d}-{digest[:12]}{f'-{chunk}' if chunk else ''}.parquet"
    journal(raw_dir, {"part": [series, name]})
    table = pa.Table.from_pandas(rows.drop(columns=[SERIES]).sort_values(TIMESTAMP), preserve_index=False)
    arrived = utc_now()
    fingerprint = next_fingerprint(previous, seq, digest)
    record = {"seq": seq, "digests": [digest], "fingerprint": fingerprint, "arrived": arrived}
    _write_table(folder / name, table, record)
    return PartInfo(
        name=name,
        seq=seq,
        rows=len(rows),
        new_rows=len(rows) if new_rows is None else new_rows,
        first=rows[TIMESTAMP].min().isoformat(),
        last=rows[TIMESTAMP].max().isoformat(),
        arrived=arrived,
    )


def add_part(index: StoreIndex, series: str, part: PartInfo, digest: str) -> None:
    """List a written part in the (uncommitted) index and roll the series' fingerprint forward."""
    entry = index.series.setdefault(series, SeriesEntry())
    entry.parts.append(part)
    entry.fingerprint = next_fingerprint(entry.fingerprint, part.seq, digest)


def remember_file(index: StoreIndex, digest: str) -> None:
    index.recent_files = [*index.recent_files, digest][-RECENT_FILES:]


# ---- compaction ------------------------------------------------------------------------------


def parts_to_compact(parts: list[PartInfo]) -> list[PartInfo]:
    """The newest parts worth merging: every part after the oldest ones that are each larger than all newer
    parts together (tiered, so a large old part is not rewritten for every handful of new rows)."""
    for start in range(len(parts)):
        if parts[start].rows < sum(part.rows for part in parts[start + 1 :]):
            return parts[start:]
    return parts[-2:]


def compact_series(raw_dir: Path, series: str, index: StoreIndex, max_parts: int) -> bool:
    """When a series has more than `max_parts` parts, merge its newest ones into one (every row kept with its
    `_seq`, so the conflict history and the later-file-wins order survive), commit the index, then delete
    the merged parts. The journal names the merge first, so a crash at any point is undone or finished by
    `recover` before anything reads the partition. Returns whether it compacted."""
    entry = index.series.get(series)
    if entry is None or len(entry.parts) <= max_parts:
        return False
    merged = parts_to_compact(entry.parts)
    tables, digests = [], []
    for part in merged:
        path = part_path(raw_dir, series, part.name)
        table = pq.read_table(path)
        if SEQ not in table.column_names:
            table = table.append_column(SEQ, pa.array([part.seq] * table.num_rows, pa.int64()))
        tables.append(table.replace_schema_metadata(None))
        digests += part_record(path).get("digests", [])
    table = pa.concat_tables(tables, promote_options="default").sort_by([(TIMESTAMP, "ascending"), (SEQ, "ascending")])
    name = f"part-{merged[-1].seq:08d}-c{stable_hash([part.name for part in merged])[:12]}.parquet"
    sources = [part.name for part in merged]
    begin_journal(raw_dir, {"op": "compact", "series": series, "merged": name, "sources": sources})
    _write_table(
        part_path(raw_dir, series, name),
        table,
        {
            "seq": merged[-1].seq,
            "digests": digests[-RECENT_FILES:],
            "fingerprint": entry.fingerprint,
            "merged_from": sources,
            "arrived": max(p.arrived for p in merged),
        },
    )
    failpoint("compact:before-index")
    compacted = PartInfo(
        name=name,
        seq=merged[-1].seq,
        rows=table.num_rows,
        new_rows=sum(p.new_rows for p in merged),
        first=min(p.first for p in merged),
        last=max(p.last for p in merged),
        arrived=max(p.arrived for p in merged),
    )
    entry.parts = [part for part in entry.parts if part not in merged] + [compacted]
    commit_index(raw_dir, index)
    failpoint("compact:before-delete")
    for source in sources:
        part_path(raw_dir, series, source).unlink(missing_ok=True)
    end_journal(raw_dir)
    return True


def index_summary(raw_dir: Path) -> dict[str, tuple[int, str]]:
    """{series: (distinct timestamps stored, newest timestamp ISO)} from the index."""
    return {series: (entry.rows, entry.last) for series, entry in load_index(raw_dir).series.items() if entry.parts}


def arrivals(raw_dir: Path) -> dict[str, str]:
    """{series: when rows new to it last arrived, UTC ISO} from the index ("" where no part records it)."""
    return {series: entry.arrived for series, entry in load_index(raw_dir).series.items() if entry.parts}


# ---- the journal, recovery and rebuilding the index -----------------------------------------


def begin_journal(raw_dir: Path, record: dict[str, Any]) -> None:
    """Start the journal of one write (an ingested file, a compaction, a migration): what it will write."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    (raw_dir / JOURNAL).unlink(missing_ok=True)
    append_jsonl(raw_dir / JOURNAL, {**record, "at": utc_now()})


def journal(raw_dir: Path, record: dict[str, Any]) -> None:
    """Record, before writing it, one more file of the write in flight (fsynced)."""
    if (raw_dir / JOURNAL).exists():
        append_jsonl(raw_dir / JOURNAL, record)


def end_journal(raw_dir: Path) -> None:
    """The write is committed (or undone): nothing in flight."""
    (raw_dir / JOURNAL).unlink(missing_ok=True)


def recover(raw_dir: Path, index: StoreIndex | None) -> list[str]:
    """Undo or finish the write a crash interrupted, from the journal (call under the run lock, before anything
    reads the store). `index` is the committed index (None when missing or unreadable). Only files the journal
    names are deleted, and only when their rows are provably elsewhere: an uncommitted part only while the file
    it came from still waits in `incoming/` (it is ingested again), a compaction's result only while all its
    sources exist, a source only once its result is committed. Returns notes."""
    lines = read_jsonl(raw_dir / JOURNAL)
    head = lines[0] if lines else {}
    doomed: list[tuple[str, str]] = []
    note = ""
    if head.get("op") == "compact":
        series, merged, sources = head["series"], head["merged"], head["sources"]
        on_disk = [name for name in sources if part_path(raw_dir, series, name).exists()]
        if part_path(raw_dir, series, merged).exists():
            done = (series, merged) in _listed(index) if index is not None else len(on_disk) < len(sources)
            doomed = [(series, name) for name in (on_disk if done else [merged])]
            note = (
                f"finished an interrupted compaction of series {series!r}"
                if done
                else f"undid an interrupted compaction of series {series!r} (its parts are intact)"
            )
    elif head:
        written = [(line["part"][0], line["part"][1]) for line in lines[1:] if "part" in line]
        source_kept = _source_waits(raw_dir, head)
        doomed = [part for part in written if part not in _listed(index)] if source_kept else []
        note = (
            f"removed {len(doomed)} uncommitted part(s) of an interrupted {head.get('op')} of "
            f"{head.get('file')!r} (its rows are read again)"
            if doomed
            else ""
        )
    for series, name in doomed:
        part_path(raw_dir, series, name).unlink(missing_ok=True)
    end_journal(raw_dir)
    return [note] if note else []


def _source_waits(raw_dir: Path, head: dict[str, Any]) -> bool:
    """True when the file an interrupted ingest was reading is still in `incoming/` (so nothing is lost by
    dropping the parts it wrote: it is ingested again)."""
    path = raw_dir.parent / "incoming" / str(head.get("file", ""))
    return bool(head.get("file")) and path.is_file() and sha256_file(path) == head.get("digest")


def _listed(index: StoreIndex | None) -> set[tuple[str, str]]:
    return {(series, part.name) for series, entry in (index.series.items() if index else []) for part in entry.parts}


def stored_parts(raw_dir: Path) -> set[tuple[str, str]]:
    """(series, part name) of every part file in the partitions, listed or not (temp files excluded)."""
    found = set()
    for folder in raw_dir.glob(f"{SERIES}=*") if raw_dir.exists() else []:
        if folder.is_dir():
            series = unquote(folder.name.split("=", 1)[1])
            found |= {(series, path.name) for path in folder.iterdir() if PART_NAME.match(path.name)}
    return found


def part_record(path: Path) -> dict[str, Any]:
    """The record a part carries in its footer ({} for parts written before parts carried one)."""
    metadata = pq.read_metadata(path).metadata or {}
    return json.loads(metadata[PART_META]) if PART_META in metadata else {}


def open_store(raw_dir: Path) -> tuple[StoreIndex, list[str]]:
    """The index a writer builds on (call under the run lock): the journal's interrupted write undone or
    finished, and the index rebuilt from the parts when it is missing, unreadable or does not list exactly the
    part files on disk. Returns the index and warnings to show the user."""
    notes: list[str] = []
    try:
        index = read_committed_index(raw_dir)
    except ValueError as problem:
        index, notes = None, [f"{problem}: rebuilt from the parts"]
        (raw_dir / INDEX).replace(raw_dir / f"{INDEX}.damaged")
    notes += recover(raw_dir, index)
    on_disk = stored_parts(raw_dir)
    if index is not None and _listed(index) == on_disk:
        return index, notes
    if index is None and not on_disk:
        return StoreIndex(), notes
    if index is not None:
        notes.append(f"{raw_dir / INDEX} did not list the part files on disk: rebuilt from the parts")
    elif not notes:
        notes.append(f"{raw_dir / INDEX} is missing: rebuilt from the parts")
    index, problems = rebuild_index(raw_dir, repair=True)
    commit_index(raw_dir, index)
    return index, notes + problems  # the caller shows them (the ingest report, the ingest task's log)


def rebuild_index(raw_dir: Path, repair: bool) -> tuple[StoreIndex, list[str]]:
    """The index the parts on disk describe: each series' parts in ingest order, its distinct new timestamps
    replayed, its fingerprint and the recent file digests from the parts' footers. A part that cannot be read
    is left out, and so is a compaction's source beside its (readable) result, which holds its rows. With
    `repair` (a writer, under the run lock) the unreadable parts move to `raw/_damaged/` and the superseded
    sources are deleted. Returns the index and what was wrong."""
    index, problems, digests = StoreIndex(), [], []
    by_series: dict[str, list[tuple[tuple[int, int], str, dict[str, Any], np.ndarray]]] = {}
    for series, name in sorted(stored_parts(raw_dir)):
        path = part_path(raw_dir, series, name)
        try:
            record = part_record(path)
            times = pq.read_table(path, columns=[TIMESTAMP]).column(TIMESTAMP)
            times = times.cast(pa.timestamp("ns", "UTC")).to_numpy().astype("int64")
        except Exception as error:  # a damaged file must not hide the other parts
            problems.append(
                f"part {series!r}/{name} cannot be read ({type(error).__name__}); left out"
                + (f", moved to {DAMAGED}/" if repair else "")
            )
            if repair:
                (raw_dir / DAMAGED / partition_name(series)).mkdir(parents=True, exist_ok=True)
                path.replace(raw_dir / DAMAGED / partition_name(series) / name)
            continue
        match = PART_NAME.match(name)
        assert match is not None
        by_series.setdefault(series, []).append(((int(match[1]), int(match[4] or 0)), name, record, times))
    for series, parts in by_series.items():
        superseded = {source for _, _, record, _ in parts for source in record.get("merged_from", [])}
        kept = sorted((part for part in parts if part[1] not in superseded), key=lambda part: part[0])
        entry = _replay(kept, digests)
        if entry.parts:
            index.series[series] = entry
            index.next_seq = max(index.next_seq, *(part.seq + 1 for part in entry.parts))
        for name in sorted(superseded & {part[1] for part in parts}):
            problems.append(
                f"part {series!r}/{name} was merged into a later part; " + ("deleted" if repair else "left out")
            )
            if repair:
                part_path(raw_dir, series, name).unlink(missing_ok=True)
    index.recent_files = list(dict.fromkeys(digest for _, digest in sorted(digests)))[-RECENT_FILES:]
    return index, problems


def _replay(
    parts: list[tuple[tuple[int, int], str, dict[str, Any], np.ndarray]], digests: list[tuple[int, str]]
) -> SeriesEntry:
    """One series' index entry from its parts in ingest order (each with its footer record and timestamps as
    int64 ns); the file digests found are appended to `digests` as (seq, digest)."""
    entry, seen = SeriesEntry(), np.array([], dtype="int64")
    for (seq, _), name, record, times in parts:
        unique = np.unique(times)
        new = int((~np.isin(unique, seen)).sum())
        seen = np.union1d(seen, unique)
        entry.parts.append(
            PartInfo(
                name=name,
                seq=seq,
                rows=len(times),
                new_rows=new,
                first=pd.Timestamp(int(times.min()), tz="UTC").isoformat(),
                last=pd.Timestamp(int(times.max()), tz="UTC").isoformat(),
                arrived=str(record.get("arrived", "")),
            )
        )
        entry.fingerprint = record.get("fingerprint") or next_fingerprint(entry.fingerprint, seq, name)
        digests += [(seq, digest) for digest in record.get("digests", [])]
    return entry


def read_raw(raw_dir: Path, series: str | None = None) -> pd.DataFrame:
    """Ingested rows (of one series, or all), deduplicated on (series_id, timestamp) with the later file
    winning, sorted. With `series`, only that series' partition is read."""
    return read_all(raw_dir) if series is None else read_series(raw_dir, series)
