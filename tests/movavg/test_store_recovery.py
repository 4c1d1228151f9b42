"""The raw store's index is derived state: deleted, truncated or stale, it is rebuilt from the parts; a crash
at any point of an ingest or a compaction leaves every row counted exactly once, by movavg and by a plain
pyarrow reader, once the next ingest ran (and at once through `visible_files`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.dataset as pa_dataset
import pytest

from movavg.config import IngestConfig
from movavg.ingest import ingest_files
from movavg.monitor import arrival_times
from movavg.rawstore import INDEX, JOURNAL, arrivals, load_index, read_raw, series_fingerprints, visible_files
from movavg.samples import synthetic_series
from tests.helpers import write_csv

CONFIG = IngestConfig(outlier_mads=None)


def pyarrow_rows(raw: Path) -> int:
    """Rows a plain pyarrow reader counts in the store, as the README invites."""
    return pa_dataset.dataset(raw, format="parquet", partitioning="hive").count_rows()


def visible_rows(raw: Path) -> int:
    """Rows counted through the files the index lists."""
    files = visible_files(raw)
    assert visible_files(str(raw)) == files  # as the README writes it, with a str
    return pa_dataset.dataset(files, format="parquet", partitioning="hive", partition_base_dir=str(raw)).count_rows()


def two_series_files(folder: Path, days: int, rows: int = 10) -> pd.DataFrame:
    """`days` files of `rows` rows for each of the series a and b, written into incoming/."""
    frames = []
    for sid, seed in (("a", 1), ("b", 2)):
        frame = synthetic_series(days * rows, seed=seed).assign(series_id=sid)
        frames.append(frame)
    both = pd.concat(frames, ignore_index=True)
    for day in range(days):
        part = pd.concat([f[day * rows : (day + 1) * rows] for f in frames])
        write_csv(part, folder / "incoming", f"day{day}.csv")
    return both


def ingest_in_subprocess(data_dir: Path, failpoint: str, compact_after_parts: int = 8) -> int:
    """Run one ingest in a child process that SIGKILLs itself at `failpoint`; its exit code."""
    code = (
        "from pathlib import Path; from movavg.config import IngestConfig; from movavg.ingest import ingest_files; "
        f"ingest_files(Path({str(data_dir)!r}), IngestConfig(outlier_mads=None, "
        f"compact_after_parts={compact_after_parts}))"
    )
    env = {**os.environ, "MOVAVG_FAILPOINT": failpoint}
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=Path(__file__).parents[2], timeout=120).returncode


def test_a_deleted_index_is_rebuilt_and_no_part_is_deleted(tmp_path: Path) -> None:
    two_series_files(tmp_path, days=3)
    ingest_files(tmp_path, CONFIG)
    raw = tmp_path / "raw"
    fingerprints, parts = series_fingerprints(raw), sorted(raw.rglob("part-*.parquet"))
    arrived = arrivals(raw)
    assert set(arrived) == {"a", "b"} and all(arrived.values())  # when each series' rows came, for staleness
    (raw / INDEX).unlink()
    assert len(read_raw(raw)) == 60 and series_fingerprints(raw) == fingerprints  # readers rebuild in memory
    assert arrivals(raw) == arrived  # from the parts' footers
    later = synthetic_series(40, seed=1)[30:].assign(series_id="a")
    write_csv(later, tmp_path / "incoming", "a-more.csv")
    result = ingest_files(tmp_path, CONFIG)
    assert any("missing: rebuilt" in warning for warning in result.warnings)
    assert all(path.exists() for path in parts)  # nothing deleted as an "orphan"
    assert result.new_rows == 10 and result.total_rows == 70
    assert len(read_raw(raw, "a")) == 40 and len(read_raw(raw, "b")) == 30
    assert pyarrow_rows(raw) == 70 == visible_rows(raw)
    assert series_fingerprints(raw)["b"] == fingerprints["b"]  # b's caches stay valid: it did not change
    os.replace(tmp_path / "processed" / "day0.csv", tmp_path / "incoming" / "day0.csv")
    os.utime(tmp_path / "incoming" / "day0.csv", (0, 0))
    again = ingest_files(tmp_path, CONFIG)
    assert again.files[0]["outcome"] == "duplicate" and again.total_rows == 70


def test_a_damaged_arrival_time_is_not_recorded_and_never_fails_monitoring(tmp_path: Path) -> None:
    two_series_files(tmp_path, days=2)
    ingest_files(tmp_path, CONFIG)
    raw = tmp_path / "raw"
    index = json.loads((raw / INDEX).read_text())
    for part in index["series"]["a"]["parts"]:
        part["arrived"] = "not a time"
    (raw / INDEX).write_text(json.dumps(index))
    arrived = arrival_times(raw)
    assert set(arrived) == {"b"} and arrived["b"].tzinfo is not None  # a has no age until its next ingest


def test_a_truncated_index_is_rebuilt_and_moved_aside(tmp_path: Path) -> None:
    two_series_files(tmp_path, days=2)
    ingest_files(tmp_path, CONFIG)
    raw = tmp_path / "raw"
    text = (raw / INDEX).read_bytes()
    (raw / INDEX).write_bytes(text[: len(text) // 2])
    assert {name: entry.rows for name, entry in load_index(raw).series.items()} == {"a": 20, "b": 20}
    result = ingest_files(tmp_path, CONFIG)
    assert any("cannot be read" in warning for warning in result.warnings)
    assert (raw / f"{INDEX}.damaged").read_bytes() == text[: len(text) // 2]
    assert result.total_rows == 40 and pyarrow_rows(raw) == 40
    assert not ingest_files(tmp_path, CONFIG).warnings  # committed again: the next ingest finds it whole


def test_a_stale_index_lists_every_part_again(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    write_csv(synthetic_series(20, seed=3), tmp_path / "incoming", "one.csv")
    ingest_files(tmp_path, CONFIG)
    old_index = (raw / INDEX).read_bytes()  # a backup taken here
    write_csv(synthetic_series(30, seed=3)[20:], tmp_path / "incoming", "two.csv")
    ingest_files(tmp_path, CONFIG)
    (raw / INDEX).write_bytes(old_index)  # ... restored later
    result = ingest_files(tmp_path, CONFIG)
    assert any("did not list" in warning for warning in result.warnings)
    assert result.total_rows == 30 and len(read_raw(raw)) == 30 and pyarrow_rows(raw) == 30


def test_an_unreadable_part_is_moved_aside_and_the_other_series_go_on(tmp_path: Path) -> None:
    two_series_files(tmp_path, days=1)
    ingest_files(tmp_path, CONFIG)
    raw = tmp_path / "raw"
    broken = next((raw / "series_id=a").glob("part-*.parquet"))
    broken.write_bytes(b"PAR1 not really")
    (raw / INDEX).unlink()
    result = ingest_files(tmp_path, CONFIG)
    assert any("cannot be read" in warning and "_damaged" in warning for warning in result.warnings)
    assert (raw / "_damaged" / "series_id=a" / broken.name).exists()
    assert set(load_index(raw).series) == {"b"} and len(read_raw(raw, "b")) == 10


def killed_while_compacting(tmp_path: Path, point: str) -> tuple[pd.DataFrame, Path]:
    """Four files of one series ingested, then a fifth whose ingest compacts and is SIGKILLed at `point`;
    the series (450 rows) and the raw folder."""
    series = synthetic_series(450, seed=4)
    for day in range(4):
        write_csv(series[day * 90 : (day + 1) * 90], tmp_path / "incoming", f"day{day}.csv")
        ingest_files(tmp_path, IngestConfig(outlier_mads=None, compact_after_parts=4))
    write_csv(series[360:], tmp_path / "incoming", "day4.csv")
    assert ingest_in_subprocess(tmp_path, point, compact_after_parts=4) == -9
    return series, tmp_path / "raw"


@pytest.mark.parametrize("point", ["compact:before-index", "compact:before-delete"])
def test_a_crash_during_compaction_never_counts_a_row_twice(tmp_path: Path, point: str) -> None:
    series, raw = killed_while_compacting(tmp_path, point)
    assert (raw / JOURNAL).exists()
    assert visible_rows(raw) == 450 == len(read_raw(raw))  # the index's files: right even before any cleanup
    result = ingest_files(tmp_path, CONFIG)  # the next ingest cleans up before reading anything
    assert any("compaction of series 'default'" in warning for warning in result.warnings)
    assert not (raw / JOURNAL).exists()
    assert pyarrow_rows(raw) == 450 == visible_rows(raw) == len(read_raw(raw)) == result.total_rows
    assert read_raw(raw)["value"].round(9).tolist() == series["value"].round(9).tolist()


@pytest.mark.parametrize("index_lost", [False, True])
def test_a_crash_before_the_index_commit_leaves_the_file_to_ingest_again(tmp_path: Path, index_lost: bool) -> None:
    raw = tmp_path / "raw"
    write_csv(synthetic_series(30, seed=5), tmp_path / "incoming", "a.csv")
    ingest_files(tmp_path, CONFIG)
    write_csv(synthetic_series(40, seed=5)[30:], tmp_path / "incoming", "b.csv")
    assert ingest_in_subprocess(tmp_path, "ingest:after-part") == -9
    assert len(list(raw.rglob("part-*.parquet"))) == 2 and len(read_raw(raw)) == 30  # written, not visible
    if index_lost:
        (raw / INDEX).unlink()
    result = ingest_files(tmp_path, CONFIG)
    assert any("uncommitted part" in warning for warning in result.warnings)
    assert result.new_files == ["b.csv"] and len(read_raw(raw)) == 40 == pyarrow_rows(raw) == result.total_rows


def test_a_compactions_sources_left_beside_it_without_a_journal_are_superseded(tmp_path: Path) -> None:
    _, raw = killed_while_compacting(tmp_path, "compact:before-delete")
    (raw / JOURNAL).unlink()  # the journal lost too (a restore that missed it)
    assert len(read_raw(raw)) == 450 and pyarrow_rows(raw) > 450  # the merged part and its sources both there
    result = ingest_files(tmp_path, CONFIG)
    assert any("merged into a later part; deleted" in warning for warning in result.warnings)
    assert pyarrow_rows(raw) == 450 == len(read_raw(raw)) and not ingest_files(tmp_path, CONFIG).warnings
