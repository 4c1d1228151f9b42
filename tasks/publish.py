"""Publish stage: register the model when the gate said so, write the forecast, and show the run in the
Prefect UI as artifacts with stable keys (so they trend across runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from movavg.config import PublishConfig
from movavg.publishing import publish_run
from movavg.schema import Evaluation, IngestResult, NormalizeResult, RunSummary, TrainResult
from tasks.policies import transient_io


@task(name="publish", retries=2, retry_delay_seconds=2, retry_condition_fn=transient_io)
def publish(
    artifacts_dir: str, ingested: IngestResult, normalized: NormalizeResult, trained: TrainResult,
    evaluation: Evaluation, run_config: dict[str, Any], config: PublishConfig,
) -> RunSummary:
    """Not cached (it is the side effect); idempotent, so a retry never publishes twice."""
    outcome = publish_run(Path(artifacts_dir), ingested, normalized, trained, evaluation, run_config, config)
    create_table_artifact(key="movavg-metrics", table=outcome.metrics, description="Test-slice metrics of this run")
    registry = [{**row, "champion": "yes" if row["champion"] else ""} for row in outcome.registry]
    create_table_artifact(key="movavg-registry", table=registry, description="Published model versions")
    create_markdown_artifact(key="movavg-report", markdown=outcome.report, description=outcome.summary.message)
    get_run_logger().info(outcome.summary.message)
    return outcome.summary
