"""The flow on a real Dask cluster (a `LocalCluster` of 2 worker processes, built with the options `movavg` gives
its own local clusters): every series published as with the default thread runner, with the same metrics, and
the scheduler's task stream showing the stages ran in the workers, with TensorFlow's thread limits set there."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client, LocalCluster, get_task_stream

from movavg.config import PipelineConfig, RunConfig
from movavg.flows.retrain import retrain
from movavg.flows.runners import task_runner_for
from movavg.registry import current_champion, metrics_of
from tests.flows.test_many_series import SERIES, three_series
from tests.helpers import write_csv

pytestmark = [pytest.mark.slow, pytest.mark.dask, pytest.mark.usefixtures("prefect_api")]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Client]:
    """A local cluster started with the worker options of `task_runner_for` (processes, one thread each, the
    worker environment), and a client on it."""
    runner = task_runner_for(RunConfig(task_runner="dask", dask_workers=2))
    with LocalCluster(**runner.cluster_kwargs) as local, Client(local) as client:  # type: ignore[attr-defined]
        yield client


def worker_env(name: str) -> str | None:
    return os.environ.get(name)


def test_local_workers_are_processes_with_one_thread_each_and_tensorflow_limited(cluster: Client) -> None:
    workers = cluster.scheduler_info()["workers"]
    assert len(workers) == 2 and {info["nthreads"] for info in workers.values()} == {1}
    pids = cluster.run(os.getpid)
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
    for name, value in (("TF_NUM_INTRAOP_THREADS", "1"), ("TF_NUM_INTEROP_THREADS", "2"), ("OMP_NUM_THREADS", "1")):
        assert set(cluster.run(worker_env, name).values()) == {value}, name


def outcome(root: Path, config: PipelineConfig, runner: RunConfig) -> dict[str, dict[str, float]]:
    """{series: champion's test metrics} of one run on `runner` from the same day-one file."""
    write_csv(three_series(400), root / "data" / "incoming", "day1.csv")
    flow = retrain.with_options(task_runner=task_runner_for(runner))
    summary = flow(
        config=config.model_copy(update={"run": runner}),
        data_dir=str(root / "data"),
        artifacts_dir=str(root / "artifacts"),
    )
    assert summary.counts() == {"published": 3}, summary.message
    found = {}
    for name in SERIES:
        champion = current_champion(root / "artifacts", name)
        assert champion is not None
        found[name] = metrics_of(Path(champion.path))[name]["model"]
    return found


def test_a_local_dask_cluster_gives_the_same_champions_as_threads(
    tmp_path: Path, tiny_config: PipelineConfig, cluster: Client
) -> None:
    threads = outcome(tmp_path / "threads", tiny_config, RunConfig())
    address = cluster.scheduler.address  # type: ignore[union-attr]
    with get_task_stream(cluster) as stream:
        dask = outcome(tmp_path / "dask", tiny_config, RunConfig(task_runner="dask", dask_address=address))
    ran_on = {task["worker"] for task in stream.data}
    assert len(stream.data) >= 4 * len(SERIES) and ran_on <= set(cluster.scheduler_info()["workers"]), ran_on
    assert dask.keys() == threads.keys()
    for name in SERIES:  # seeded per series: the same weights wherever a series trains
        assert dask[name] == threads[name], name
    bundles = list((tmp_path / "dask" / "artifacts" / "models").glob("v*/model.keras"))
    assert len(bundles) == 3  # each saved by the worker that trained it


def test_a_deployment_parameter_moves_a_thread_run_onto_dask(
    tmp_path: Path, tiny_config: PipelineConfig, cluster: Client
) -> None:
    """The flow started on threads (as a served deployment is) reruns itself as a subflow on Dask when its
    config asks for Dask: the cluster's task stream shows the stages."""
    write_csv(three_series(400), tmp_path / "data" / "incoming", "day1.csv")
    address = cluster.scheduler.address  # type: ignore[union-attr]
    config = tiny_config.model_copy(update={"run": RunConfig(task_runner="dask", dask_address=address)})
    with get_task_stream(cluster) as stream:
        state = retrain(
            config=config, data_dir=str(tmp_path / "data"), artifacts_dir=str(tmp_path / "artifacts"), return_state=True
        )
    summary = state.result()
    assert summary.counts() == {"published": 3} and state.name == "Completed"  # the subflow's state, as it ended
    assert len(stream.data) >= 4 * len(SERIES)  # ingest and publish run in the flow; the series' stages on Dask
    assert json.loads((tmp_path / "artifacts" / "runs" / "last.json").read_text())["message"] == summary.message


def test_a_command_line_run_on_dask_names_its_cluster_and_closes_it_quietly(tmp_path: Path) -> None:
    import subprocess

    from tests.helpers import movavg_command, tiny_args

    write_csv(three_series(300), tmp_path / "data" / "incoming", "day1.csv")
    env = {k: v for k, v in os.environ.items() if k not in {"PREFECT_API_URL", "MOVAVG_VERBOSE"}}
    done = subprocess.run(
        movavg_command(
            "run",
            "-d",
            str(tmp_path / "data"),
            "-a",
            str(tmp_path / "artifacts"),
            *tiny_args(),
            "--task-runner",
            "dask",
            "--set",
            "run.dask_workers=2",
        ),
        env={**env, "PREFECT_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "3 series: 3 models published" in output, output[-3000:]
    assert "the series' stages run on a local Dask cluster at tcp://127.0.0.1:" in output
    assert "2 worker process(es), 1 thread each; dashboard:" in output
    for noise in ("distributed.nanny", "still alive", "Traceback"):
        assert noise not in output, (noise, output[-3000:])
