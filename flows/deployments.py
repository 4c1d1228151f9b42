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
from pathlib import Path
from typing import Any

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.events import DeploymentEventTrigger

from flows.retrain import retrain
from movavg.config import PipelineConfig

DATA_ARRIVED = "movavg.data.arrived"
LOCK_WAIT_SECONDS = 3600.0


def data_resource_id(data_dir: Path | str) -> str:
    """The event resource id naming one data folder."""
    return f"movavg.data-dir.{Path(data_dir).resolve()}"


def build_deployments(
    config: PipelineConfig, data_dir: Path, artifacts_dir: Path, interval: float | None, cron: str | None
) -> list[RunnerDeployment]:
    """The scheduled and the event-triggered deployment, both with the same default parameters."""
    parameters: dict[str, Any] = {"config": config.model_dump(mode="json"), "data_dir": str(data_dir.resolve()),
                                  "artifacts_dir": str(artifacts_dir.resolve()), "lock_wait_seconds": LOCK_WAIT_SECONDS}
    scheduled = retrain.to_deployment(
        name="scheduled", interval=interval, cron=cron, parameters=parameters,
        description="Retrain on a schedule; skips quickly when no data is new.",
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
    )
    on_data = retrain.to_deployment(
        name="on-data", parameters=parameters,
        description=f"Retrain when a {DATA_ARRIVED} event names this data folder.",
        triggers=[DeploymentEventTrigger(expect={DATA_ARRIVED},
                                         match={"prefect.resource.id": data_resource_id(data_dir)})],
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE),
    )
    return [scheduled, on_data]


def _not_shutdown_cancellation(record: logging.LogRecord) -> bool:
    """Drop asyncio's "exception in callback" records for tasks cancelled while the runner stops."""
    return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


def serve_until_stopped(deployments: list[RunnerDeployment]) -> None:
    """Serve in the foreground; SIGTERM stops it the way Ctrl-C does (schedules paused, no traceback)."""
    from prefect.runner import Runner

    class QuietRunner(Runner):
        def handle_sigterm(self, *args: Any, **kwargs: Any) -> None:
            raise KeyboardInterrupt

    runner = QuietRunner(pause_on_shutdown=True)
    for deployment in deployments:
        runner.add_deployment(deployment)
    logging.getLogger("asyncio").addFilter(_not_shutdown_cancellation)
    try:
        asyncio.run(runner.start())
    except KeyboardInterrupt:
        pass
