"""A run against a real Prefect server is visible in its UI, checked in headless Chromium."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from movavg.localserver import api, chromium_page, latest_artifact
from movavg.monitor import project_slug
from movavg.samples import synthetic_series
from tests.helpers import client_env, movavg_command, tiny_args, write_csv

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.browser]


def test_run_metrics_and_report_are_visible_in_the_ui(prefect_server: str, tmp_path: Path) -> None:
    write_csv(synthetic_series(500, seed=7), tmp_path / "data" / "incoming", "a.csv")
    done = subprocess.run(
        movavg_command("run", "-d", str(tmp_path / "data"), "-a", str(tmp_path / "artifacts"), *tiny_args()),
        env=client_env(prefect_server, tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    finished = api(
        prefect_server,
        "/flow_runs/filter",
        {
            "sort": "START_TIME_DESC",
            "limit": 200,
            "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}, "deployment_id": {"is_null_": True}},
        },
    )
    run = next(r for r in finished if r["parameters"].get("data_dir") == str(tmp_path / "data"))
    slug = project_slug(tmp_path / "artifacts")  # artifact keys carry the project
    metrics, report, health, latest = (
        latest_artifact(prefect_server, f"movavg-{view}-{slug}") for view in ("metrics", "report", "health", "latest")
    )
    assert (
        metrics["flow_run_id"] == report["flow_run_id"] == health["flow_run_id"] == latest["flow_run_id"] == run["id"]
    )

    with chromium_page() as page:
        page.goto(f"{prefect_server}/runs")
        page.get_by_text(run["name"]).first.wait_for(timeout=60_000)

        page.goto(f"{prefect_server}/runs/flow-run/{run['id']}")
        page.get_by_text("epoch 2/2").first.wait_for(timeout=60_000)  # training loss in the run's logs
        page.get_by_text("Task Runs", exact=True).first.click()
        for stage in ("ingest", "normalize", "monitor", "window", "train", "evaluate", "publish", "health"):
            page.get_by_text(f"{stage}-").first.wait_for(timeout=30_000)
        page.get_by_text("(8 Completed)").first.wait_for(timeout=30_000)

        page.goto(f"{prefect_server}/artifacts/artifact/{metrics['id']}")
        page.get_by_text("best_naive_mae").first.wait_for(timeout=60_000)  # one row per series
        for column in ("series", "outcome", "served_by", "champion", "vs_naive"):  # key columns in view, no scroll
            box = page.get_by_text(column, exact=True).first.bounding_box()
            assert box is not None and box["x"] + box["width"] <= 1400, (column, box)

        page.goto(f"{prefect_server}/artifacts/artifact/{report['id']}")
        image = page.locator("img[src^='data:image/png']").first
        image.wait_for(timeout=60_000)
        assert image.evaluate("element => element.complete && element.naturalWidth") >= 800

        page.goto(f"{prefect_server}/artifacts/artifact/{health['id']}")
        page.get_by_text("live_ratio").first.wait_for(timeout=60_000)
        for column in ("series", "state", "served_by", "live_ratio", "coverage"):  # in view without scrolling
            box = page.get_by_text(column, exact=True).first.bounding_box()
            assert box is not None and box["x"] + box["width"] <= 1400, (column, box)

        page.goto(f"{prefect_server}/artifacts/artifact/{latest['id']}")
        page.get_by_text("What serves each series now").first.wait_for(timeout=60_000)
        plot = page.locator("img[src^='data:image/png']").first
        plot.wait_for(timeout=60_000)
        assert plot.evaluate("element => element.complete && element.naturalWidth") >= 800
