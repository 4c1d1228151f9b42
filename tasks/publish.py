"""Publish stage: register the model when the gate said so, write the forecast, and show the run in the
Prefect UI as artifacts with stable keys per project (so they trend across runs, each project on its own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from movavg.config import PublishConfig
from movavg.monitor import project_slug
from movavg.publishing import PublishOutcome, publish_run, run_problem
from movavg.report import stage_progress
from movavg.schema import IngestResult, ModelledSeries, RunSummary, Skipped
from movavg.status import record_run, run_key
from movavg.tasks.policies import transient_io


@task(name="publish", retries=2, retry_delay_seconds=2, retry_condition_fn=transient_io)
def publish(
    artifacts_dir: str,
    ingested: IngestResult,
    candidates: list[ModelledSeries],
    skipped: list[Skipped],
    run_config: dict[str, Any],
    config: PublishConfig,
    margins: dict[str, tuple[str, float]] | None = None,
) -> RunSummary:
    """Not cached (it is the side effect); idempotent, so a retry never publishes twice. `margins`: per series,
    (champion, adaptive interval margin) from live monitoring, applied to that champion's forecast."""
    advance, end = stage_progress("publish", len(candidates)) if len(candidates) > 1 else (None, None)
    try:
        outcome = publish_run(Path(artifacts_dir), ingested, candidates, skipped, run_config, config, margins, advance)
    finally:
        if end is not None:
            end()
    complete = run_problem(candidates, skipped) is None
    key = run_key(run_config, Path(ingested.raw_dir), Path(artifacts_dir)) if complete else None
    record_run(Path(artifacts_dir), outcome.summary, key)
    logger = get_run_logger()
    show(artifacts_dir, outcome, logger)
    for series in outcome.summary.series:
        logger.info("%s: %s", series.series, series.message)
    logger.info(outcome.summary.message)
    return outcome.summary


def show(artifacts_dir: str, outcome: PublishOutcome, logger: Any) -> None:
    """The run's artifacts, keyed per project so projects sharing a server keep their own timelines."""
    slug = project_slug(artifacts_dir)
    try:
        create_table_artifact(
            key=f"movavg-metrics-{slug}", table=outcome.metrics, description="Test-slice metrics per series"
        )
        create_table_artifact(
            key=f"movavg-registry-{slug}", table=outcome.registry, description="Champion of every series"
        )
        create_markdown_artifact(
            key=f"movavg-report-{slug}", markdown=outcome.report, description=outcome.summary.message
        )
    except Exception as error:  # what was published stays published; the UI just misses this run's tables
        logger.warning("artifacts not created (%s: %s)", type(error).__name__, error)
