"""Status: every series with data or a champion, its champion and kind, and the last run's outcome."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from movavg.config import IngestConfig
from movavg.ingest import ingest_files
from movavg.registry import set_champion
from movavg.samples import synthetic_series
from movavg.schema import RunSummary, SeriesOutcome
from movavg.status import nothing_to_do, record_run, replay, run_key, series_status
from tests.helpers import stand_in_bundle, write_csv


def summary(*outcomes: tuple[str, str]) -> RunSummary:
    return RunSummary(
        status="kept",
        message="m",
        champion_version=None,
        published_version=None,
        new_rows=0,
        metrics={},
        forecast_path=None,
        series=[SeriesOutcome(series=name, status=status, message=status) for name, status in outcomes],
    )


def test_status_joins_data_champions_and_the_last_outcome_of_each_series(tmp_path: Path) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    frames = [synthetic_series(50, seed=1).assign(series_id="a"), synthetic_series(20, seed=2).assign(series_id="b")]
    write_csv(pd.concat(frames), data / "incoming", "ab.csv")
    ingest_files(data, IngestConfig())
    version = art / "models" / "v1"
    version.mkdir(parents=True)
    (version / "metrics.json").write_text(
        json.dumps(
            {"a": {"mae": 0.5, "rmse": 0.6, "baseline_mae": 0.7}, "b": {"mae": 0.4, "rmse": 0.5, "baseline_mae": 0.3}}
        )
    )
    (version / "run.json").write_text(json.dumps({"model_key": "k", "created": "x", "trained_for": ["a", "b"]}))
    stand_in_bundle(version)
    set_champion(art, "a", "v1", "published", None)
    record_run(art, summary(("a", "published"), ("b", "skipped")), None)
    record_run(art, summary(("a", "unchanged")), None)  # b was not in this run: its earlier outcome stays

    rows = {row["series"]: row for row in series_status(data, art)}
    assert (rows["a"]["rows"], rows["a"]["newest"]) == (50, "2024-01-03T01:00:00+00:00")
    assert (rows["a"]["champion"], rows["a"]["kind"], rows["a"]["mae"]) == ("v1", "global LSTM (2 series)", 0.5)
    assert rows["a"]["published"] and rows["a"]["last_run"]["status"] == "unchanged"
    assert (rows["b"]["champion"], rows["b"]["last_run"]["status"]) == (None, "skipped")
    assert [row["series"] for row in series_status(data, art, "b")] == ["b"]


def test_an_identical_rerun_replays_published_as_unchanged() -> None:
    one = summary(("a", "published"))
    one.series[0].champion_version = "v3"
    assert replay(one) == "no new data; champion v3 unchanged"
    many = summary(("a", "published"), ("b", "kept"), ("c", "skipped"))
    assert replay(many) == "3 series: 1 kept, 1 unchanged, 1 skipped (c: skipped)"


def test_nothing_to_do_only_while_files_config_data_and_champions_are_as_the_last_run_left_them(tmp_path: Path) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(synthetic_series(30, seed=1), data / "incoming", "a.csv")
    ingest_files(data, IngestConfig())
    config = {"train": {"epochs": 2}}
    assert nothing_to_do(config, data, art, 2.0) is None  # no run recorded yet
    one = summary(("default", "published"))
    one.series[0].champion_version = "v1"
    record_run(art, one, run_key(config, data / "raw", art))
    assert nothing_to_do(config, data, art, 2.0) == "no new data; champion v1 unchanged"
    assert nothing_to_do({"train": {"epochs": 3}}, data, art, 2.0) is None  # config changed
    (art / "champions" / "x").mkdir(parents=True)
    (art / "champions" / "x" / "champion.json").write_text("{}")  # a champion switched (a promote)
    assert nothing_to_do(config, data, art, 2.0) is None
    (art / "champions" / "x" / "champion.json").unlink()
    assert nothing_to_do(config, data, art, 2.0) is not None
    write_csv(synthetic_series(40, seed=1)[30:], data / "incoming", "b.csv")  # a new file is ready
    assert nothing_to_do(config, data, art, 2.0) is None
    (data / "incoming" / "b.csv").write_text("timestamp,value\n")  # a file still settling: the run waits for it
    assert nothing_to_do(config, data, art, 2.0) is None
    (data / "incoming" / "b.csv").rename(data / "incoming" / "b.csv.part")  # a partial download: named, not run
    line = nothing_to_do(config, data, art, 2.0)
    assert line is not None and line.startswith(
        "no new data; champion v1 unchanged; 1 file(s) left in incoming/ (b.csv.part: named like a partial download"
    )
    record_run(art, one, None)  # an incomplete run is never replayed
    (data / "incoming" / "b.csv.part").unlink()
    assert nothing_to_do(config, data, art, 2.0) is None


def test_a_damaged_champion_model_makes_a_run_needed(tmp_path: Path) -> None:
    import shutil

    from tests.helpers import FIXTURES

    data, art = tmp_path / "data", tmp_path / "artifacts"
    shutil.copytree(FIXTURES / "legacy_artifacts", art)
    write_csv(synthetic_series(30, seed=1), data / "incoming", "a.csv")
    ingest_files(data, IngestConfig())
    one = summary(("default", "unchanged"))
    record_run(art, one, run_key({}, data / "raw", art))
    assert nothing_to_do({}, data, art, 2.0) == "unchanged"
    (art / "models" / "v1" / "model.keras").write_bytes(b"not a zip")
    assert nothing_to_do({}, data, art, 2.0) is None
