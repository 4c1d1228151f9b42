"""Refresh the UI screenshots in docs/: a real server, two runs over twelve seeded synthetic series (the second
with new rows: a level shift in two series, none for two others), headless Chromium.

Run: .venv/bin/python scripts/screenshots.py [--keep DIR]   (about five minutes; needs Debian's chromium; with
--keep the data and artifacts folders stay in DIR)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from movavg.localserver import api, chromium_page, latest_artifact, prefect_server
from movavg.monitor import project_slug

DOCS = Path(__file__).resolve().parents[1] / "docs"
NAMES = ["north", "south", "east", "west", "harbour", "airport", "mall", "campus", "depot", "plant", "clinic", "yard"]
SHIFTED, QUIET = {"east", "depot"}, {"yard", "clinic"}
CONFIG = ["window.lookback=24", "window.ma_window=6", "window.horizon=6", "train.epochs=8", "evaluate.backtest_folds=1"]


def demand(index: int, points: int) -> np.ndarray:
    """Hourly demand-like series: daily and weekly cycles, a trend, noise (seeded by `index`)."""
    rng = np.random.default_rng(index)
    steps = np.arange(points)
    daily = (4 + index % 3) * np.sin(2 * np.pi * steps / 24 + rng.uniform(0, 6))
    weekly = 2 * np.sin(2 * np.pi * steps / 168)
    return (
        50
        + 0.01 * steps * (index % 2)
        + daily
        + weekly
        + np.cumsum(rng.normal(0, 0.3, points))
        + rng.normal(0, 1, points)
    )


def drop(frame: pd.DataFrame, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / name, index=False)
    os.utime(folder / name, (time.time() - 600, time.time() - 600))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="folder for data/ and artifacts/ (kept); default: a temporary one")
    args = parser.parse_args()
    stamps = pd.date_range("2026-06-01", periods=700, freq="h")
    frames = {}
    for index, name in enumerate(NAMES):
        value = demand(index, 700)
        if name in SHIFTED:
            value[590:] += 25
        frames[name] = pd.DataFrame({"timestamp": stamps, "value": value.round(3), "series_id": name})
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        data, art = root / "data", root / "artifacts"
        with prefect_server(root / "home") as base:
            env = {**os.environ, "PREFECT_API_URL": f"{base}/api", "PREFECT_HOME": str(root / "home")}
            movavg = str(Path(sys.executable).with_name("movavg"))
            overrides = [arg for item in CONFIG for arg in ("--set", item)]
            days = (
                pd.concat(f[:500] for f in frames.values()),
                pd.concat(f[500:] for name, f in frames.items() if name not in QUIET),
            )
            for day, rows in enumerate(days):
                drop(rows, data / "incoming", f"day{day + 1}.csv")
                subprocess.run([movavg, "run", "-d", str(data), "-a", str(art), *overrides], env=env, check=True)
            subprocess.run([movavg, "status", "-d", str(data), "-a", str(art)], env=env, check=True)
            second = api(base, "/flow_runs/filter", {"sort": "START_TIME_DESC", "limit": 1})[0]
            slug = project_slug(art)
            shots = {
                "ui-runs.png": f"{base}/runs",
                "ui-flow-run.png": f"{base}/runs/flow-run/{second['id']}",
                "ui-health.png": f"{base}/artifacts/artifact/{latest_artifact(base, f'movavg-health-{slug}')['id']}",
                "ui-latest.png": f"{base}/artifacts/artifact/{latest_artifact(base, f'movavg-latest-{slug}')['id']}",
                "ui-report.png": f"{base}/artifacts/artifact/{latest_artifact(base, f'movavg-report-{slug}')['id']}",
                "ui-metrics.png": f"{base}/artifacts/artifact/{latest_artifact(base, f'movavg-metrics-{slug}')['id']}",
                "ui-events.png": f"{base}/events?events=movavg.series.degraded",
            }
            feed = api(base, "/events/filter", {"filter": {"event": {"name": ["movavg.series.degraded"]}}})
            event = feed["events"][0]
            with chromium_page(1400, 900) as page:
                for name, url in shots.items():
                    page.goto(url)
                    page.wait_for_load_state("networkidle")
                    page.wait_for_timeout(3000)
                    page.screenshot(path=str(DOCS / name))
                    print(f"wrote docs/{name}")
                page.goto(f"{base}/events/event/{event['occurred'][:10]}/{event['id']}")  # one event, its payload
                page.get_by_text("Raw", exact=True).first.click()
                page.wait_for_timeout(2000)
                page.screenshot(path=str(DOCS / "ui-event.png"))
                print("wrote docs/ui-event.png")


if __name__ == "__main__":
    main()
