"""Timestamp texts: one day/month order per file, settled by its own rows; an ambiguous date is a bad row with
a reason, never a guess; `ingest.timestamp_format` reads every row one way."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from movavg.config import IngestConfig
from movavg.ingest import ingest_files
from movavg.rawstore import read_raw
from movavg.validation import parse_timestamps
from tests.helpers import settled


def parsed(values: list[str], timestamp_format: str | None = None) -> tuple[list[str], list[str], list[str]]:
    stamps, problems, notes = parse_timestamps(pd.Series(values, dtype=object), timestamp_format)
    return [str(s.date()) if not pd.isna(s) else "NaT" for s in stamps], list(problems), notes


@pytest.mark.parametrize(
    ("values", "dates", "note"),
    [
        (["13/01/2024", "07/01/2024", "31/12/2024 10:00"], ["2024-01-13", "2024-01-07", "2024-12-31"], "day-first"),
        (["01/13/2024", "07/01/2024"], ["2024-01-13", "2024-07-01"], "month-first"),
        (["7.1.24", "13.1.24"], ["2024-01-07", "2024-01-13"], "day-first"),
        (["05/05/2024", "2024-01-02"], ["2024-05-05", "2024-01-02"], ""),  # the same date either way
        (["1700", "1701"], ["1700-01-01", "1701-01-01"], ""),
    ],
)
def test_a_files_own_rows_settle_its_day_and_month_order(values: list[str], dates: list[str], note: str) -> None:
    got, problems, notes = parsed(values)
    assert got == dates and problems == [""] * len(values)
    assert (note in " ".join(notes)) if note else notes == []


def test_a_date_the_file_does_not_settle_is_a_bad_row_with_a_reason() -> None:
    got, problems, notes = parsed(["2024-01-01", "13/01/2024", "07/01/2024"])  # mixes formats: 07/01 is a guess
    assert got == ["2024-01-01", "2024-01-13", "NaT"] and problems[:2] == ["", ""]
    assert problems[2] == "ambiguous date '07/01/2024': day or month first? set ingest.timestamp_format (e.g. %d/%m/%Y)"
    assert notes == ["dates written in more than one format: a date that fits day-first and month-first is not read"]
    got, problems, _ = parsed(["07/01/2024", "08/01/2024"])  # nothing says which
    assert got == ["NaT", "NaT"] and all(p.startswith("ambiguous date") for p in problems)
    got, problems, notes = parsed(["13/01/2024", "01/13/2024", "02/03/2024"])  # both orders
    assert got == ["2024-01-13", "2024-01-13", "NaT"] and "day-first and month-first" in notes[0]


def test_a_declared_format_reads_every_row_that_way() -> None:
    got, problems, _ = parsed(["07/01/2024", "2024-01-08", "08/01/2024"], "%d/%m/%Y")
    assert got == ["2024-01-07", "NaT", "2024-01-08"]
    assert problems == ["", "does not match ingest.timestamp_format '%d/%m/%Y'", ""]


def test_a_file_mixing_formats_is_ingested_but_its_ambiguous_rows_quarantined(tmp_path: Path) -> None:
    (tmp_path / "incoming").mkdir()
    text = "timestamp,value\n2024-01-01,1\n13/01/2024,2\n07/01/2024,3\n"
    settled(tmp_path / "incoming" / "mixed.csv", text)
    report = ingest_files(tmp_path, IngestConfig(outlier_mads=None)).files[0]
    assert (report["outcome"], report["rows_ingested"], report["rule"]) == ("partial", 2, "timestamp")
    assert any("more than one format" in note for note in report["notes"])
    stored = read_raw(tmp_path / "raw")["timestamp"].dt.strftime("%Y-%m-%d").tolist()
    assert stored == ["2024-01-01", "2024-01-13"]  # never July 1
    reason = json.loads((tmp_path / "quarantine" / "mixed.csv.reason.json").read_text())
    assert reason["problems"][0]["row"] == 3 and "ambiguous date '07/01/2024'" in reason["problems"][0]["message"]
    settled(tmp_path / "incoming" / "again.csv", text.replace("2024-01-01", "01/01/2024"))
    declared = ingest_files(tmp_path, IngestConfig(outlier_mads=None, timestamp_format="%d/%m/%Y")).files[0]
    assert (declared["outcome"], declared["rows_ingested"]) == ("ingested", 3)
    assert "2024-01-07" in read_raw(tmp_path / "raw")["timestamp"].dt.strftime("%Y-%m-%d").tolist()
