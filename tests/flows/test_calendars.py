"""One project, four calendars: hourly, daily, monthly and quarterly series in one file each get their own
frequency, seasons and naive forecasts on the gate; a per-series `window.seasons` override works; `status`
names the naive forecast that gated each champion and reports the true ratio; forecasts lie on each calendar."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from movavg.bundle import read_spec
from movavg.cli import app
from movavg.config import build_config
from movavg.flows.retrain import retrain
from movavg.naive import naive_names
from movavg.registry import current_champion, metrics_of
from movavg.samples import calendar_series, synthetic_series
from tests.helpers import TINY, write_csv

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]


def mixed_calendars() -> pd.DataFrame:
    """Four series of four frequencies in one long frame; the quarterly one is a trend plus a repeating yearly
    shape, which its seasonal naive forecast (the change over the same span a year or two before) gets exactly."""
    return pd.concat(
        [
            synthetic_series(600, seed=0).assign(series_id="hourly"),
            synthetic_series(800, seed=1, freq="D", kind="yearly").assign(series_id="daily"),
            calendar_series(240, "MS", seed=2).assign(series_id="monthly"),
            calendar_series(120, "QS", seed=3, kind="repeating").assign(series_id="quarterly"),
        ],
        ignore_index=True,
    )


def test_each_series_gets_its_own_calendar_seasons_and_naive_forecasts(tmp_path: Path) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(mixed_calendars(), data / "incoming", "mixed.csv")
    overrides = ["window.horizon=5", 'window.seasons={"hourly": [12]}', "evaluate.require_beat_baseline=true"]
    config = build_config("default", None, [*TINY, *overrides])
    summary = retrain(config=config, data_dir=str(data), artifacts_dir=str(art))
    assert summary.counts() == {"published": 4}, summary.message
    expected = {  # (frequency, seasons): hourly's from the override, daily's year is longer than its train slice
        "hourly": ("h", [12]),
        "daily": ("D", [7]),
        "monthly": ("MS", [12]),
        "quarterly": ("QS-JAN", [8]),  # 4 quarters is no longer than the horizon of 5: the next multiple
    }
    for name, (alias, seasons) in expected.items():
        champion = current_champion(art, name)
        assert champion is not None, name
        spec = read_spec(Path(champion.path)).window_for(name)
        assert spec.frequency is not None and (spec.frequency.alias, spec.seasons) == (alias, seasons), name
        baselines = set(naive_names(spec)) - {"naive_last", "naive_ma"}
        assert baselines == {f"{kind}_{s}" for s in seasons for kind in ("seasonal", "seasonal_change")}, name

    status = CliRunner().invoke(app, ["status", "--json", "-d", str(data), "-a", str(art)])
    rows = {row["series"]: row for row in json.loads(status.stdout)}
    quarterly = rows["quarterly"]
    assert quarterly["served_by"] == "baseline:seasonal_change_8" and quarterly["kind"] == "naive: seas. change 8"
    for name, row in rows.items():  # the ratio shown is against the naive forecast that gated it
        metrics = metrics_of(Path(current_champion(art, name).path))[name]
        assert row["best_naive"] == metrics["best_baseline"] and row["baseline_mae"] == metrics["baseline_mae"]
    assert rows["monthly"]["best_naive"].startswith("seasonal"), rows["monthly"]
    ages = {name: (row["health"]["state"], row["health"]["age_steps"]) for name, row in rows.items()}
    assert ages == {name: ("ok", 0) for name in rows}  # each on its own cadence: the hourly one ends years earlier
    table = CliRunner().invoke(app, ["status", "-d", str(data), "-a", str(art)]).stdout
    line = " ".join(next(line for line in table.splitlines() if line.startswith("quarterly")).split())
    assert line.startswith("quarterly ok naive: seas. change 8 - ") and " seas. change 8 " in line
    models = CliRunner().invoke(app, ["models", "-a", str(art)]).stdout
    assert any("monthly" in line and "seas" in line for line in models.splitlines())

    latest = pd.read_parquet(art / "forecasts" / "latest.parquet").set_index("series_id")
    assert pd.Timestamp(latest.loc["monthly", "target_time"]).day == 1  # a month start plus 5 months
    quarter = pd.Timestamp(latest.loc["quarterly", "target_time"])
    assert (quarter.day, quarter.month % 3) == (1, 1)  # a quarter start
