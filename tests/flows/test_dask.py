"""The flow on a real Dask cluster (a `LocalCluster` of 2 worker processes): every series published as with the
default thread runner, with the same metrics, models built and saved inside the workers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.retrain import retrain
from flows.runners import task_runner_for
from movavg.config import PipelineConfig, RunConfig
from movavg.registry import current_champion, metrics_of
from tests.flows.test_many_series import SERIES, three_series
from tests.helpers import write_csv

pytestmark = [pytest.mark.slow, pytest.mark.dask, pytest.mark.usefixtures("prefect_api")]


def outcome(root: Path, config: PipelineConfig, runner: RunConfig) -> dict[str, dict[str, float]]:
    """{series: champion's test metrics} of one run on `runner` from the same day-one file."""
    write_csv(three_series(400), root / "data" / "incoming", "day1.csv")
    flow = retrain.with_options(task_runner=task_runner_for(runner))
    summary = flow(config=config.model_copy(update={"run": runner}), data_dir=str(root / "data"),
                   artifacts_dir=str(root / "artifacts"))
    assert summary.counts() == {"published": 3}, summary.message
    found = {}
    for name in SERIES:
        champion = current_champion(root / "artifacts", name)
        assert champion is not None
        found[name] = metrics_of(Path(champion.path))[name]["model"]
    return found


def test_a_local_dask_cluster_gives_the_same_champions_as_threads(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    threads = outcome(tmp_path / "threads", tiny_config, RunConfig())
    dask = outcome(tmp_path / "dask", tiny_config, RunConfig(task_runner="dask", dask_workers=2))
    assert dask.keys() == threads.keys()
    for name in SERIES:  # seeded per series: the same weights wherever a series trains
        assert dask[name] == threads[name], name
    bundles = list((tmp_path / "dask" / "artifacts" / "models").glob("v*/model.keras"))
    assert len(bundles) == 3  # each saved by the worker that trained it


def test_a_deployment_parameter_moves_a_thread_run_onto_dask(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    """The flow started on threads (as a served deployment is) reruns itself as a subflow on Dask when its
    config asks for Dask."""
    write_csv(three_series(400), tmp_path / "data" / "incoming", "day1.csv")
    config = tiny_config.model_copy(update={"run": RunConfig(task_runner="dask", dask_workers=1)})
    state = retrain(config=config, data_dir=str(tmp_path / "data"), artifacts_dir=str(tmp_path / "artifacts"),
                    return_state=True)
    summary = state.result()
    assert summary.counts() == {"published": 3}
    assert json.loads((tmp_path / "artifacts" / "runs" / "last.json").read_text())["message"] == summary.message
