"""Monitor stage: before retraining, score each series' served forecasts on the rows that came true (its live
log) and compute its health; after publishing, record the health for the champions serving now, emit the
state-change events and the run's, and show health and the latest forecasts in the Prefect UI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.events import emit_event

from movavg.config import MonitorConfig
from movavg.monitor import (
    Champions,
    arrival_times,
    event_name,
    event_payload,
    monitor_series,
    project_slug,
    read_latest,
    record_health,
    series_resource,
    with_champion,
)
from movavg.report import health_rows, latest_markdown
from movavg.schema import Batch, NormalizeResult, RunSummary, SeriesHealth, Skipped
from movavg.tasks.policies import stage_task, transient_io

RUN_COMPLETED = "movavg.run.completed"


@stage_task("monitor", task_run_name="monitor-{batch.label}")
def monitor(
    batch: Batch[NormalizeResult], artifacts_dir: str, raw_dir: str, config: MonitorConfig
) -> list[SeriesHealth | Skipped]:
    """Not cached: it appends what came true since the last run to each series' live log (never an origin
    twice). A series whose scoring fails is reported and left out of health; it is still retrained."""
    logger, folder = get_run_logger(), Path(artifacts_dir)
    champions, latest, arrived = Champions(folder), read_latest(folder), arrival_times(Path(raw_dir))
    results: list[SeriesHealth | Skipped] = []
    for member in batch.members:
        try:
            scored = monitor_series(
                folder,
                member.series,
                Path(member.path),
                member.columns,
                arrived.get(member.series),
                config,
                champions,
                latest,
            )
        except Exception as error:  # health is a view of the served forecasts, never a reason to stop one
            logger.warning("series %r: not monitored (%s: %s)", member.series, type(error).__name__, error)
            results.append(Skipped(series=member.series, stage="monitor", reason=str(error), failed=True))
            continue
        logger.info("series %r: %s; %d origin(s) scored", member.series, scored.state, scored.scored)
        results.append(scored)
    return results


@task(name="health", retries=2, retry_delay_seconds=2, retry_condition_fn=transient_io)
def health(
    artifacts_dir: str, healths: list[SeriesHealth], summary: RunSummary, config: MonitorConfig
) -> dict[str, int]:
    """Record each series' health for the champion serving it after publish, emit `movavg.series.<state>` on
    a state change and `movavg.run.completed`, and create the `movavg-health` and `movavg-latest` artifacts.
    Returns the series per state."""
    logger, folder, slug = get_run_logger(), Path(artifacts_dir), project_slug(artifacts_dir)
    latest = read_latest(folder)
    forward = {} if latest is None else {str(r["series_id"]): r for r in latest.to_dict("records")}
    refreshed, changes = record_health(folder, healths, lambda h: with_champion(folder, h, forward.get(h.series)))
    for one, previous in changes:
        if name := event_name(one.state, previous):
            emit_event(event=name, resource=series_resource(folder, one.series), payload=event_payload(one, previous))
            logger.warning("series %r is %s: %s", one.series, one.state, "; ".join(one.reasons) or "recovered")
    counts = {state: sum(h.state == state for h in refreshed) for state in ("ok", "degraded", "stale", "no champion")}
    emit_event(
        event=RUN_COMPLETED,
        resource={"prefect.resource.id": f"movavg.project.{slug}", "movavg.artifacts-dir": str(folder)},
        payload={"status": summary.status, "message": summary.message, "health": counts, "series": len(summary.series)},
    )
    show_health(folder, refreshed, config, logger)
    return counts


def show_health(folder: Path, refreshed: list[SeriesHealth], config: MonitorConfig, logger: Any) -> None:
    """The `movavg-health` table and `movavg-latest` markdown artifacts of the project in `folder`."""
    slug = project_slug(folder)
    try:
        create_table_artifact(
            key=f"movavg-health-{slug}", table=health_rows(refreshed), description="Live health per series"
        )
        create_markdown_artifact(
            key=f"movavg-latest-{slug}",
            markdown=latest_markdown(folder, refreshed, config.latest_plots),
            description="What serves each series now, worst first",
        )
    except Exception as error:  # the health is recorded; the UI just misses this run's views
        logger.warning("health artifacts not created (%s: %s)", type(error).__name__, error)
