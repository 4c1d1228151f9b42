"""`movavg serve` against a real Prefect server: scheduled runs, no overlap, event-triggered runs, SIGTERM."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from movavg.config import build_config
from movavg.flows.deployments import degraded_automation_name, ensure_degraded_automation
from movavg.localserver import api, deployment_runs
from movavg.monitor import project_slug
from movavg.registry import current_champion
from movavg.samples import synthetic_series
from tests.helpers import TINY, client_env, movavg_command, tiny_args, write_csv

pytestmark = [pytest.mark.slow, pytest.mark.server]
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def served(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`movavg serve --interval 20` on a data folder holding one file; stopped with SIGTERM afterwards."""
    root = tmp_path_factory.mktemp("served")
    write_csv(synthetic_series(500, seed=8), root / "data" / "incoming", "a.csv")
    log = (root / "serve.log").open("w")
    process = subprocess.Popen(
        movavg_command(
            "serve", "--interval", "20", "-d", str(root / "data"), "-a", str(root / "artifacts"), *tiny_args()
        ),
        env=client_env(prefect_server, root / "home"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield root
    process.send_signal(signal.SIGTERM)
    code = process.wait(60)
    log.close()
    output = (root / "serve.log").read_text()
    assert code == 0 and "stopped; schedules paused" in output and "Traceback" not in output, output[-3000:]
    assert "(every 20 s; first run at " in output  # when the schedule first runs, said at the start
    slug = project_slug(root / "artifacts")
    ended = [line for line in output.splitlines() if line.startswith(f"movavg: scheduled run {slug}-data-")]
    assert ended and any(": Completed: " in line and "champion" in line for line in ended), output[-3000:]
    name = degraded_automation_name(root / "artifacts")
    [automation] = [a for a in api(prefect_server, "/automations/filter", {}) if a["name"] == name]
    assert automation["enabled"] is False and f"automation {name} paused" in output  # paused with the schedules


def completed(prefect_server: str, deployment: str) -> list[dict[str, Any]]:
    return [run for run in deployment_runs(prefect_server, deployment) if run["state_type"] == "COMPLETED"]


def test_schedule_produces_a_completed_run(prefect_server: str, served: Path) -> None:
    runs = wait_for(lambda: completed(prefect_server, "scheduled"), 240, "a completed scheduled run")
    assert runs[0]["parameters"]["data_dir"] == str((served / "data").resolve())
    assert current_champion(served / "artifacts", "default") is not None


def test_overlapping_runs_are_not_executed_concurrently(prefect_server: str, served: Path) -> None:
    deployment = api(prefect_server, "/deployments/filter", {"deployments": {"name": {"any_": ["scheduled"]}}})[0]
    created = [api(prefect_server, f"/deployments/{deployment['id']}/create_flow_run", {}) for _ in range(2)]
    ids = {run["id"] for run in created}

    def both_done() -> list[dict[str, Any]] | None:
        runs = [run for run in deployment_runs(prefect_server, "scheduled") if run["id"] in ids]
        return runs if len(runs) == 2 and all(run["state_type"] in TERMINAL for run in runs) else None

    runs = wait_for(both_done, 240, "both manual runs to finish")
    every = deployment_runs(prefect_server, "scheduled")
    story = [
        (r["name"], r["state_type"], r["start_time"], r["end_time"]) for r in every if r["state_type"] != "SCHEDULED"
    ]
    assert "CANCELLED" in {run["state_type"] for run in runs}, story
    ran = sorted(
        (when(run["start_time"]), when(run["end_time"]))
        for run in every
        if run["start_time"] and run["end_time"] and run["state_type"] == "COMPLETED"
    )
    for (_, first_end), (second_start, _) in itertools.pairwise(ran):
        assert second_start >= first_end, f"two runs of the deployment overlapped: {story}"


def when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def ingest_served(prefect_server: str, served: Path) -> subprocess.CompletedProcess[str]:
    """`movavg ingest` on the served data folder (it sends movavg.data.arrived), asserted to succeed."""
    ingest = subprocess.run(
        movavg_command("ingest", "-d", str(served / "data"), *tiny_args()),
        env=client_env(prefect_server, served / "home"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    return ingest


def test_data_arrived_event_starts_a_run(prefect_server: str, served: Path) -> None:
    before = {run["id"] for run in deployment_runs(prefect_server, "on-data")}
    write_csv(synthetic_series(700, seed=8)[500:], served / "data" / "incoming", "b.csv")
    ingest = ingest_served(prefect_server, served)
    assert "sent movavg.data.arrived" in ingest.stdout, ingest.stdout + ingest.stderr
    new = wait_for(
        lambda: [r for r in completed(prefect_server, "on-data") if r["id"] not in before],
        180,
        "a completed on-data run",
    )
    assert new[0]["parameters"]["data_dir"] == str((served / "data").resolve())


def test_a_degraded_series_raises_an_event_and_its_automation_retrains_it(prefect_server: str, served: Path) -> None:
    name = degraded_automation_name(served / "artifacts")
    [automation] = [a for a in api(prefect_server, "/automations/filter", {}) if a["name"] == name]
    assert automation["trigger"]["expect"] == ["movavg.series.degraded"]
    before = {run["id"] for run in deployment_runs(prefect_server, "on-data")}
    shifted = synthetic_series(800, seed=8)[700:]
    write_csv(shifted.assign(value=shifted["value"] + 200), served / "data" / "incoming", "c.csv")  # a level shift
    ingest_served(prefect_server, served)

    def degraded_events() -> list[dict[str, Any]]:
        feed = api(prefect_server, "/events/filter", {"filter": {"event": {"prefix": ["movavg.series.degraded"]}}})
        return [e for e in feed["events"] if e["resource"]["movavg.series"] == "default"]

    [event, *_] = wait_for(degraded_events, 240, "a movavg.series.degraded event")
    assert event["resource"]["prefect.resource.id"].startswith(f"movavg.series.{project_slug(served / 'artifacts')}.")
    assert event["payload"]["state"] == "degraded" and event["payload"]["live_windows"] > 0
    retrained = wait_for(
        lambda: [
            r
            for r in completed(prefect_server, "on-data")
            if r["id"] not in before and r["parameters"].get("retrain_series") == ["default"]
        ],
        300,
        "the automation's on-data run retraining the degraded series",
    )
    assert retrained[0]["parameters"]["data_dir"] == str((served / "data").resolve())


def test_serving_again_keeps_one_automation_and_the_actions_added_to_it(prefect_server: str, served: Path) -> None:
    from prefect.events.actions import DoNothing
    from prefect.settings import PREFECT_API_URL, temporary_settings

    [on_data] = api(prefect_server, "/deployments/filter", {"deployments": {"name": {"any_": ["on-data"]}}})
    name = degraded_automation_name(served / "artifacts")
    [automation] = [a for a in api(prefect_server, "/automations/filter", {}) if a["name"] == name]
    with temporary_settings({PREFECT_API_URL: f"{prefect_server}/api"}):
        from prefect.automations import Automation

        added = Automation.read(name=name)
        added.actions = [*added.actions, DoNothing()]  # what a user adds in the UI (a notification, say)
        added.update()
        assert ensure_degraded_automation(served / "artifacts", UUID(on_data["id"])) == "updated"
    [again] = [a for a in api(prefect_server, "/automations/filter", {}) if a["name"] == name]
    assert again["id"] == automation["id"]
    assert [a["type"] for a in again["actions"]] == ["run-deployment", "do-nothing"]
    assert again["actions"][0]["deployment_id"] == on_data["id"]


def test_run_form_explains_itself_and_changed_parameters_run(prefect_server: str, served: Path) -> None:
    deployment = api(prefect_server, "/deployments/filter", {"deployments": {"name": {"any_": ["scheduled"]}}})[0]
    schema = deployment["parameter_openapi_schema"]
    definitions = schema.get("definitions") or schema["$defs"]
    horizon = definitions["WindowConfig"]["properties"]["horizon"]
    assert horizon["default"] == 4 and "moving average ends" in horizon["description"]
    assert all(
        field.get("description")
        for section in ("IngestConfig", "NormalizeConfig", "TrainConfig")
        for field in definitions[section]["properties"].values()
    )

    config = build_config("default", None, [*TINY, "window.horizon=3"]).model_dump(mode="json")
    # on the on-data deployment, which queues a run that collides with another (the scheduled one, every 20 s
    # here, cancels it: that is its collision strategy, tested above)
    [on_data] = api(prefect_server, "/deployments/filter", {"deployments": {"name": {"any_": ["on-data"]}}})
    run = api(prefect_server, f"/deployments/{on_data['id']}/create_flow_run", {"parameters": {"config": config}})
    done = wait_for(
        lambda: next(
            (
                r
                for r in deployment_runs(prefect_server, "on-data")
                if r["id"] == run["id"] and r["state_type"] in TERMINAL
            ),
            None,
        ),
        300,
        "the manual run",
    )
    assert done["state_type"] == "COMPLETED"
    champion = current_champion(served / "artifacts", "default").version  # type: ignore[union-attr]
    bundle = json.loads((served / "artifacts" / "models" / champion / "bundle.json").read_text())
    assert bundle["window"]["horizon"] == 3  # another target, so published whatever its score
