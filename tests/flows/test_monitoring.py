"""Live monitoring through the retraining flow: the live log equals an independent computation from
`movavg predict`'s output, each origin scored once; a level shift degrades exactly that series and one without
new rows goes stale, in `status --json` and the run's events."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from movavg.cli import app
from movavg.config import build_config
from movavg.flows.retrain import retrain
from movavg.monitor import live_path
from movavg.naive import NaiveSpec
from movavg.samples import synthetic_series
from tests.helpers import TINY, write_csv

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]
TINY_SET = [arg for item in TINY for arg in ("--set", item)]


def naive_by_hand(name: str, value: np.ndarray, at: np.ndarray, ma_window: int, horizon: int) -> np.ndarray:
    """The naive forecasts of the module docstring of movavg.naive, written out again."""
    spec = NaiveSpec.parse(name)
    ma = pd.Series(value).rolling(ma_window).mean().to_numpy()
    if spec.kind == "last":
        return value[at]
    if spec.kind == "ma":
        return ma[at]
    seasonal = ma[at + horizon - spec.season]  # type: ignore[operator]
    return seasonal if spec.kind == "seasonal" else value[at] + seasonal - value[at - spec.season]  # type: ignore[operator]


def test_live_figures_equal_an_independent_computation_from_predict(tmp_path: Path) -> None:
    config = build_config("default", None, [*TINY, "publish.min_improvement=0.99"])  # v1 keeps serving
    data, art = tmp_path / "data", tmp_path / "artifacts"
    rows = synthetic_series(560, seed=11).assign(series_id="x")
    in_force, scored = [], [0]  # the adaptive margin each run served (latest.parquet) until the next; log rows
    for name, part in (("a.csv", rows[:400]), ("b.csv", rows[400:520]), ("c.csv", rows[520:])):
        write_csv(part, data / "incoming", name)
        retrain(config=config, data_dir=str(data), artifacts_dir=str(art))
        in_force.append(float(pd.read_parquet(art / "forecasts" / "latest.parquet")["margin"].iloc[0]))
        scored.append(len(pd.read_parquet(live_path(art, "x"))) if live_path(art, "x").exists() else 0)
    live = pd.read_parquet(live_path(art, "x"))
    batches = [live["margin"].iloc[scored[i] : scored[i + 1]] for i in (1, 2)]  # scored in runs 2 and 3
    assert all(len(b) for b in batches) and in_force[0] == 0.0 and in_force[1] != 0.0, (scored, in_force)
    for margins, served_then in zip(batches, in_force, strict=False):  # the interval served, not one replayed
        assert (margins == served_then).all(), (margins.unique(), served_then)
    assert set(live["version"]) == {"v1"} and live["origin"].is_unique and live["origin"].is_monotonic_increasing
    stamps = pd.DatetimeIndex(rows["timestamp"]).tz_localize("UTC")
    assert list(live["origin"]) == list(stamps[399:558])  # from v1's first origin to the newest complete one

    write_csv(rows, tmp_path, "all.csv")
    predicted = CliRunner().invoke(app, ["predict", "-i", str(tmp_path / "all.csv"), "-a", str(art), *TINY_SET])
    assert predicted.exit_code == 0, predicted.stderr
    served = pd.read_csv(io.StringIO(predicted.stdout), parse_dates=["timestamp"]).set_index("timestamp")
    newest = served.iloc[-1]  # predict serves the interval latest.parquet serves: the margin in force now
    latest = pd.read_parquet(art / "forecasts" / "latest.parquet").iloc[0]
    assert newest["lower"] == pytest.approx(latest["lower"]) and newest["upper"] == pytest.approx(latest["upper"])
    served = served.loc[live["origin"]]
    np.testing.assert_allclose(live["predicted_ma"], served["predicted_ma"], rtol=1e-5)
    width = (served["upper"] - served["lower"]).to_numpy() / (1 + 2 * in_force[2])  # calibrated width
    calibrated_lower = served["lower"].to_numpy() + in_force[2] * width
    np.testing.assert_allclose(live["lower"], calibrated_lower - live["margin"] * width, rtol=1e-5)
    np.testing.assert_allclose(live["upper"], calibrated_lower + width + live["margin"] * width, rtol=1e-5)
    value = rows["value"].to_numpy()
    at = np.arange(399, 558)
    actual = pd.Series(value).rolling(4).mean().to_numpy()[at + 2]
    np.testing.assert_allclose(live["actual"], actual)
    naive = naive_by_hand(str(live["naive"].iloc[0]), value, at, 4, 2)
    np.testing.assert_allclose(live["naive_abs_error"], np.abs(naive - actual), atol=1e-9)
    covered = (actual >= live["lower"]) & (actual <= live["upper"])
    np.testing.assert_array_equal(live["covered"].astype(bool), covered)

    status = CliRunner().invoke(app, ["status", "--json", "-d", str(data), "-a", str(art)])
    [entry] = json.loads(status.stdout)
    health, newest = entry["health"], slice(-100, None)
    errors = np.abs(served["predicted_ma"].to_numpy() - actual)
    assert health["live_windows"] == 100
    assert health["live_mae"] == pytest.approx(errors[newest].mean(), rel=1e-5)
    assert health["live_baseline_mae"] == pytest.approx(np.abs(naive - actual)[newest].mean())
    assert health["live_ratio"] == pytest.approx(health["live_mae"] / health["live_baseline_mae"])
    assert health["live_coverage"] == pytest.approx(covered[newest].mean())
    assert health["publish_mae"] == entry["mae"] and health["age_steps"] == 0


def arrived_long_ago(raw_dir: Path, series: str, ago: pd.Timedelta) -> None:
    """Date the arrival of a series' rows back by `ago` in the store's index (as if they came that long ago)."""
    index = json.loads((raw_dir / "_index.json").read_text())
    for part in index["series"][series]["parts"]:
        part["arrived"] = (pd.Timestamp(part["arrived"]) - ago).isoformat()
    (raw_dir / "_index.json").write_text(json.dumps(index))


def test_a_level_shift_degrades_that_series_and_one_without_new_rows_goes_stale(tmp_path: Path) -> None:
    config = build_config("default", None, [*TINY, "evaluate.require_beat_baseline=true"])
    data, art = tmp_path / "data", tmp_path / "artifacts"
    frames = {name: synthetic_series(550, seed=seed).assign(series_id=name) for seed, name in enumerate("abc")}
    frames["b"].loc[420:, "value"] += 40  # a level shift in the new rows of b
    write_csv(pd.concat(f[:400] for f in frames.values()), data / "incoming", "first.csv")
    retrain(config=config, data_dir=str(data), artifacts_dir=str(art))
    arrived_long_ago(data / "raw", "c", pd.Timedelta(hours=150.5))  # c's rows arrived 150 of its steps ago
    write_csv(pd.concat([frames["a"][400:], frames["b"][400:]]), data / "incoming", "second.csv")  # c: no new rows
    state = retrain(config=config, data_dir=str(data), artifacts_dir=str(art), return_state=True)
    assert (state.type.value, state.name) == ("COMPLETED", "Completed, 1 degraded, 1 stale")  # its name says so

    status = CliRunner().invoke(app, ["status", "--json", "-d", str(data), "-a", str(art)])
    rows = {row["series"]: row for row in json.loads(status.stdout)}
    assert rows["a"]["served_by"].startswith("baseline")  # a naive champion: its live ratio is 1 by definition
    states = {name: row["health"]["state"] for name, row in rows.items()}
    assert states == {"a": "ok", "b": "degraded", "c": "stale"}, {n: r["health"] for n, r in rows.items()}
    assert [row["series"] for row in json.loads(status.stdout)] == ["b", "c", "a"]  # worst first
    assert rows["c"]["health"]["age_steps"] == 150 and rows["b"]["health"]["live_windows"] == 100
    assert "x the MAE at publish" in rows["b"]["health"]["reasons"][0]
    recorded = json.loads((art / "live" / "health.json").read_text())["series"]
    assert recorded["b"]["version"] == rows["b"]["champion"]  # the health names what serves after the run
