"""The raw dataset: immutable Parquet parts partitioned by series, and the index that makes them visible.

Layout under `raw/`::

    _index.json                          the commit point: every visible part, per series (see `StoreIndex`)
    series_id=<percent-encoded id>/      one hive-style partition per series (readable by pyarrow, DuckDB, Spark)
        part-<seq>-<sha12>.parquet       the rows one ingested file held for this series, sorted by time
        part-<seq>-c<hash12>.parquet     a compaction of earlier parts: every row kept, with its `_seq`
    _flat/                               parts of stores written before partitioning, after their migration

A part is written under a temp name, renamed into its partition, and becomes visible only when the index
that lists it is committed (atomic replace). A crash before that leaves an invisible orphan, removed the next
time its partition is written. Reading a series opens only the parts the index lists for it; a later ingest
(`_seq`) wins for a timestamp that appears twice, the earlier value staying in its part.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from movavg.schema import SERIES, TIMESTAMP
from movavg.storage import atomic_write_json, commit_file, failpoint, stable_hash, temp_path

INDEX = "_index.json"
FLAT = "_flat"
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


def load_index(raw_dir: Path) -> StoreIndex:
    path = raw_dir / INDEX
    return StoreIndex.model_validate_json(path.read_bytes()) if path.exists() else StoreIndex()


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
    return bool(load_index(raw_dir).series) or bool(flat_parts(raw_dir))


def part_path(raw_dir: Path, series: str, name: str) -> Path:
    return raw_dir / partition_name(series) / name


def series_paths(raw_dir: Path, series: str, index: StoreIndex | None = None) -> list[Path]:
    """The visible parts of one series, oldest first."""
    entry = (index or load_index(raw_dir)).series.get(series)
    return [part_path(raw_dir, series, part.name) for part in entry.parts] if entry else []


def _read_part(path: Path, part: PartInfo, series: str, rows: ds.Expression | None) -> pd.DataFrame:
    frame = ds.dataset(path, format="parquet").to_table(filter=rows).to_pandas()
    if SEQ not in frame.columns:
        frame[SEQ] = part.seq
    frame.insert(0, SERIES, series)
    return frame


def read_series(raw_dir: Path, series: str, index: StoreIndex | None = None, start: pd.Timestamp | None = None,
                end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Rows of one series (optionally only those with start <= timestamp <= end), the latest ingest winning per
    timestamp, sorted by time. Opens only the parts of this series whose time range overlaps."""
    entry = (index or load_index(raw_dir)).series.get(series)
    rows = None
    if start is not None and end is not None:
        rows = (ds.field(TIMESTAMP) >= pa.scalar(start, pa.timestamp("ns", "UTC"))) & (
            ds.field(TIMESTAMP) <= pa.scalar(end, pa.timestamp("ns", "UTC")))
    frames = [_read_part(part_path(raw_dir, series, part.name), part, series, rows) for part in (entry.parts if entry else [])
              if rows is None or (pd.Timestamp(part.last) >= start and pd.Timestamp(part.first) <= end)]
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


def write_part(raw_dir: Path, series: str, rows: pd.DataFrame, seq: int, digest: str, chunk: int = 0,
               new_rows: int | None = None) -> PartInfo:
    """Write one series' rows of one ingested file (or of its chunk number `chunk`), sorted by time and without
    the series column, into its partition; invisible until the index lists it."""
    folder = raw_dir / partition_name(series)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"part-{seq:08d}-{digest[:12]}{f'-{chunk}' if chunk else ''}.parquet"
    table = pa.Table.from_pandas(rows.drop(columns=[SERIES]).sort_values(TIMESTAMP), preserve_index=False)
    pq.write_table(table, tmp := temp_path(folder / name), row_group_size=ROW_GROUP_ROWS)
    commit_file(tmp, folder / name)
    return PartInfo(name=name, seq=seq, rows=len(rows), new_rows=len(rows) if new_rows is None else new_rows,
                    first=rows[TIMESTAMP].min().isoformat(), last=rows[TIMESTAMP].max().isoformat())


def add_part(index: StoreIndex, series: str, part: PartInfo, digest: str) -> None:
    """List a written part in the (uncommitted) index and roll the series' fingerprint forward."""
    entry = index.series.setdefault(series, SeriesEntry())
    entry.parts.append(part)
    entry.fingerprint = stable_hash(entry.fingerprint, part.seq, digest)[:32]


def remember_file(index: StoreIndex, digest: str) -> None:
    index.recent_files = [*index.recent_files, digest][-RECENT_FILES:]


def sweep_partition(raw_dir: Path, series: str, index: StoreIndex) -> None:
    """Delete files of a series' partition that the index does not list: orphans of a crashed ingest or
    compaction (call under the run lock)."""
    folder = raw_dir / partition_name(series)
    listed = {part.name for part in index.series.get(series, SeriesEntry()).parts}
    for path in folder.glob("*") if folder.exists() else []:
        if path.name not in listed and path.is_file():
            path.unlink()


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
    the merged parts. Returns whether it compacted."""
    entry = index.series.get(series)
    if entry is None or len(entry.parts) <= max_parts:
        return False
    merged = parts_to_compact(entry.parts)
    tables = []
    for part in merged:
        table = pq.read_table(part_path(raw_dir, series, part.name))
        if SEQ not in table.column_names:
            table = table.append_column(SEQ, pa.array([part.seq] * table.num_rows, pa.int64()))
        tables.append(table)
    table = pa.concat_tables(tables, promote_options="default").sort_by([(TIMESTAMP, "ascending"), (SEQ, "ascending")])
    name = f"part-{merged[-1].seq:08d}-c{stable_hash([part.name for part in merged])[:12]}.parquet"
    path = part_path(raw_dir, series, name)
    pq.write_table(table, tmp := temp_path(path), row_group_size=ROW_GROUP_ROWS)
    commit_file(tmp, path)
    failpoint("compact:before-index")
    compacted = PartInfo(name=name, seq=merged[-1].seq, rows=table.num_rows, new_rows=sum(p.new_rows for p in merged),
                         first=min(p.first for p in merged), last=max(p.last for p in merged))
    entry.parts = [part for part in entry.parts if part not in merged] + [compacted]
    commit_index(raw_dir, index)
    sweep_partition(raw_dir, series, index)
    return True


# ---- stores written before partitioning ------------------------------------------------------


def flat_parts(raw_dir: Path) -> list[Path]:
    """Parts of the earlier, unpartitioned layout (`raw/part-*.parquet`), in ingest order."""
    return sorted(raw_dir.glob("part-*.parquet")) if raw_dir.exists() else []


def migrate_flat_parts(raw_dir: Path) -> int:
    """Split the parts of an unpartitioned store into series partitions (same rows, same ingest order) and
    move the originals to `raw/_flat/`; idempotent after a crash. Returns how many parts moved."""
    flat = flat_parts(raw_dir)
    if not flat:
        return 0
    index = load_index(raw_dir)
    if not index.series:
        seen: dict[str, set[pd.Timestamp]] = {}
        for seq, path in enumerate(flat):
            digest = path.stem.rsplit("-", 1)[-1]
            frame = pq.read_table(path).to_pandas().drop(columns=["row"], errors="ignore")
            for series, rows in frame.groupby(SERIES, sort=True):
                known = seen.setdefault(str(series), set())
                new = int((~rows[TIMESTAMP].isin(known)).sum())
                known.update(rows[TIMESTAMP])
                add_part(index, str(series), write_part(raw_dir, str(series), rows, seq, digest, new_rows=new), digest)
        index.next_seq = len(flat)
        commit_index(raw_dir, index)
    (raw_dir / FLAT).mkdir(exist_ok=True)
    for path in flat:
        shutil.move(str(path), raw_dir / FLAT / path.name)
    return len(flat)


def index_summary(raw_dir: Path) -> dict[str, tuple[int, str]]:
    """{series: (distinct timestamps stored, newest timestamp ISO)} from the index."""
    return {series: (entry.rows, entry.last) for series, entry in load_index(raw_dir).series.items() if entry.parts}

