"""Ingest: validation, quarantine with reasons, immutable raw parts, dedup, fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from movavg.config import IngestConfig
from tasks.ingest import fingerprint, ingest_files, raw_parts, read_raw, validate_rows
from tests.conftest import settled, write_csv


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
    assert "unsupported file type" in json.loads((tmp_path / "quarantine" / "notes.txt.reason.json").read_text())["message"]


def test_parquet_and_series_ids(tmp_path: Path, series: pd.DataFrame) -> None:
    (tmp_path / "incoming").mkdir()
    series.assign(series_id="s1").to_parquet(tmp_path / "incoming" / "s1.parquet")
    settled(tmp_path / "incoming" / "s1.parquet")
    ingest_files(tmp_path, IngestConfig())
    assert read_raw(tmp_path / "raw")["series_id"].unique().tolist() == ["s1"]


def test_validation_sorts_and_keeps_the_last_duplicate() -> None:
    frame = pd.DataFrame({"row": [1, 2, 3], "timestamp": ["2024-01-03", "2024-01-01", "2024-01-01"], "value": ["3", "1", "2"]})
    good, bad, notes = validate_rows(frame, IngestConfig())
    assert good["value"].tolist() == [2.0, 3.0]
    assert bad["row"].tolist() == [2] and bad["message"].iloc[0] == "duplicate timestamp; row 3 kept"
    assert any("sorted" in note for note in notes)
