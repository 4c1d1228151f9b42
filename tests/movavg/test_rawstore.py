"""The raw store: validation, quarantine with reasons, immutable raw parts, dedup, fingerprint, and the
bad-input corpus (every case gets a specific reason and no row is lost).

Row conservation: for every file, rows in == rows in its raw part + rows in quarantine; a file
rejected whole sits byte-identical in quarantine/.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as pa_dataset
import pytest

from movavg.config import IngestConfig
from movavg.ingest import has_data, ingest_files
from movavg.rawstore import fingerprint, load_index, read_raw, series_fingerprints, series_paths
from movavg.samples import synthetic_series
from movavg.schema import BAD_MESSAGE, ROW
from movavg.storage import sha256_file
from movavg.validation import parse_numbers, parse_timestamps, validate_rows
from tests.helpers import CORPUS, settled, write_csv


def raw_parts(raw: Path) -> list[Path]:
    """Every visible part of the store, series by series."""
    index = load_index(raw)
    return [path for series in sorted(index.series) for path in series_paths(raw, series, index)]


def test_valid_file_is_appended_moved_and_fingerprinted(tmp_path: Path, series: pd.DataFrame) -> None:
    write_csv(series, tmp_path / "incoming", "day1.csv")
    result = ingest_files(tmp_path, IngestConfig())
    assert result.new_files == ["day1.csv"] and result.new_rows == len(series) == result.total_rows
    assert (tmp_path / "processed" / "day1.csv").exists()
    assert not any((tmp_path / "incoming").iterdir())
    raw = read_raw(tmp_path / "raw")
    assert list(raw["value"]) == list(series["value"])
    assert raw["series_id"].unique().tolist() == ["default"]
    assert result.fingerprint == fingerprint(tmp_path / "raw")
    assert has_data(tmp_path) and not has_data(tmp_path / "elsewhere")


def test_fingerprint_is_stable_and_moves_with_new_data(tmp_path: Path, series: pd.DataFrame) -> None:
    write_csv(series[:300], tmp_path / "incoming", "a.csv")
    first = ingest_files(tmp_path, IngestConfig()).fingerprint
    assert ingest_files(tmp_path, IngestConfig()).fingerprint == first  # nothing new
    write_csv(series[300:], tmp_path / "incoming", "b.csv")
    assert ingest_files(tmp_path, IngestConfig()).fingerprint != first


def test_same_content_is_never_ingested_twice(tmp_path: Path, series: pd.DataFrame) -> None:
    write_csv(series, tmp_path / "incoming", "x.csv")
    ingest_files(tmp_path, IngestConfig())
    write_csv(series, tmp_path / "incoming", "x-again.csv")
    result = ingest_files(tmp_path, IngestConfig())
    assert result.new_rows == 0 and len(raw_parts(tmp_path / "raw")) == 1
    ledger = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    assert [entry["outcome"] for entry in ledger] == ["ingested", "duplicate"]
    assert (tmp_path / "processed" / "x-again.csv").exists()


def test_raw_parts_are_immutable_and_the_later_file_wins(tmp_path: Path, series: pd.DataFrame) -> None:
    write_csv(series[:10], tmp_path / "incoming", "a.csv")
    ingest_files(tmp_path, IngestConfig())
    first_part = raw_parts(tmp_path / "raw")[0]
    before = first_part.read_bytes()
    correction = series[5:6].assign(value=-1.0)
    write_csv(correction, tmp_path / "incoming", "b.csv")
    ingest_files(tmp_path, IngestConfig())
    assert first_part.read_bytes() == before
    raw = read_raw(tmp_path / "raw")
    assert len(raw) == 10 and raw["value"].iloc[5] == -1.0
    assert raw["timestamp"].is_monotonic_increasing


def test_bad_file_is_quarantined_with_a_reason_and_good_data_flows(tmp_path: Path, series: pd.DataFrame) -> None:
    write_csv(series, tmp_path / "incoming", "good.csv")
    write_csv(series.rename(columns={"value": "price"}), tmp_path / "incoming", "bad.csv")
    settled(tmp_path / "incoming" / "notes.txt", "hello")
    result = ingest_files(tmp_path, IngestConfig())
    assert result.new_files == ["good.csv"] and sorted(result.quarantined) == ["bad.csv", "notes.txt"]
    reason = json.loads((tmp_path / "quarantine" / "bad.csv.reason.json").read_text())
    assert reason["rule"] == "missing-columns" and "missing column(s) ['value']" in reason["message"]
    assert (tmp_path / "quarantine" / "bad.csv").exists()
    assert (
        "unsupported file type"
        in json.loads((tmp_path / "quarantine" / "notes.txt.reason.json").read_text())["message"]
    )


def test_parquet_and_series_ids(tmp_path: Path, series: pd.DataFrame) -> None:
    (tmp_path / "incoming").mkdir()
    series.assign(series_id="s1").to_parquet(tmp_path / "incoming" / "s1.parquet")
    settled(tmp_path / "incoming" / "s1.parquet")
    ingest_files(tmp_path, IngestConfig())
    assert read_raw(tmp_path / "raw")["series_id"].unique().tolist() == ["s1"]


def test_validation_sorts_and_keeps_the_last_duplicate() -> None:
    frame = pd.DataFrame(
        {ROW: [1, 2, 3], "timestamp": ["2024-01-03", "2024-01-01", "2024-01-01"], "value": ["3", "1", "2"]}
    )
    good, bad, notes = validate_rows(frame, IngestConfig())
    assert good["value"].tolist() == [2.0, 3.0]
    assert bad[ROW].tolist() == [2] and bad[BAD_MESSAGE].iloc[0] == "duplicate timestamp; row 3 kept"
    assert any("sorted" in note for note in notes)


# file, config overrides, outcome, rule, words in the reason or problems, rows ingested, rows quarantined
CASES: list[tuple[str, dict[str, Any], str, str, str, int, int]] = [
    ("bad_timestamp.csv", {}, "partial", "timestamp", "row 3: not a timestamp", 9, 1),
    ("missing_timestamp.csv", {}, "partial", "timestamp", "row 2: missing timestamp", 9, 1),
    ("non_numeric_value.csv", {}, "partial", "number", "row 4: not a number", 9, 1),
    ("missing_value.csv", {}, "partial", "number", "row 5: missing value", 9, 1),
    ("nan_and_inf.csv", {}, "partial", "number", "row 7: not finite", 8, 2),
    ("duplicate_timestamps.csv", {}, "partial", "duplicate-timestamp", "row 2: duplicate timestamp; row 3 kept", 9, 1),
    ("out_of_order.csv", {}, "ingested", "", "sorted", 10, 0),
    ("timezone_mixed.csv", {}, "partial", "timestamp", "row 6: timestamp without a timezone", 5, 5),
    ("out_of_range.csv", {"max_value": 1000}, "partial", "out-of-range", "row 8: above ingest.max_value 1000", 9, 1),
    ("all_rows_bad.csv", {}, "quarantined", "number", "10 of 10 row(s) rejected", 0, 10),
    ("name with spaces é.csv", {}, "ingested", "", "", 10, 0),
    ("stray_series.csv", {}, "ingested", "", "", 90, 0),
    ("empty.csv", {}, "quarantined", "empty-file", "empty", 0, 0),
    ("header_only.csv", {}, "quarantined", "header-only", "header but no rows", 0, 0),
    ("wrong_columns.csv", {}, "quarantined", "missing-columns", "missing column(s) ['timestamp', 'value']", 0, 0),
    ("semicolons.csv", {}, "quarantined", "wrong-delimiter", "separated by semicolons", 0, 0),
    ("ragged.csv", {}, "quarantined", "unreadable", "cannot read the file as CSV", 0, 0),
    ("garbage.csv", {}, "quarantined", "not-csv", "not a CSV file", 0, 0),
    ("garbage.parquet", {}, "quarantined", "unreadable", "cannot read the file as PARQUET", 0, 0),
    ("truncated.parquet", {}, "quarantined", "unreadable", "cannot read the file as PARQUET", 0, 0),
    ("notes.txt", {}, "quarantined", "unsupported-type", "use .csv or .parquet", 0, 0),
]


def csv_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as handle:
        return sum(1 for row in csv.reader(handle) if row) - 1


def reason_text(record: dict[str, Any]) -> str:
    problems = [f"row {p['row']}: {p['message']}" for p in record["problems"]]
    return " | ".join([record["message"], *record["notes"], *problems])


@pytest.mark.parametrize(
    ("name", "overrides", "outcome", "rule", "words", "ingested", "quarantined"), CASES, ids=[case[0] for case in CASES]
)
def test_corpus_case(
    tmp_path: Path,
    name: str,
    overrides: dict[str, Any],
    outcome: str,
    rule: str,
    words: str,
    ingested: int,
    quarantined: int,
) -> None:
    source = CORPUS / name
    (tmp_path / "incoming").mkdir()
    settled(Path(shutil.copy2(source, tmp_path / "incoming" / name)))
    result = ingest_files(tmp_path, IngestConfig(**overrides))
    report = result.files[0]
    assert (report["outcome"], report["rows_ingested"], report["rows_quarantined"]) == (outcome, ingested, quarantined)
    assert rule in report["rule"]
    assert not list((tmp_path / "incoming").iterdir()), "the file must leave incoming/"
    raw_rows = sum(len(pd.read_parquet(part)) for part in raw_parts(tmp_path / "raw"))
    assert raw_rows == ingested
    if outcome == "ingested":
        assert words in " ".join(report["notes"]) and (tmp_path / "processed" / name).exists()
        return
    record = json.loads((tmp_path / "quarantine" / f"{name}.reason.json").read_text())
    assert record["file"] == name and rule in record["rule"] and words in reason_text(record)
    if outcome == "partial":
        bad = pd.read_csv(tmp_path / "quarantine" / f"{name}.rows.csv", dtype=str, keep_default_na=False)
        assert len(bad) == quarantined and {"row", "column", "rule", "message"} <= set(bad.columns)
        assert csv_rows(source) == raw_rows + len(bad)  # every row exactly once
        assert (tmp_path / "processed" / name).exists()
    else:  # rejected whole: the file itself is kept, untouched
        assert sha256_file(tmp_path / "quarantine" / name) == sha256_file(source)
        if quarantined:
            assert csv_rows(source) == quarantined


def test_conflicting_values_latest_wins_and_history_is_kept(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    write_csv(pd.read_csv(CORPUS / "bad_timestamp.csv").iloc[[0, 1]], incoming, "first.csv")
    ingest_files(tmp_path, IngestConfig())
    settled(Path(shutil.copy2(CORPUS / "conflicting_values.csv", incoming)))
    report = ingest_files(tmp_path, IngestConfig()).files[0]
    assert report["outcome"] == "ingested" and "policy latest" in " ".join(report["notes"])
    assert read_raw(tmp_path / "raw")["value"].iloc[0] == 99.0
    assert pd.read_parquet(raw_parts(tmp_path / "raw")[0])["value"].iloc[0] == 10.0  # the earlier value stays


def test_conflicting_values_policy_first_quarantines_the_newer_rows(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    write_csv(pd.read_csv(CORPUS / "bad_timestamp.csv").iloc[[0, 1]], incoming, "first.csv")
    ingest_files(tmp_path, IngestConfig(on_conflict="first"))
    settled(Path(shutil.copy2(CORPUS / "conflicting_values.csv", incoming)))
    report = ingest_files(tmp_path, IngestConfig(on_conflict="first")).files[0]
    assert (report["outcome"], report["rows_ingested"], report["rows_quarantined"]) == ("partial", 2, 2)
    assert read_raw(tmp_path / "raw")["value"].iloc[0] == 10.0
    bad = pd.read_csv(tmp_path / "quarantine" / "conflicting_values.csv.rows.csv")
    assert set(bad["rule"]) == {"conflict"} and bad["row"].tolist() == [1, 2]


def test_huge_file_is_parsed_in_chunks_and_loses_nothing(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024", periods=5000, freq="min").astype(str),
            "value": [str(float(i)) for i in range(5000)],
        }
    )
    frame.loc[4321, "value"] = "oops"
    path = write_csv(frame, tmp_path / "incoming", "huge.csv")
    config = IngestConfig(max_file_bytes=path.stat().st_size // 10, chunk_rows=500, compact_after_parts=50)
    report = ingest_files(tmp_path, config).files[0]
    assert (report["outcome"], report["rows_in"], report["rows_ingested"], report["rows_quarantined"]) == (
        "partial",
        5000,
        4999,
        1,
    )
    assert len(read_raw(tmp_path / "raw")) == 4999
    parts = raw_parts(tmp_path / "raw")  # one part per chunk read: the file was never loaded whole
    assert len(parts) == 10 and [len(pd.read_parquet(part)) for part in parts] == [500] * 8 + [499, 500]
    assert sorted(part.stem.rsplit("-", 1)[-1] for part in parts[1:]) == sorted(map(str, range(1, 10)))
    record = json.loads((tmp_path / "quarantine" / "huge.csv.reason.json").read_text())
    assert record["problems"][0]["row"] == 4322


def test_a_file_still_being_written_waits(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    pd.read_csv(CORPUS / "out_of_order.csv").to_csv(incoming / "arriving.csv", index=False)  # fresh mtime
    (incoming / "download.csv.part").write_text("timestamp,value\n")
    result = ingest_files(tmp_path, IngestConfig(settle_seconds=30, max_wait_seconds=0))
    assert sorted(result.waiting) == ["arriving.csv", "download.csv.part"] and result.new_rows == 0
    assert "still being written" in result.waiting_why["arriving.csv"]
    assert "partial download" in result.waiting_why["download.csv.part"]
    assert "2 file(s) left in incoming/ (arriving.csv: still being written" in result.waiting_line()
    assert (incoming / "arriving.csv").exists()
    settled(incoming / "arriving.csv")
    assert ingest_files(tmp_path, IngestConfig(settle_seconds=30, max_wait_seconds=0)).new_rows == 10


def test_a_file_dropped_just_before_the_ingest_is_waited_for_and_ingested(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    pd.read_csv(CORPUS / "out_of_order.csv").to_csv(incoming / "just-now.csv", index=False)  # modified now
    result = ingest_files(tmp_path, IngestConfig(settle_seconds=1.0))
    assert result.new_files == ["just-now.csv"] and result.new_rows == 10 and not result.waiting


def test_a_file_that_keeps_changing_is_left_after_the_longest_wait(tmp_path: Path) -> None:
    import threading

    incoming = tmp_path / "incoming"
    incoming.mkdir()
    path = incoming / "growing.csv"
    path.write_text("timestamp,value\n")
    stop = threading.Event()

    def append() -> None:
        hour = 0
        while not stop.wait(0.2):
            with path.open("a") as handle:
                handle.write(f"2024-01-01 {hour % 24:02d}:00:00,{hour}\n")
            hour += 1

    writer = threading.Thread(target=append)
    writer.start()
    try:
        result = ingest_files(tmp_path, IngestConfig(settle_seconds=1.0, max_wait_seconds=1.5))
    finally:
        stop.set()
        writer.join()
    assert result.waiting == ["growing.csv"] and result.new_rows == 0 and path.exists()
    assert "picked up by the next run" in result.waiting_why["growing.csv"]


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    (tmp_path / "incoming").mkdir()
    secret = tmp_path / "elsewhere.csv"
    shutil.copy2(CORPUS / "out_of_order.csv", secret)
    os.symlink(secret, tmp_path / "incoming" / "link.csv")
    report = ingest_files(tmp_path, IngestConfig(settle_seconds=0)).files[0]
    assert report["outcome"] == "quarantined" and report["rule"] == "symlink"
    assert secret.exists() and not raw_parts(tmp_path / "raw")


def test_corpus_has_at_least_twenty_inputs() -> None:
    files = [path for path in CORPUS.iterdir() if path.name != "make_corpus.py"]
    assert len(files) >= 20 and {case[0] for case in CASES} | {"conflicting_values.csv"} == {p.name for p in files}


def two_series(n: int, seed: int = 0) -> pd.DataFrame:
    return pd.concat(
        [
            synthetic_series(n, seed=seed).assign(series_id="a"),
            synthetic_series(n, seed=seed + 1).assign(series_id="b"),
        ],
        ignore_index=True,
    )


def test_each_series_has_a_fingerprint_that_moves_only_with_its_own_new_data(tmp_path: Path) -> None:
    write_csv(two_series(50), tmp_path / "incoming", "both.csv")
    first = ingest_files(tmp_path, IngestConfig()).series
    assert sorted(first) == ["a", "b"]
    assert [path.parent.name for path in raw_parts(tmp_path / "raw")] == ["series_id=a", "series_id=b"]
    write_csv(synthetic_series(80, seed=5)[50:].assign(series_id="b"), tmp_path / "incoming", "b-more.csv")
    second = ingest_files(tmp_path, IngestConfig()).series
    assert second["a"] == first["a"] and second["b"] != first["b"]
    assert series_fingerprints(tmp_path / "raw") == second
    only_b = read_raw(tmp_path / "raw", "b")
    assert set(only_b["series_id"]) == {"b"} and len(only_b) == 80


def test_a_series_read_opens_only_the_parts_that_hold_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import movavg.rawstore as dataset

    for name, seed in (("a", 1), ("b", 2)):
        write_csv(synthetic_series(30, seed=seed).assign(series_id=name), tmp_path / "incoming", f"{name}.csv")
        ingest_files(tmp_path, IngestConfig())
    opened: list[str] = []
    real = dataset.ds.dataset
    monkeypatch.setattr(dataset.ds, "dataset", lambda path, **kw: opened.append(Path(path).name) or real(path, **kw))
    assert len(read_raw(tmp_path / "raw", "b")) == 30
    assert opened == [p.name for p in raw_parts(tmp_path / "raw") if p.parent.name == "series_id=b"]


def test_a_new_file_reads_only_its_own_series_partitions(tmp_path: Path) -> None:
    """A corrupt partition of another series does not stop (nor slow) an ingest that does not touch it."""
    write_csv(two_series(60), tmp_path / "incoming", "both.csv")
    ingest_files(tmp_path, IngestConfig())
    for part in (tmp_path / "raw" / "series_id=a").glob("part-*.parquet"):
        part.write_bytes(b"not parquet at all")
    overlap = synthetic_series(70, seed=1)[50:].assign(series_id="b")  # 10 stored timestamps, 10 new
    write_csv(overlap, tmp_path / "incoming", "b-more.csv")
    report = ingest_files(tmp_path, IngestConfig()).files[0]
    assert (report["outcome"], report["rows_ingested"]) == ("ingested", 20)
    assert len(read_raw(tmp_path / "raw", "b")) == 70 and load_index(tmp_path / "raw").series["b"].rows == 70


def test_hostile_series_ids_stay_inside_their_partition(tmp_path: Path) -> None:
    frame = pd.concat([synthetic_series(5, seed=1).assign(series_id=sid) for sid in ("../../x", "a/b", ".", "é ü")])
    frame = pd.concat([frame, synthetic_series(2, seed=2).assign(series_id="x" * 300)])
    write_csv(frame, tmp_path / "incoming", "ids.csv")
    report = ingest_files(tmp_path, IngestConfig(outlier_mads=None)).files[0]
    assert (report["rows_ingested"], report["rows_quarantined"]) == (20, 2) and "too long" in json.dumps(
        json.loads((tmp_path / "quarantine" / "ids.csv.reason.json").read_text())
    )
    folders = sorted(path.name for path in (tmp_path / "raw").iterdir() if path.is_dir())
    assert set(folders) == {"series_id=.", "series_id=..%2F..%2Fx", "series_id=a%2Fb", "series_id=%C3%A9%20%C3%BC"}
    assert sorted(read_raw(tmp_path / "raw")["series_id"].unique()) == [".", "../../x", "a/b", "é ü"]
    hive = pa_dataset.dataset(tmp_path / "raw", format="parquet", partitioning="hive").to_table()
    assert hive.num_rows == 20  # plain pyarrow reads the store, the series id decoded from the folder


def test_compaction_keeps_every_row_and_the_conflict_history(tmp_path: Path) -> None:
    series = synthetic_series(100, seed=3)
    config = IngestConfig(compact_after_parts=4, outlier_mads=None)
    for day in range(10):
        write_csv(series[day * 10 : day * 10 + 10], tmp_path / "incoming", f"day{day}.csv")
        ingest_files(tmp_path, config)
    fingerprint_before = series_fingerprints(tmp_path / "raw")
    correction = series[5:7].assign(value=[-1.0, -2.0])
    write_csv(correction, tmp_path / "incoming", "fix.csv")
    ingest_files(tmp_path, config)
    raw = tmp_path / "raw"
    assert len(raw_parts(raw)) <= 4 and any("-c" in path.name for path in raw_parts(raw))
    assert not [p for p in (raw / "series_id=default").iterdir() if p not in raw_parts(raw)]  # merged parts gone
    stored = pd.concat([pd.read_parquet(path) for path in raw_parts(raw)])
    assert len(stored) == 102  # every row ingested, the two replaced values included
    replaced = pd.Timestamp(series["timestamp"][5], tz="UTC")
    assert sorted(stored.loc[stored["timestamp"] == replaced, "value"]) == sorted([-1.0, series["value"][5]])
    data = read_raw(raw)
    assert len(data) == 100 and list(data["value"][5:7]) == [-1.0, -2.0]  # the later file still wins
    assert list(data["value"][7:]) == list(series["value"][7:])
    assert load_index(raw).series["default"].rows == 100
    assert series_fingerprints(raw) != fingerprint_before  # the correction moved it; compaction alone does not


def test_compaction_alone_keeps_the_fingerprint(tmp_path: Path) -> None:
    from movavg.rawstore import compact_series

    series = synthetic_series(60, seed=4)
    for day in range(6):
        write_csv(series[day * 10 : day * 10 + 10], tmp_path / "incoming", f"day{day}.csv")
        ingest_files(tmp_path, IngestConfig())
    raw = tmp_path / "raw"
    before, rows_before = series_fingerprints(raw), read_raw(raw)
    assert compact_series(raw, "default", load_index(raw), max_parts=2)
    assert series_fingerprints(raw) == before and len(raw_parts(raw)) < 6
    pd.testing.assert_frame_equal(read_raw(raw), rows_before)


def test_values_beyond_float32_are_always_quarantined(tmp_path: Path) -> None:
    frame = synthetic_series(20, seed=3)
    frame.loc[4, "value"] = 1e300
    write_csv(frame, tmp_path / "incoming", "huge.csv")
    report = ingest_files(tmp_path, IngestConfig(outlier_mads=None)).files[0]
    assert (report["outcome"], report["rows_quarantined"], report["rule"]) == ("partial", 1, "out-of-range")
    bad = pd.read_csv(tmp_path / "quarantine" / "huge.csv.rows.csv")
    assert bad["row"].tolist() == [5] and "float32" in bad["message"].iloc[0]


def test_a_robust_outlier_is_quarantined_and_the_series_goes_on(tmp_path: Path) -> None:
    write_csv(synthetic_series(200, seed=4), tmp_path / "incoming", "a.csv")
    ingest_files(tmp_path, IngestConfig())
    later = synthetic_series(220, seed=4)[200:].reset_index(drop=True)
    later.loc[3, "value"] = 1e12  # fits float32, but a million times the series' spread
    write_csv(later, tmp_path / "incoming", "b.csv")
    report = ingest_files(tmp_path, IngestConfig()).files[0]
    assert (report["rows_ingested"], report["rows_quarantined"], report["rule"]) == (19, 1, "outlier")
    bad = pd.read_csv(tmp_path / "quarantine" / "b.csv.rows.csv")
    assert bad["row"].tolist() == [4] and "median absolute deviations" in bad["message"].iloc[0]
    assert read_raw(tmp_path / "raw")["value"].max() < 100


def test_outliers_are_judged_per_series_and_can_be_switched_off(tmp_path: Path) -> None:
    small = synthetic_series(100, seed=6).assign(series_id="small")
    large = synthetic_series(100, seed=7).assign(series_id="large", value=lambda f: f["value"] * 1e6)
    write_csv(pd.concat([small, large]), tmp_path / "incoming", "mixed.csv")
    assert ingest_files(tmp_path, IngestConfig()).files[0]["rows_quarantined"] == 0
    spike = synthetic_series(3, seed=8, start="2020-01-01").assign(series_id="small", value=[10.0, 5e6, 11.0])
    write_csv(spike, tmp_path / "incoming", "spike.csv")
    assert ingest_files(tmp_path, IngestConfig(outlier_mads=None)).files[0]["rows_quarantined"] == 0


def test_a_named_pipe_is_quarantined_without_being_opened(tmp_path: Path) -> None:
    import signal

    write_csv(synthetic_series(20, seed=1), tmp_path / "incoming", "good.csv")
    os.mkfifo(tmp_path / "incoming" / "pipe.csv")
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("ingest blocked on the FIFO")))
    signal.alarm(30)
    try:
        result = ingest_files(tmp_path, IngestConfig())
    finally:
        signal.alarm(0)
    outcomes = {entry["file"]: (entry["outcome"], entry["rule"]) for entry in result.files}
    assert outcomes == {"good.csv": ("ingested", ""), "pipe.csv": ("quarantined", "not-a-file")}
    assert (tmp_path / "quarantine" / "pipe.csv").is_fifo() and not any((tmp_path / "incoming").iterdir())
    reason = json.loads((tmp_path / "quarantine" / "pipe.csv.reason.json").read_text())
    assert "named pipe" in reason["message"]


def test_a_header_too_wide_is_quarantined_before_any_row_is_parsed(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    header = ",".join(["timestamp", "value", *(f"c{i}" for i in range(1_000_000))])
    settled(incoming / "million.csv", header + "\n" + "\n".join(["2020-01-01,1" + ",0" * 1_000_000] * 5) + "\n")
    settled(
        incoming / "wide.csv",
        ",".join(["timestamp", "value", *(f"c{i}" for i in range(300))]) + "\n" + "2020-01-01,1" + ",0" * 300 + "\n",
    )
    frame = synthetic_series(4, seed=1)
    frame = pd.concat([frame, pd.DataFrame(0.0, index=frame.index, columns=[f"c{i}" for i in range(300)])], axis=1)
    frame.to_parquet(incoming / "wide.parquet", index=False)
    settled(incoming / "wide.parquet")
    result = ingest_files(tmp_path, IngestConfig())
    assert {entry["file"]: entry["rule"] for entry in result.files} == {
        "million.csv": "too-many-columns",
        "wide.csv": "too-many-columns",
        "wide.parquet": "too-many-columns",
    }
    assert "302 columns" in json.loads((tmp_path / "quarantine" / "wide.csv.reason.json").read_text())["message"]
    assert (tmp_path / "quarantine" / "million.csv").stat().st_size > 7_000_000  # kept whole, byte for byte
    with_more = ingest_files(tmp_path, IngestConfig(max_columns=400))  # the limit is the user's to raise
    assert with_more.files == []


def test_a_character_on_the_64_kib_boundary_is_utf8(tmp_path: Path) -> None:
    rows = [f"{pd.Timestamp('2020-01-01') + pd.Timedelta(hours=hour)},{hour % 7}.5,plain" for hour in range(2_000)]
    prefix = ("timestamp,value,note\n" + "\n".join(rows[:-1]) + "\n").encode()[:60_000]
    prefix = prefix[: prefix.rindex(b"\n") + 1]
    count = prefix.count(b"\n") - 1
    stamp = f"{pd.Timestamp('2020-01-01') + pd.Timedelta(hours=count)},1.5,".encode()
    pad = 65_535 - len(prefix) - len(stamp)
    data = prefix + stamp + b"x" * pad + "é\n".encode()
    assert data[65_535:65_537] == "é".encode()  # the two bytes of é are bytes 65,536 and 65,537
    (tmp_path / "incoming").mkdir()
    (tmp_path / "incoming" / "utf8.csv").write_bytes(data)
    settled(tmp_path / "incoming" / "utf8.csv")
    report = ingest_files(tmp_path, IngestConfig(outlier_mads=None)).files[0]
    assert (report["outcome"], report["rows_ingested"]) == ("ingested", count + 1)
    (tmp_path / "incoming" / "latin1.csv").write_bytes(data.replace("é".encode(), b"\xe9"))
    settled(tmp_path / "incoming" / "latin1.csv")
    bad = ingest_files(tmp_path, IngestConfig()).files[0]
    assert (bad["outcome"], bad["rule"]) == ("quarantined", "not-csv") and "not UTF-8 text (byte 65536)" in bad[
        "reason"
    ]


def test_repeated_column_names_are_refused(tmp_path: Path) -> None:
    settled(
        (tmp_path / "incoming").mkdir() or tmp_path / "incoming" / "twice.csv",
        "timestamp,value,value\n2020-01-01,1,2\n2020-01-02,1,2\n",
    )
    report = ingest_files(tmp_path, IngestConfig()).files[0]
    assert (report["outcome"], report["rule"]) == ("quarantined", "duplicate-columns") and "'value'" in report["reason"]
    assert not has_data(tmp_path)


def test_placeholder_timestamps_are_quarantined_and_the_rest_kept(tmp_path: Path) -> None:
    frame = synthetic_series(30, seed=2).astype({"timestamp": str})
    frame.loc[[3, 17, 20], "timestamp"] = ["9999-12-31", "31/12/1500", "1700-01-01"]  # 1700: historic, not bad
    write_csv(frame, tmp_path / "incoming", "odd.csv")
    report = ingest_files(tmp_path, IngestConfig(outlier_mads=None)).files[0]
    assert (report["outcome"], report["rows_ingested"], report["rule"]) == ("partial", 28, "timestamp-range")
    bad = pd.read_csv(tmp_path / "quarantine" / "odd.csv.rows.csv")
    assert bad["row"].tolist() == [4, 18] and set(bad["rule"]) == {"timestamp-range"}
    assert bad["message"].str.contains("outside the timestamps pandas represents").all()
    raw = read_raw(tmp_path / "raw")
    assert len(raw) == 28 and raw["timestamp"].min() == pd.Timestamp("1700-01-01", tz="UTC")


def test_the_timestamp_range_settings_still_quarantine_with_their_reason(tmp_path: Path) -> None:
    frame = synthetic_series(30, seed=2).astype({"timestamp": str})
    frame.loc[[3, 17], "timestamp"] = ["2250-01-01", "1850-01-01"]
    write_csv(frame, tmp_path / "incoming", "odd.csv")
    config = IngestConfig(outlier_mads=None, earliest_timestamp="1900-01-01", latest_timestamp="2200-01-01")
    report = ingest_files(tmp_path, config).files[0]
    assert (report["outcome"], report["rows_ingested"], report["rule"]) == ("partial", 28, "timestamp-range")
    bad = pd.read_csv(tmp_path / "quarantine" / "odd.csv.rows.csv")
    assert bad["message"].tolist() == [
        "after ingest.latest_timestamp 2200-01-01",
        "before ingest.earliest_timestamp 1900-01-01",
    ]


def test_a_null_series_id_in_parquet_is_a_bad_row_and_the_rest_is_ingested(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    times = list(pd.date_range("2024-01-01", periods=30, freq="h"))
    frame = pd.DataFrame({"series_id": ["a"] * 30 + [None] + ["b"] * 29, "timestamp": times * 2, "value": range(60)})
    (tmp_path / "incoming").mkdir()
    pq.write_table(pa.Table.from_pandas(frame), path := tmp_path / "incoming" / "nulls.parquet")
    settled(path)
    report = ingest_files(tmp_path, IngestConfig(outlier_mads=None)).files[0]
    assert (report["outcome"], report["rows_ingested"], report["rule"]) == ("partial", 59, "series-id")
    bad = pd.read_csv(tmp_path / "quarantine" / "nulls.parquet.rows.csv")
    assert bad["row"].tolist() == [31] and bad["message"].tolist() == ["missing series id"]
    assert sorted(read_raw(tmp_path / "raw")["series_id"].unique()) == ["a", "b"]


def test_min_value_quarantines_rows_below_it(tmp_path: Path) -> None:
    frame = synthetic_series(20, seed=3)
    frame.loc[[2, 9], "value"] = [-50.0, -0.001]
    write_csv(frame, tmp_path / "incoming", "low.csv")
    report = ingest_files(tmp_path, IngestConfig(min_value=0.0, outlier_mads=None)).files[0]
    assert (report["rows_ingested"], report["rows_quarantined"], report["rule"]) == (18, 2, "out-of-range")
    bad = pd.read_csv(tmp_path / "quarantine" / "low.csv.rows.csv")
    assert bad["row"].tolist() == [3, 10] and set(bad["message"]) == {"below ingest.min_value 0"}
    assert read_raw(tmp_path / "raw")["value"].min() >= 0


def test_nulls_of_typed_columns_are_missing_not_malformed() -> None:
    """A Parquet file's (or a frame's) nulls: pandas 3 keeps them null through `astype(str)`."""
    numbers = parse_numbers(pd.Series([1.0, None, float("nan"), "x"], dtype=object))[1]
    assert numbers.tolist() == ["", "missing value", "missing value", "not a number"]
    stamps = parse_timestamps(pd.Series(["2024-01-01T00:00Z", None, "soon"], dtype=object))[1]
    assert stamps.tolist() == ["", "missing timestamp", "not a timestamp"]


@pytest.mark.parametrize("name", ["row", "column", "rule", "message"])
def test_input_columns_named_like_movavgs_own_are_kept_and_the_files_after_them_handled(
    tmp_path: Path, name: str
) -> None:
    frame = synthetic_series(20, seed=4).assign(**{name: [f"cell {i}" for i in range(20)]})
    frame.loc[5, "value"] = float("nan")
    write_csv(frame, tmp_path / "incoming", "a.csv")
    write_csv(synthetic_series(20, seed=5).assign(series_id="later"), tmp_path / "incoming", "b.csv")
    result = ingest_files(tmp_path, IngestConfig(outlier_mads=None))
    assert [(f["file"], f["outcome"], f["rows_ingested"]) for f in result.files] == [
        ("a.csv", "partial", 19),
        ("b.csv", "ingested", 20),
    ]
    bad = pd.read_csv(tmp_path / "quarantine" / "a.csv.rows.csv")
    assert list(bad.columns[:4]) == ["movavg_row", "movavg_column", "movavg_rule", "movavg_message"]
    assert bad[name].tolist() == ["cell 5"]  # the input's cell, not movavg's
    assert (bad["movavg_row"].tolist(), bad["movavg_message"].tolist()) == ([6], ["missing value"])
    reason = json.loads((tmp_path / "quarantine" / "a.csv.reason.json").read_text())
    assert reason["problems"] == [{"row": 6, "column": "value", "rule": "number", "message": "missing value"}]


def test_a_column_named_like_movavgs_working_columns_is_refused_with_its_name(tmp_path: Path) -> None:
    write_csv(synthetic_series(10, seed=1).assign(_movavg_row=1), tmp_path / "incoming", "odd.csv")
    report = ingest_files(tmp_path, IngestConfig()).files[0]
    assert (report["outcome"], report["rule"]) == ("quarantined", "reserved-columns")
    assert "['_movavg_row'] are reserved" in report["reason"]


def test_a_folder_in_incoming_is_left_there_and_named(tmp_path: Path) -> None:
    write_csv(synthetic_series(10, seed=1), tmp_path / "incoming" / "2024-01", "inside.csv")
    write_csv(synthetic_series(10, seed=2), tmp_path / "incoming", "top.csv")
    result = ingest_files(tmp_path, IngestConfig(max_wait_seconds=0))
    assert result.new_files == ["top.csv"] and result.waiting == ["2024-01"]
    assert "a folder: only files directly in incoming/ are ingested" in result.waiting_why["2024-01"]
    assert "2024-01: a folder" in result.waiting_line()
    assert (tmp_path / "incoming" / "2024-01" / "inside.csv").exists()


def test_a_year_typo_is_quarantined_and_never_ends_its_series_a_century_ahead(tmp_path: Path) -> None:
    from movavg.rawstore import index_summary

    frame = pd.concat(
        [synthetic_series(48, seed=1).assign(series_id="a"), synthetic_series(48, seed=2).assign(series_id="b")]
    ).reset_index(drop=True)
    frame.loc[20, "timestamp"] = pd.Timestamp("2124-01-01 20:00")  # 2124 typed for 2024
    write_csv(frame, tmp_path / "incoming", "typo.csv")
    report = ingest_files(tmp_path, IngestConfig(outlier_mads=None)).files[0]
    assert (report["outcome"], report["rows_ingested"], report["rule"]) == ("partial", 95, "timestamp-range")
    bad = pd.read_csv(tmp_path / "quarantine" / "typo.csv.rows.csv")
    assert bad["row"].tolist() == [21] and "is 97 years after it was ingested" in bad["message"].iloc[0]
    assert "a typo in the year?" in bad["message"].iloc[0]
    newest = {name: last[:10] for name, (_, last) in index_summary(tmp_path / "raw").items()}
    assert newest == {"a": "2024-01-02", "b": "2024-01-02"}
    simulated = IngestConfig(outlier_mads=None, max_future_days=None)  # e.g. simulated data: no limit
    write_csv(frame[frame["series_id"] == "a"].assign(series_id="sim"), tmp_path / "incoming", "sim.csv")
    assert ingest_files(tmp_path, simulated).files[0]["rows_ingested"] == 48
