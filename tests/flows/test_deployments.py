"""Deployments: `movavg serve` and `prefect deploy` (prefect.yaml) register the same two deployments."""

from __future__ import annotations

from pathlib import Path

import yaml

from movavg.config import PipelineConfig
from movavg.flows.deployments import DEPLOYMENTS, PREFECT_YAML, build_deployments, data_resource_id, prefect_yaml


def test_prefect_yaml_is_generated_from_the_deployment_specs() -> None:
    assert yaml.safe_load(PREFECT_YAML.read_text()) == prefect_yaml(), (
        "prefect.yaml has drifted from flows/deployments.py: regenerate it with `python -m movavg.flows.deployments`"
    )


def test_prefect_yaml_on_data_trigger_matches_the_project_data_folder() -> None:
    on_data = next(d for d in prefect_yaml()["deployments"] if d["name"] == "on-data")
    match = on_data["triggers"][0]["match"]["prefect.resource.id"]
    project = "/srv/forecasts"
    assert match.replace("{{ $MOVAVG_PROJECT_DIR }}", project) == data_resource_id(
        Path(project) / on_data["parameters"]["data_dir"]
    )


def test_served_deployments_follow_the_same_specs(tmp_path: Path) -> None:
    served = build_deployments(PipelineConfig(), tmp_path / "data", tmp_path / "artifacts", 60.0, None)
    assert [d.name for d in served] == [spec.name for spec in DEPLOYMENTS] == ["scheduled", "on-data"]
    for deployment, spec in zip(served, DEPLOYMENTS, strict=True):
        assert deployment.description == spec.description
        assert deployment.concurrency_options.collision_strategy == spec.collision
        assert bool(deployment.triggers) == spec.on_data and bool(deployment.schedules) != spec.on_data
    trigger = served[1].triggers[0]
    assert trigger.match.model_dump()["prefect.resource.id"] == data_resource_id(tmp_path / "data")


def test_a_cron_schedule_replaces_the_interval(tmp_path: Path) -> None:
    scheduled, on_data = build_deployments(
        PipelineConfig(), tmp_path / "data", tmp_path / "artifacts", None, "15 */2 * * *"
    )
    [schedule] = scheduled.schedules
    assert schedule.schedule.cron == "15 */2 * * *" and not hasattr(schedule.schedule, "interval")
    assert not on_data.schedules


def test_serve_refuses_both_an_interval_and_a_cron() -> None:
    from typer.testing import CliRunner

    from movavg.cli import app

    result = CliRunner().invoke(app, ["serve", "--interval", "60", "--cron", "0 * * * *"])
    assert result.exit_code == 2 and "choose --interval or --cron, not both" in result.stderr
