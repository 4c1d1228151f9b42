"""Live monitoring on hand-published naive champions (no training, no Prefect): each origin scored once with
only its past, by the version that served it; health states; adaptive intervals; damaged logs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movavg.bundle import baseline_bundle, save_bundle
from movavg.config import MonitorConfig
from movavg.monitor import (
    Champions,
    event_name,
    fall_back,
    live_path,
    monitor_series,
    project_slug,
    read_health,
    read_live,
    record_health,
    score_series,
    series_health,
)
from movavg.registry import current_champion, next_version, set_champion
from movavg.schema import Evaluation, Scores, SeriesHealth, WindowSpec
from movavg.storage import atomic_write_json

WINDOW = WindowSpec(lookback=8, ma_window=4, horizon=2)


def frame(values: np.ndarray, start: str = "2024-01-01") -> pd.DataFrame:
    stamps = pd.date_range(start, periods=len(values), freq="h", tz="UTC")
    return pd.DataFrame({"timestamp": stamps, "value": np.asarray(values, dtype="float64")})


def walk(n: int, seed: int, noise: float = 1.0) -> np.ndarray:
    return 100 + np.cumsum(np.random.default_rng(seed).normal(0, noise, n))


def publish_naive(
    art: Path, series: str, naive: str, mae: float, first_origin: pd.Timestamp | None, factor: float = 1.5
) -> str:
    """A naive champion published by hand: a baseline bundle, its metrics (interval -factor .. factor scales)."""
    version = next_version(art)
    folder = art / "models" / version
    folder.mkdir(parents=True)
    save_bundle(None, baseline_bundle({series: WINDOW}, ["value"], {series: naive}), folder)
    interval = {"level": 0.9, "lower_factor": -factor, "upper_factor": factor, "calibration_windows": 50}
    record = {"kind": f"baseline:{naive}", "mae": mae, "best_baseline": "naive_last", "interval": interval}
    atomic_write_json(folder / "metrics.json", {series: record})
    atomic_write_json(folder / "run.json", {"model_key": f"key-{version}", "version": version})
    current = current_champion(art, series)
    origin = first_origin.isoformat() if first_origin is not None else None
    set_champion(art, series, version, "by hand", current.version if current else None, origin)
    return version


def score(art: Path, rows: pd.DataFrame, rate: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    return score_series(art, "s", rows, Champions(art), rate, None)


def test_each_origin_is_scored_once_with_only_its_past(tmp_path: Path) -> None:
    rows = frame(walk(300, seed=1))
    publish_naive(tmp_path, "s", "naive_ma", 1.0, rows["timestamp"][199])
    live, new = score(tmp_path, rows.iloc[:250])
    assert list(new["origin"]) == list(rows["timestamp"][199:248])  # up to the newest origin whose span is complete
    value = rows["value"].to_numpy()
    ma = rows["value"].rolling(4).mean().to_numpy()
    at = np.arange(199, 248)
    np.testing.assert_allclose(new["predicted_ma"], ma[at])  # the current MA, known at the origin
    np.testing.assert_allclose(new["actual"], ma[at + 2])
    np.testing.assert_allclose(new["naive_ma"], value[at])  # the naive best at publish: the last value
    np.testing.assert_allclose(new["abs_error"], np.abs(ma[at] - ma[at + 2]))
    scale = rows["value"].diff().abs().rolling(8).mean().to_numpy()[at]  # the window's typical step
    np.testing.assert_allclose(new["upper"] - new["predicted_ma"], 1.5 * scale)

    _, again = score(tmp_path, rows.iloc[:250])
    assert again.empty  # nothing new: nothing scored twice
    live, more = score(tmp_path, rows)
    assert more["origin"].min() == rows["timestamp"][248] and live["origin"].is_unique and len(live) == 99
    future = rows.copy()
    future.loc[260:, "value"] += 1000  # rows after an origin never change its forecast
    assert read_live(tmp_path, "s").equals(live)
    early, _ = score_series(tmp_path / "other", "s", future.iloc[:250], Champions(tmp_path), 0.0, None)
    assert early.empty  # another folder has no champion: nothing to score


def test_a_champion_change_keeps_the_history_each_row_naming_its_version(tmp_path: Path) -> None:
    rows = frame(walk(400, seed=2))
    first = publish_naive(tmp_path, "s", "naive_ma", 1.0, rows["timestamp"][99])
    score(tmp_path, rows.iloc[:200])
    second = publish_naive(tmp_path, "s", "naive_last", 1.0, rows["timestamp"][199])
    live, _ = score(tmp_path, rows.iloc[:300])
    served = live.set_index("origin")["version"]
    assert set(served[: rows["timestamp"][198]]) == {first}  # v1 still served the origins before v2's first
    assert set(served[rows["timestamp"][199] :]) == {second} and live["origin"].is_unique
    np.testing.assert_allclose(live[live["version"] == second]["predicted_ma"], rows["value"].to_numpy()[199:298])


def test_a_level_shift_degrades_exactly_that_series_and_one_without_new_rows_goes_stale(tmp_path: Path) -> None:
    config, now = MonitorConfig(), pd.Timestamp("2026-06-01", tz="UTC")
    arrived = {"calm": now, "shifted": now - pd.Timedelta(minutes=50), "quiet": now - pd.Timedelta(hours=100.5)}
    healths = {}
    for name, seed, shift, length in (("calm", 3, 0, 400), ("shifted", 4, 80, 400), ("quiet", 5, 0, 300)):
        values = walk(length, seed)
        values[340:] += shift
        rows = frame(values)
        folder = tmp_path / "processed" / name
        folder.mkdir(parents=True)
        rows.assign(series_id=name).to_parquet(folder / "series.parquet")
        ma = rows["value"].rolling(4).mean().to_numpy()
        test_mae = float(np.mean(np.abs(values[100:200] - ma[102:202])))  # what the test slice scored
        publish_naive(tmp_path, name, "naive_last", test_mae, rows["timestamp"][199])
        healths[name] = monitor_series(
            tmp_path, name, folder / "series.parquet", ["value"], arrived[name], config, Champions(tmp_path), now=now
        )
    assert healths["shifted"].state == "degraded" and "x the MAE at publish" in healths["shifted"].reasons[0]
    assert healths["calm"].state == "ok" and healths["calm"].live_windows == 100
    assert healths["quiet"].state == "stale" and healths["quiet"].age_steps == 100  # whole hours since it arrived
    assert healths["shifted"].age_steps == 0  # its data ends in 2024, but it arrived on schedule: not stale
    assert healths["calm"].live_ratio == pytest.approx(1.0)  # a naive champion against itself
    assert healths["calm"].live_mae < 1.5 * healths["calm"].publish_mae and healths["calm"].age_steps == 0


def test_adaptive_intervals_bring_a_too_narrow_interval_back_to_its_level(tmp_path: Path) -> None:
    rows = frame(walk(700, seed=6))
    publish_naive(tmp_path / "a", "s", "naive_last", 1.0, rows["timestamp"][299], factor=0.6)  # too narrow
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    for end in range(320, 701, 20):  # a run every 20 new rows: each serves the margin the outcomes so far give
        fixed, _ = score(tmp_path / "a", rows.iloc[:end], rate=0.0)
        adaptive, _ = score(tmp_path / "b", rows.iloc[:end], rate=0.05)
    assert len(fixed) == len(adaptive) > 300
    assert adaptive["margin"].nunique() <= 20  # one margin per run, the one served until the next (not per origin)
    tail = slice(150, None)  # once it has adapted
    assert fixed["covered"].iloc[tail].mean() < 0.7
    assert abs(adaptive["covered"].iloc[tail].mean() - 0.9) < 0.05
    np.testing.assert_allclose(adaptive["predicted_ma"], fixed["predicted_ma"])  # only the band moves
    width = (fixed["upper"] - fixed["lower"]).to_numpy()
    np.testing.assert_allclose(adaptive["upper"], fixed["upper"] + adaptive["margin"] * width)


def test_a_damaged_live_log_is_set_aside_and_scored_again(tmp_path: Path) -> None:
    rows = frame(walk(200, seed=7))
    publish_naive(tmp_path, "s", "naive_ma", 1.0, rows["timestamp"][99])
    live, _ = score(tmp_path, rows)
    path = live_path(tmp_path, "s")
    path.write_bytes(b"not parquet")
    again, _ = score(tmp_path, rows)
    assert path.with_suffix(".parquet.damaged").read_bytes() == b"not parquet"
    pd.testing.assert_frame_equal(again.drop(columns="scored_at"), live.drop(columns="scored_at"))

    path.unlink()
    path.mkdir()  # not a regular file: set aside too (beside the first), never read as a dataset
    assert read_live(tmp_path, "s").empty and path.with_suffix(".parquet.damaged-2").is_dir() and not path.exists()
    pd.DataFrame({"x": [1]}).to_parquet(path)  # a Parquet file that is not a live log
    assert read_live(tmp_path, "s").empty and path.with_suffix(".parquet.damaged-3").is_file()
    assert path.with_suffix(".parquet.damaged").read_bytes() == b"not parquet"  # nothing set aside is lost


def test_a_live_log_of_the_right_columns_but_wrong_types_is_set_aside_and_scored_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = frame(walk(200, seed=7))
    publish_naive(tmp_path, "s", "naive_ma", 1.0, rows["timestamp"][99])
    live, _ = score(tmp_path, rows.iloc[:150])
    path = live_path(tmp_path, "s")
    live.astype({"origin": str, "abs_error": str}).to_parquet(path)  # e.g. rewritten by a spreadsheet tool
    again, new = score(tmp_path, rows)  # scored from scratch and written, never an ArrowTypeError
    assert len(new) == len(again) == 99 and path.with_suffix(".parquet.damaged").is_file()
    assert read_live(tmp_path, "s")["origin"].dtype == live["origin"].dtype
    assert "column(s) of the wrong type: origin (large_string), abs_error (large_string)" in caplog.text


def test_a_torn_health_record_is_named_in_one_line_and_rebuilt(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from movavg.cli import app

    (tmp_path / "live").mkdir()
    (tmp_path / "live" / "health.json").write_text('{"at": "2026", "ser')
    records, problem = read_health(tmp_path)
    assert records == {} and "health.json cannot be read" in (problem or "")
    status = CliRunner().invoke(app, ["status", "-d", str(tmp_path / "data"), "-a", str(tmp_path)])
    [line] = status.stderr.strip().splitlines()
    assert status.exit_code == 0 and line.endswith("health is shown again after the next run")
    publish_naive(tmp_path, "s", "naive_last", 1.0, None)
    fresh, changes = record_health(tmp_path, [SeriesHealth(series="s", state="stale")], lambda h: h)
    assert [(h.series, before) for h, before in changes] == [("s", None)]  # announced again
    assert read_health(tmp_path) == ({"s": fresh[0].model_dump(mode="json")}, None)


def test_health_without_a_champion_and_the_project_slug(tmp_path: Path) -> None:
    empty = read_live(tmp_path, "x")
    health = series_health(tmp_path, "x", empty, None, None, None, MonitorConfig())
    assert health.state == "no champion" and health.live_windows == 0
    slug = project_slug(tmp_path / "My Project" / "artifacts")
    assert slug.startswith("my-project-") and len(slug) == len("my-project-") + 6
    assert slug != project_slug(tmp_path / "other" / "My Project" / "artifacts")


def test_fallback_replaces_only_a_degraded_model_that_lost_to_naive() -> None:
    scores = Scores(mae=1.0, rmse=1.0)
    evaluation = Evaluation(
        series="s",
        model=scores,
        baseline_last=scores,
        baseline_ma=scores,
        champion=scores,
        champion_version="v1",
        test_windows=10,
        reason="champion kept",
        predictions_path=None,
        baselines={"naive_last": scores},
        best_baseline="naive_last",
    )
    degraded = SeriesHealth(series="s", state="degraded", version="v1", served_by="lstm", live_ratio=1.4)
    degraded.reasons = ["live MAE 1.40x the naive forecast's"]
    switched = fall_back(evaluation, degraded, "fallback")
    assert switched.winner == "naive" and switched.reason.startswith("fallback: champion v1 degraded")
    assert fall_back(evaluation, degraded, "alert") is evaluation
    assert fall_back(evaluation, degraded.model_copy(update={"live_ratio": 0.9}), "fallback") is evaluation
    naive = degraded.model_copy(update={"served_by": "baseline:naive_ma"})
    assert fall_back(evaluation, naive, "fallback") is evaluation


def test_events_fire_on_entering_degraded_or_stale_and_on_recovering() -> None:
    assert event_name("degraded", None) == "movavg.series.degraded"
    assert event_name("stale", "ok") == "movavg.series.stale"
    assert event_name("ok", "degraded") == event_name("ok", "stale") == "movavg.series.recovered"
    assert event_name("ok", None) is None and event_name("ok", "no champion") is None
    assert event_name("no champion", None) is None


def test_a_damaged_champion_history_still_scores_every_version_it_names(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from movavg.registry import champion_dir, history_problem

    rows = frame(walk(200, seed=3))
    publish_naive(tmp_path, "s", "naive_ma", 1.0, rows["timestamp"][99])
    publish_naive(tmp_path, "s", "naive_last", 1.0, rows["timestamp"][149])
    path = champion_dir(tmp_path, "s") / "history.jsonl"
    first, second = path.read_bytes().splitlines()
    path.write_bytes(b"\x00" * 16 + first + b'{"version": "v9", "torn' + b"\n" + second + b"\n")  # a crash's damage
    live, _ = score(tmp_path, rows)
    assert sorted(set(live["version"])) == ["v1", "v2"] and len(live) == 99
    assert (live["version"] == "v2").sum() == 49  # from its own first origin on
    assert "1 line(s) of its champion history cannot be read" in caplog.text
    problem = history_problem(tmp_path, "s")
    assert problem is not None and problem.startswith(f"1 line(s) of {path} cannot be read (2 change(s) read)")
    assert path.read_bytes().startswith(b"\x00" * 16)  # left as it is
