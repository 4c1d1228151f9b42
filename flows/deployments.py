"""Deployments of the retraining flow, served by `movavg serve`: wiring only.

- `scheduled`: on an interval or cron; one run at a time, a colliding run is cancelled (so a backlog
  of late runs cannot pile up into many retrains).
- `on-data`: started by a `movavg.data.arrived` event for this data folder; one run at a time, a
  colliding run is queued (so data that lands mid-run is still picked up right after it).

Both runs of both deployments take the same folder lock, so they never overlap each other either.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import prefect
import yaml
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.events import DeploymentEventTrigger

from movavg.config import PipelineConfig
from movavg.flows.retrain import RUN_TAG, project_tag, retrain
from movavg.flows.runners import task_runner_for
from movavg.monitor import project_slug

DATA_ARRIVED = "movavg.data.arrived"
DEGRADED = "movavg.series.degraded"
LOCK_WAIT_SECONDS = 3600.0
DEFAULT_INTERVAL = 3600.0
ENTRYPOINT = "flows/retrain.py:retrain"
WORK_POOL = "movavg"
PROJECT_DIR = "{{ $MOVAVG_PROJECT_DIR }}"  # prefect.yaml: resolved from the environment at deploy time
PREFECT_YAML = Path(__file__).resolve().parents[1] / "prefect.yaml"


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment of the flow, as both `movavg serve` and `prefect deploy` register it."""

    name: str
    description: str
    collision: ConcurrencyLimitStrategy
    on_data: bool  # started by the data-arrived event instead of a schedule


DEPLOYMENTS = (
    DeploymentSpec(
        "scheduled",
        "Retrain on a schedule; skips quickly when no data is new.",
        ConcurrencyLimitStrategy.CANCEL_NEW,
        on_data=False,
    ),
    DeploymentSpec(
        "on-data",
        f"Retrain when a {DATA_ARRIVED} event names this data folder.",
        ConcurrencyLimitStrategy.ENQUEUE,
        on_data=True,
    ),
)


def data_resource_id(data_dir: Path | str) -> str:
    """The event resource id naming one data folder."""
    return f"movavg.data-dir.{Path(data_dir).resolve()}"


def build_deployments(
    config: PipelineConfig, data_dir: Path, artifacts_dir: Path, interval: float | None, cron: str | None
) -> list[RunnerDeployment]:
    """The scheduled and the event-triggered deployment, both with the same default parameters."""
    parameters: dict[str, Any] = {
        "config": config.model_dump(mode="json"),
        "data_dir": str(data_dir.resolve()),
        "artifacts_dir": str(artifacts_dir.resolve()),
        "lock_wait_seconds": LOCK_WAIT_SECONDS,
    }
    trigger = DeploymentEventTrigger(expect={DATA_ARRIVED}, match={"prefect.resource.id": data_resource_id(data_dir)})
    flow = retrain.with_options(task_runner=task_runner_for(config.run))
    return [
        flow.to_deployment(
            name=spec.name,
            description=spec.description,
            parameters=parameters,
            tags=[RUN_TAG, project_tag(artifacts_dir), spec.name],
            concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=spec.collision),
            **({"triggers": [trigger]} if spec.on_data else {"interval": interval, "cron": cron}),
        )
        for spec in DEPLOYMENTS
    ]


def next_run(deployment: RunnerDeployment) -> datetime | None:
    """When a deployment's schedule next starts a run (an interval counts from when it was built); None for
    one that only an event starts."""
    from prefect.server.schemas import schedules as server

    if not deployment.schedules:
        return None
    schedule = deployment.schedules[0].schedule
    dates = asyncio.run(getattr(server, type(schedule).__name__).model_validate(schedule.model_dump()).get_dates(1))
    return dates[0] if dates else None


def set_degraded_automation(artifacts_dir: Path, enabled: bool) -> bool:
    """Enable or pause the project's degraded-series automation (`serve` pauses it with its schedules when it
    stops, and enables it again when it starts); False when there is none."""
    from prefect.automations import Automation

    try:
        automation = Automation.read(name=degraded_automation_name(artifacts_dir))
    except ValueError:
        return False
    return bool(automation.enable() if enabled else automation.disable())


def degraded_automation_name(artifacts_dir: Path) -> str:
    """The automation of one project that retrains its degraded series."""
    return f"movavg-retrain-degraded-{project_slug(artifacts_dir)}"


def ensure_degraded_automation(artifacts_dir: Path, on_data: UUID) -> str:
    """Make sure the automation exists that runs the `on-data` deployment (id `on_data`) when a
    `movavg.series.degraded` event names a series of `artifacts_dir`, retraining that series cold
    (`retrain_series`). Idempotent: an existing one is kept, with any action a user added (a notification),
    its run action pointed at this deployment. Returns "created" or "updated"."""
    from prefect.automations import Automation
    from prefect.events.actions import RunDeployment
    from prefect.events.schemas.automations import EventTrigger, Posture

    trigger = EventTrigger(
        expect={DEGRADED},
        match={"prefect.resource.id": f"movavg.series.{project_slug(artifacts_dir)}.*"},
        posture=Posture.Reactive,
        threshold=1,
    )
    run = RunDeployment(
        source="selected",
        deployment_id=on_data,
        parameters={"retrain_series": ["{{ event.resource['movavg.series'] }}"]},
    )
    name = degraded_automation_name(artifacts_dir)
    try:
        existing = Automation.read(name=name)
    except ValueError:  # none yet
        Automation(
            name=name,
            description=f"Retrain a degraded series of {artifacts_dir.resolve()} cold (created by movavg serve).",
            trigger=trigger,
            actions=[run],
        ).create()
        return "created"
    existing.trigger = trigger
    existing.actions = [run, *(action for action in existing.actions if not isinstance(action, RunDeployment))]
    existing.enabled = True  # paused when serve last stopped
    existing.update()
    return "updated"


def prefect_yaml() -> dict[str, Any]:
    """The same deployments for `prefect deploy --all` on a process work pool (the content of prefect.yaml)."""
    parameters = {"data_dir": "data", "artifacts_dir": "artifacts", "lock_wait_seconds": LOCK_WAIT_SECONDS}
    deployments = []
    for spec in DEPLOYMENTS:
        entry: dict[str, Any] = {
            "name": spec.name,
            "description": spec.description,
            "entrypoint": ENTRYPOINT,
            "tags": [RUN_TAG, spec.name],
            "work_pool": {"name": WORK_POOL},
            "parameters": dict(parameters),
            "concurrency_limit": {"limit": 1, "collision_strategy": spec.collision.value},
        }
        if spec.on_data:
            match = {"prefect.resource.id": f"movavg.data-dir.{PROJECT_DIR}/data"}
            entry["triggers"] = [{"type": "event", "enabled": True, "expect": [DATA_ARRIVED], "match": match}]
        else:
            entry["schedules"] = [{"interval": DEFAULT_INTERVAL}]
        deployments.append(entry)
    return {
        "name": "movavg",
        "prefect-version": prefect.__version__,
        "build": None,
        "push": None,
        "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": PROJECT_DIR}}],
        "deployments": deployments,
    }


PREFECT_YAML_HEADER = """\
# Generated by `python -m movavg.flows.deployments` from flows/deployments.py; a test checks the two agree.
# For users with their own Prefect server and process workers (see README, "Your own Prefect server"):
#   prefect work-pool create movavg --type process
#   MOVAVG_PROJECT_DIR=$PWD prefect worker start --pool movavg   # from this folder, venv active
#   MOVAVG_PROJECT_DIR=$PWD prefect --no-prompt deploy --all     # from this folder
# Flows run in MOVAVG_PROJECT_DIR; data/ and artifacts/ are relative to it unless the parameters say otherwise.
"""


def write_prefect_yaml(path: Path = PREFECT_YAML) -> None:
    """Write `prefect_yaml()` to `path`, with the header above."""
    body = yaml.safe_dump(prefect_yaml(), sort_keys=False, default_flow_style=False)
    path.write_text(PREFECT_YAML_HEADER + body, encoding="utf-8")


def _not_shutdown_cancellation(record: logging.LogRecord) -> bool:
    """Drop asyncio's "exception in callback" records for tasks cancelled while the runner stops."""
    return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


def serve_until_stopped(
    deployments: list[RunnerDeployment],
    report: Callable[[str], None] | None = None,
    registered: Callable[[dict[str, UUID]], None] | None = None,
) -> None:
    """Serve in the foreground; SIGTERM stops it the way Ctrl-C does (schedules paused, no traceback). With
    `report`, each run of these deployments that ends is reported in one line (its state and message);
    `registered` is called with {deployment name: id} once they are registered, before serving starts."""
    from prefect.runner import Runner

    stop = threading.Event()
    if report is not None:
        names = [deployment.name for deployment in deployments]
        threading.Thread(target=watch_runs, args=(names, report, stop), daemon=True, name="movavg-runs").start()

    class QuietRunner(Runner):
        def handle_sigterm(self, *args: Any, **kwargs: Any) -> None:
            raise KeyboardInterrupt

    runner = QuietRunner(pause_on_shutdown=True)
    ids = {deployment.name: runner.add_deployment(deployment) for deployment in deployments}
    if registered is not None:
        registered(ids)
    logging.getLogger("asyncio").addFilter(_not_shutdown_cancellation)
    try:
        asyncio.run(runner.start())
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()


def watch_runs(names: list[str], report: Callable[[str], None], stop: threading.Event, every: float = 5.0) -> None:
    """Report, once each, the runs of the deployments `names` (of the retraining flow) that end from now on."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterEndTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    since, seen = datetime.now(UTC), set()
    ended = [StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED]
    while not stop.wait(every):
        try:
            with get_client(sync_client=True) as client:
                runs = client.read_flow_runs(
                    deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=names)),
                    flow_run_filter=FlowRunFilter(
                        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=ended)),
                        end_time=FlowRunFilterEndTime(after_=since),
                    ),
                )
                deployment_names = {
                    d.id: d.name
                    for d in client.read_deployments(
                        deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=names))
                    )
                }
        except Exception:  # the API busy or restarting: the next poll reports what this one missed
            continue
        for run in sorted(runs, key=lambda run: run.end_time or since):
            if run.id not in seen and run.state is not None:
                seen.add(run.id)
                where = deployment_names.get(run.deployment_id, "?")
                report(f"{where} run {run.name}: {run.state.name}: {run.state.message or 'no message'}")


if __name__ == "__main__":
    write_prefect_yaml()
