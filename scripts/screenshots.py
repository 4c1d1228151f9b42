"""Refresh the UI screenshots in docs/: a real server, the demo run on the CO2 sample, headless Chromium.

Run: .venv/bin/python scripts/screenshots.py   (about two minutes; needs Debian's chromium)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from movavg.localserver import api, chromium_page, latest_artifact, prefect_server
from movavg.samples import CO2_SAMPLE

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "data" / "incoming").mkdir(parents=True)
        shutil.copy2(CO2_SAMPLE, root / "data" / "incoming")
        with prefect_server(root / "home") as base:
            env = {**os.environ, "PREFECT_API_URL": f"{base}/api", "PREFECT_HOME": str(root / "home")}
            movavg = str(Path(sys.executable).with_name("movavg"))
            for _ in range(2):  # a full run, then a no-new-data rerun
                subprocess.run(
                    [movavg, "run", "-d", str(root / "data"), "-a", str(root / "artifacts")],
                    env=env,
                    check=True,
                    capture_output=True,
                )
            first = api(base, "/flow_runs/filter", {"sort": "START_TIME_ASC", "limit": 1})[0]
            report = api(
                base,
                "/artifacts/filter",
                {"artifacts": {"key": {"any_": ["movavg-report"]}, "flow_run_id": {"any_": [first["id"]]}}},
            )[0]
            shots = {
                "ui-runs.png": f"{base}/runs",
                "ui-flow-run.png": f"{base}/runs/flow-run/{first['id']}",
                "ui-report.png": f"{base}/artifacts/artifact/{report['id']}",
                "ui-metrics.png": f"{base}/artifacts/artifact/{latest_artifact(base, 'movavg-metrics')['id']}",
            }
            with chromium_page(1400, 900) as page:
                for name, url in shots.items():
                    page.goto(url)
                    page.wait_for_load_state("networkidle")
                    page.wait_for_timeout(2500)
                    page.screenshot(path=str(DOCS / name))
                    print(f"wrote docs/{name}")


if __name__ == "__main__":
    main()
