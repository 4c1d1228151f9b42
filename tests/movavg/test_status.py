"""Status: every series with data or a champion, its champion and kind, and the last run's outcome."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from movavg.config import IngestConfig
from movavg.rawstore import ingest_files
from movavg.registry import set_champion
from movavg.samples import synthetic_series
from movavg.schema import RunSummary, SeriesOutcome
from movavg.status import record_run, series_status
from tests.helpers import write_csv


def summary(*outcomes: tuple[str, str]) -> RunSummary:
    return RunSummary(status="kept", message="m", champion_version=None, published_version=None, new_rows=0,
                      metrics={}, forecast_path=None,
                      series=[SeriesOutcome(series=name, status=status, message=status) for name, status in outcomes])


def test_status_joins_data_champions_and_the_last_outcome_of_each_series(tmp_path: Path) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    frames = [synthetic_series(50, seed=1).assign(series_id="a"), synthetic_series(20, seed=2).assign(series_id="b")]
    write_csv(pd.concat(frames), data / "incoming", "ab.csv")
    ingest_files(data, IngestConfig())
    version = art / "models" / "v1"
    version.mkdir(parents=True)
    (version / "metrics.json").write_text(json.dumps({"a": {"mae": 0.5, "rmse": 0.6, "baseline_mae": 0.7},
                                                      "b": {"mae": 0.4, "rmse": 0.5, "baseline_mae": 0.3}}))
    (version / "run.json").write_text(json.dumps({"model_key": "k", "created": "x", "trained_for": ["a", "b"]}))
    set_champion(art, "a", "v1", "published", None)
    record_run(art, summary(("a", "published"), ("b", "skipped")))
    record_run(art, summary(("a", "unchanged")))  # b was not in this run: its earlier outcome stays

    rows = {row["series"]: row for row in series_status(data, art)}
    assert (rows["a"]["rows"], rows["a"]["newest"]) == (50, "2024-01-03T01:00:00+00:00")
    assert (rows["a"]["champion"], rows["a"]["kind"], rows["a"]["mae"]) == ("v1", "global LSTM (2 series)", 0.5)
    assert rows["a"]["published"] and rows["a"]["last_run"]["status"] == "unchanged"
    assert (rows["b"]["champion"], rows["b"]["last_run"]["status"]) == (None, "skipped")
    assert [row["series"] for row in series_status(data, art, "b")] == ["b"]
