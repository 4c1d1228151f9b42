"""Damaged state and failing series in a real flow run: the other series are published, the run says what was
wrong, and derived state is rebuilt rather than a reason to retrain or to lose anything."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
from prefect.settings import PREFECT_RESULTS_LOCAL_STORAGE_PATH

from movavg.config import PipelineConfig
from movavg.flows.retrain import retrain
from movavg.publishing import RunIncomplete
from movavg.rawstore import INDEX
from movavg.registry import champion_dir, champion_problem, current_champion
from movavg.samples import synthetic_series
from tests.helpers import write_csv

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]


def two_series(rows: int) -> dict[str, pd.DataFrame]:
    return {sid: synthetic_series(rows, seed=seed).assign(series_id=sid) for sid, seed in (("a", 1), ("b", 2))}


def test_a_garbage_pointer_stops_only_its_series(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    full = two_series(500)
    write_csv(pd.concat([frame[:400] for frame in full.values()]), data / "incoming", "day1.csv")
    first = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    assert {o.series: o.status for o in first.series} == {"a": "published", "b": "published"}
    (champion_dir(art, "a") / "champion.json").write_bytes(b"\x00garbage{")
    write_csv(full["b"][400:], data / "incoming", "day2-b.csv")
    second = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))  # raises if the run failed
    outcomes = {o.series: o for o in second.series}
    assert second.message.endswith("damaged champion state of 1 series (a): see `movavg status`")
    assert outcomes["b"].status in {"published", "kept"}
    assert "champion pointer damaged" in outcomes["a"].message and "serving v1" in outcomes["a"].message
    assert champion_problem(art, "a") is None and current_champion(art, "a").version == "v1"  # type: ignore[union-attr]
    assert (champion_dir(art, "a") / "champion.json.damaged").read_bytes() == b"\x00garbage{"


def test_one_series_failing_in_a_stage_names_it_and_the_others_publish(
    tmp_path: Path, tiny_config: PipelineConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    import movavg.tasks.window

    real = movavg.tasks.window.build_windows

    def broken_for_b(series: object, *args: object, **kwargs: object) -> object:
        if getattr(series, "series", None) == "b":
            raise RuntimeError("disk says no for b")
        return real(series, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(movavg.tasks.window, "build_windows", broken_for_b)
    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(pd.concat(two_series(400).values()), data / "incoming", "ab.csv")
    with pytest.raises(RunIncomplete, match="b: window failed: RuntimeError: disk says no for b"):
        retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    assert current_champion(art, "a") is not None and current_champion(art, "b") is None


def test_a_lost_raw_index_retrains_nothing(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(pd.concat(two_series(400).values()), data / "incoming", "ab.csv")
    started = time.time()
    retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    records = [
        path
        for path in Path(PREFECT_RESULTS_LOCAL_STORAGE_PATH.value()).iterdir()
        if path.is_file() and path.stat().st_mtime >= started - 1
    ]
    assert len(records) >= 8  # normalize, window, train and evaluate: a task-level and per-series records
    for path in records:  # cached results are small JSON, never pickles
        record = json.loads(path.read_bytes())
        assert record["metadata"]["serializer"]["type"] == "json", path
        assert json.loads(record["result"]) is not None
    (data / "raw" / INDEX).unlink()
    again = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    assert {o.series: o.status for o in again.series} == {"a": "unchanged", "b": "unchanged"}
    assert (data / "raw" / INDEX).exists()


def test_a_champion_keras_cannot_load_is_shown_unusable_and_replaced_by_the_next_run(
    tmp_path: Path, tiny_config: PipelineConfig
) -> None:
    import zipfile

    from movavg.status import series_status

    data, art = tmp_path / "data", tmp_path / "artifacts"
    full = two_series(460)
    write_csv(pd.concat([frame[:400] for frame in full.values()]), data / "incoming", "day1.csv")
    retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    damaged = current_champion(art, "a")
    assert damaged is not None and damaged.loadable
    model = Path(damaged.path) / "model.keras"
    with zipfile.ZipFile(model) as archive:
        config_only = archive.read("config.json")
    model.unlink()
    with zipfile.ZipFile(model, "w") as archive:  # a valid zip, but Keras finds no weights in it
        archive.writestr("config.json", config_only)
    assert current_champion(art, "a").loadable is False  # type: ignore[union-attr]
    health = {row["series"]: row["health"] for row in series_status(data, art)}
    assert (
        health["a"]["state"] == "no champion"
        and f"champion {damaged.version}'s model cannot be loaded" in (health["a"]["reasons"][0])
    )
    assert health["b"]["state"] != "no champion"
    write_csv(full["a"][400:], data / "incoming", "day2-a.csv")  # warm start from it would fail: starts cold
    second = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))  # raises if the run failed
    outcomes = {o.series: o for o in second.series}
    assert outcomes["a"].status == "published" and "the champion's files are unreadable" in outcomes["a"].message
    replaced = current_champion(art, "a")
    assert replaced is not None and replaced.loadable and replaced.version != damaged.version
