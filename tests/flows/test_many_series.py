"""Many series in one run: every series modelled with its own champion, gate, history and forecasts; new
rows for one series redo only its stages; a series that cannot be modelled is skipped, the others go on."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from movavg.config import PipelineConfig, RunConfig
from movavg.flows.fanout import batches, series_per_task
from movavg.flows.retrain import retrain
from movavg.monitor import project_slug
from movavg.registry import champion_dir, current_champion, history, list_versions
from movavg.samples import synthetic_series
from tests.helpers import write_csv

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]
SERIES = {"north": 0, "south": 1, "east": 2}


def three_series(n: int, start: int = 0) -> pd.DataFrame:
    """Three seeded series of different shapes, rows [start, n) of each."""
    return pd.concat(
        [
            synthetic_series(n + 40 * seed, seed=seed, kind="walk" if seed == 1 else "sine")[start:].assign(
                series_id=name
            )
            for name, seed in SERIES.items()
        ],
        ignore_index=True,
    )


def entries(data: Path, stage: str) -> set[str]:
    folder = data / "cache" / stage
    return {p.name for p in folder.iterdir() if (p / "_COMPLETE").exists()} if folder.exists() else set()


def flow_run_and_tasks(flow_run_id: Any) -> tuple[Any, dict[str, str]]:
    """A flow run as the Prefect API has it, and {task run name: state name} of its task runs."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return run, {task.name: task.state.name for task in tasks if task.state}


def champions(art: Path) -> dict[str, str | None]:
    return {name: (c.version if (c := current_champion(art, name)) else None) for name in SERIES}


def test_day_one_publishes_every_series_and_day_two_retrains_only_the_changed_one(
    tmp_path: Path, tiny_config: PipelineConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(three_series(400), data / "incoming", "day1.csv")
    first = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    assert first.message == "3 series: 3 models published" and first.counts() == {"published": 3}
    shown = capsys.readouterr().out  # piped: a line per stage of several task runs, never silent after training
    for stage in ("normalize", "window", "evaluate", "publish"):
        assert re.search(rf"^{stage}: 3 of 3 series in \d+ s$", shown, re.MULTILINE), (stage, shown[-2000:])
    assert sorted(champions(art).values()) == ["v1", "v2", "v3"]
    assert (
        len({json.loads((art / "models" / v / "run.json").read_text())["model_key"] for v in ("v1", "v2", "v3")}) == 3
    )
    latest = pd.read_parquet(art / "forecasts" / "latest.parquet")
    assert sorted(latest["series_id"]) == sorted(SERIES) and latest["model_version"].notna().all()
    before = {stage: entries(data, stage) for stage in ("normalize", "window", "train", "evaluate")}
    pointers = {name: (champion_dir(art, name) / "champion.json").read_text() for name in ("north", "east")}

    south = synthetic_series(441 + 60, seed=1, kind="walk")[441:].assign(series_id="south")
    write_csv(south, data / "incoming", "day2-south.csv")
    state = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art), return_state=True)
    second = state.result()
    run, task_states = flow_run_and_tasks(state.state_details.flow_run_id)
    assert run.name.startswith(f"{project_slug(art)}-data-")  # named after its project, data folder and start
    assert run.state.name == "Completed"
    assert run.state.message == second.message and run.state.name == "Completed"
    for stage in ("normalize", "window"):  # untouched series: cache hits (evaluate met their new champion)
        assert task_states[f"{stage}-north"] == task_states[f"{stage}-east"] == "Cached", (stage, task_states)
        assert task_states[f"{stage}-south"] == "Completed", (stage, task_states)
    assert (
        task_states["train-east and 2 more"] == "Completed"
    )  # one stack of models: north's and east's were cache hits
    for stage in ("normalize", "window", "train"):
        added = entries(data, stage) - before[stage]
        assert len(added) == 1, (stage, added)  # only south's stages ran again; the others were cache hits
    assert {o.series: o.status for o in second.series}["north"] == "unchanged", second.series
    assert {name: (champion_dir(art, name) / "champion.json").read_text() for name in pointers} == pointers
    assert second.counts().get("unchanged") == 2

    after_two = {stage: entries(data, stage) for stage in ("normalize", "window", "train", "evaluate")}
    third = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    assert {stage: entries(data, stage) for stage in after_two} == after_two  # nothing new: every stage cached
    assert "published" not in third.counts() and third.counts().get("unchanged", 0) >= 2  # south's may stay "kept"


def test_a_series_too_short_is_skipped_with_its_reason_and_the_others_publish(
    tmp_path: Path, tiny_config: PipelineConfig
) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    short = synthetic_series(12, seed=9).assign(series_id="tiny")
    write_csv(pd.concat([three_series(300), short]), data / "incoming", "all.csv")
    state = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art), return_state=True)
    summary = state.result()
    assert summary.message == "4 series: 3 models published, 1 skipped (tiny: too short)"
    run, _ = flow_run_and_tasks(state.state_details.flow_run_id)
    assert (run.state.type.value, run.state.name, run.state.message) == (
        "COMPLETED",
        "Completed with skips",
        summary.message,
    )
    skipped = next(o for o in summary.series if o.series == "tiny")
    assert (
        skipped.status == "skipped"
        and "too few for one window reading 8 rows and ending 2 steps ahead" in skipped.message
    )
    assert current_champion(art, "tiny") is None and all(champions(art).values())


def test_global_scope_trains_one_model_and_gates_it_per_series(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(three_series(300), data / "incoming", "all.csv")
    per_series = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    assert per_series.counts() == {"published": 3}
    # 16 epochs on all three series beat some of the 2-epoch per-series champions (4 epochs beat none)
    config = tiny_config.model_copy(
        update={"train": tiny_config.train.model_copy(update={"scope": "global", "epochs": 16})}
    )
    summary = retrain(config=config, data_dir=str(data), artifacts_dir=str(art))
    run = json.loads((art / "models" / "v4" / "run.json").read_text())
    assert sorted(run["trained_for"]) == sorted(SERIES)  # one model, trained on every series
    won = {o.series for o in summary.series if o.status == "published"}
    assert won and {o.published_version for o in summary.series if o.status == "published"} == {"v4"}
    for o in summary.series:  # each series judged against its own champion on its own test windows
        metrics = o.metrics
        assert (o.status == "published") == (metrics["mae"] < metrics["champion_before"]["mae"])
    assert {r["series"] for r in list_versions(art) if r["version"] == "v4"} == won
    assert sum(len(history(art, name)) for name in SERIES) == 3 + len(won)


def test_stray_series_in_bad_files_never_sink_the_good_ones(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    good = synthetic_series(300, seed=3).assign(series_id="good")
    flat = synthetic_series(300, seed=4).assign(series_id="flat", value=7.0)
    short = synthetic_series(10, seed=5).assign(series_id="ten-rows")
    hostile = synthetic_series(300, seed=6).assign(series_id="../../x")
    write_csv(good, data / "incoming", "good.csv")
    write_csv(pd.concat([flat, short, hostile]), data / "incoming", "strays.csv")
    spiked = synthetic_series(320, seed=3)[300:].assign(series_id="good").reset_index(drop=True)
    spiked.loc[5, "value"] = 1e300  # one absurd value must not sink the series
    write_csv(spiked, data / "incoming", "spike.csv")
    summary = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    status = {o.series: o.status for o in summary.series}
    assert status == {"good": "published", "../../x": "published", "flat": "skipped", "ten-rows": "skipped"}
    assert current_champion(art, "../../x") is not None
    assert not list(tmp_path.glob("x*")) and not list(tmp_path.parent.glob("x"))
    good_outcome = next(o for o in summary.series if o.series == "good")
    assert good_outcome.metrics["rows"] == {"train": 223, "val": 48, "test": 48}  # 319 good rows
    reason = json.loads((data / "quarantine" / "spike.csv.reason.json").read_text())
    assert reason["rule"] == "out-of-range" and reason["rows_quarantined"] == 1


def test_the_bad_input_corpus_beside_a_good_series_never_fails_the_run(
    tmp_path: Path, tiny_config: PipelineConfig
) -> None:
    import shutil

    from tests.helpers import CORPUS, settled

    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(synthetic_series(300, seed=3).assign(series_id="good"), data / "incoming", "good.csv")
    for path in CORPUS.iterdir():
        if path.name != "make_corpus.py":
            settled(Path(shutil.copy2(path, data / "incoming" / path.name)))
    summary = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    status = {o.series: o.status for o in summary.series}
    assert status["good"] == "published" and status["flat"] == "skipped" and status["ten-rows"] == "skipped"
    assert "failed" not in status.values()
    assert current_champion(art, "good") is not None and not list(tmp_path.parent.glob("x"))


def test_models_of_many_series_are_reproducible_whatever_the_thread_order(
    tmp_path: Path, tiny_config: PipelineConfig
) -> None:
    import shutil

    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(three_series(300), data / "incoming", "all.csv")
    assert retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art)).counts() == {"published": 3}
    shutil.rmtree(data / "cache")
    again = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    # Retrained from scratch, three models at once, bit-identical: each recognised as its series' champion.
    assert again.counts() == {"unchanged": 3}, again.message


def test_series_per_task_auto_keeps_a_stage_at_a_hundred_task_runs() -> None:
    assert series_per_task(3, None) == 1 and series_per_task(100, None) == 1
    assert series_per_task(101, None) == 2 and series_per_task(10_000, None) == 100
    assert series_per_task(10_000, 7) == 7
    assert batches(["a", "b", "c"], 2) == {"a and 1 more": ["a", "b"], "c": ["c"]}
    assert batches(["a", "b"], 1) == {"a": ["a"], "b": ["b"]}


def test_batched_task_runs_still_cache_and_retrain_each_series_on_its_own(
    tmp_path: Path, tiny_config: PipelineConfig
) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    data, art = tmp_path / "data", tmp_path / "artifacts"
    config = tiny_config.model_copy(update={"run": RunConfig(series_per_task=2)})
    write_csv(three_series(400), data / "incoming", "day1.csv")
    state = retrain(config=config, data_dir=str(data), artifacts_dir=str(art), return_state=True)
    assert state.result().counts() == {"published": 3}
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        )
    names = {run.name for run in runs}
    assert {"normalize-east and 1 more", "normalize-south", "evaluate-south"} <= names  # 2 runs per stage
    assert "train-east and 2 more" in names  # but the models of a stack in one
    before = {stage: entries(data, stage) for stage in ("normalize", "window", "train")}

    south = synthetic_series(441 + 60, seed=1, kind="walk")[441:].assign(series_id="south")
    north = synthetic_series(400 + 60, seed=0, kind="sine")[400:].assign(series_id="north")
    write_csv(pd.concat([south, north]), data / "incoming", "day2.csv")
    second = retrain(config=config, data_dir=str(data), artifacts_dir=str(art))
    for stage in before:  # north shares its batch with east: east is reused from the cache, not redone
        assert len(entries(data, stage) - before[stage]) == 2, stage
    assert {o.series: o.status for o in second.series}["east"] == "unchanged"
