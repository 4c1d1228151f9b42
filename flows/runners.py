"""Task runners: where the per-series tasks run (`run.task_runner` of the config).

`threads` keeps them in the flow's process. `dask` runs them on a Dask cluster: a local one of worker
processes with one thread each (TensorFlow's thread pools limited to match, so N workers do not fight over
N cores), or an existing one at `run.dask_address`. Keras models never travel: each task builds, fits and
saves its model inside the worker and returns paths and small pydantic results.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from movavg.config import RunConfig
from movavg.runtime import DEFAULTS

# Set in every local worker before TensorFlow loads there: one thread for each op's own work, quiet start-up.
# The inter-op pool keeps 2 threads: with 1, the tf.data window feed (whose ops wait on other ops) deadlocked.
WORKER_ENV = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "2", "OMP_NUM_THREADS": "1", **DEFAULTS}


def task_runner_for(run: RunConfig) -> TaskRunner:
    """The task runner `run` asks for (a new one: a local Dask cluster starts with the flow run, ~10 s)."""
    if run.task_runner == "threads":
        return ThreadPoolTaskRunner()
    from prefect_dask import DaskTaskRunner

    if run.dask_address:
        return DaskTaskRunner(address=run.dask_address)
    return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs=local_cluster_options(run))


def local_cluster_options(run: RunConfig, dashboard: bool = False) -> dict[str, Any]:
    """`LocalCluster` options for `run`: worker processes of one thread each with the worker environment; a
    dashboard on a free loopback port when asked for and bokeh (which serves it) is installed."""
    env = {
        **WORKER_ENV,
        **{name: value for name, value in os.environ.items() if name.startswith(("PREFECT_", "MOVAVG_"))},
    }
    dashboard_address = "127.0.0.1:0" if dashboard and importlib.util.find_spec("bokeh") else None
    return {
        "n_workers": run.dask_workers,
        "threads_per_worker": 1,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": dashboard_address,
        "env": env,
    }


@contextmanager
def local_dask_cluster(run: RunConfig) -> Iterator[tuple[TaskRunner, str]]:
    """A local Dask cluster for one run started from the command line, and a line naming it (its address,
    workers and dashboard link); closed quietly afterwards (no nanny lines about killing its workers)."""
    from distributed import LocalCluster
    from prefect_dask import DaskTaskRunner

    for name in ("distributed", "distributed.nanny", "distributed.worker", "distributed.scheduler"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with LocalCluster(**local_cluster_options(run, dashboard=True)) as cluster:
        link = cluster.dashboard_link if cluster.scheduler_info.get("services", {}).get("dashboard") else ""
        line = (
            f"the series' stages run on a local Dask cluster at {cluster.scheduler_address}: {run.dask_workers} "
            f"worker process(es), 1 thread each; dashboard: {link or 'none (pip install bokeh for one)'}"
        )
        try:
            yield DaskTaskRunner(address=cluster.scheduler_address), line
        finally:
            quiet_workers(cluster)


def quiet_workers(cluster: Any) -> None:
    """Before a local cluster closes: its worker processes stop logging, so a heartbeat that meets the closing
    scheduler prints no traceback (best effort: a cluster that cannot be reached closes as it is)."""
    from distributed import Client

    try:
        with Client(cluster, set_as_default=False) as client:
            client.run(_silence_distributed)
    except Exception:
        pass


def _silence_distributed() -> None:
    """Run in each worker process: the `distributed` loggers say nothing more."""
    for name in ("distributed", "distributed.worker", "distributed.core", "distributed.comm", "distributed.nanny"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def runs_on(current: TaskRunner, run: RunConfig) -> bool:
    """Whether the flow run's task runner is the one `run` asks for."""
    if run.task_runner == "threads":
        return isinstance(current, ThreadPoolTaskRunner)
    from prefect_dask import DaskTaskRunner

    return isinstance(current, DaskTaskRunner) and (not run.dask_address or current.address == run.dask_address)
