"""The default gate end to end: seasonal naive forecasts in the gate, a naive forecast as champion when the
model does not beat it, rolling-origin backtests and prediction intervals in `models --json`, the latest
forecasts and `predict`; warm starts from the champion."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from movavg.bundle import MODEL_FILE, read_spec
from movavg.cli import app
from movavg.config import PipelineConfig, build_config
from movavg.flows.retrain import retrain
from movavg.monitor import project_slug
from movavg.naive import NaiveSpec
from movavg.registry import current_champion, listing, series_files
from movavg.samples import synthetic_series
from tests.helpers import TINY, write_csv

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]
WEEKS = 5


def seasonal(weeks: int = WEEKS, start: int = 0) -> pd.DataFrame:
    return synthetic_series(48 * 7 * weeks, seed=4, freq="30min", kind="seasonal").iloc[start:].assign(series_id="load")


# TINY's 2-epoch model loses to the seasonal naive forecasts only without the seasonal profile and the blend
LOSING = ("window.deseasonalize=false", "train.combine_naive=false")


def default_gate(*extra: str) -> PipelineConfig:
    """TINY's small model under the default gate, with two backtest folds."""
    keep = [item for item in TINY if not item.startswith("evaluate.")]
    return build_config("default", None, [*keep, "evaluate.backtest_folds=2", *extra])


def latest_artifact_data(key: str) -> Any:
    """The data of the newest artifact with `key` on the test API (a table's rows, or markdown)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), sort=ArtifactSort.CREATED_DESC, limit=1
        )
    return json.loads(artifact.data) if artifact.type == "table" else artifact.data


def check_interval(art: Path, series: str, metrics: dict[str, object]) -> None:
    """The interval published for `series` covers and is as wide as its record says, recomputed from the published
    test-slice predictions; coverage within the README's 0.85-0.95 for a 90% interval, and its width a sane
    multiple of the best naive forecast's error (a 90% band of errors is ~2-6 MAE wide; far wider is a bug)."""
    champion = current_champion(art, series)
    predictions = pd.read_parquet(series_files(Path(champion.path), series) / "predictions.parquet")  # type: ignore[union-attr]
    inside = (predictions["actual"] >= predictions["lower"]) & (predictions["actual"] <= predictions["upper"])
    width = (predictions["upper"] - predictions["lower"]).mean()
    interval = metrics["interval"]
    assert isinstance(interval, dict)
    assert math.isclose(inside.mean(), interval["coverage"], abs_tol=1e-3)
    assert math.isclose(width, interval["width"], rel_tol=1e-3)
    assert 0.85 <= inside.mean() <= 0.95
    assert 2.0 <= width / float(metrics["baseline_mae"]) <= 6.0  # type: ignore[arg-type]


def test_a_naive_forecast_serves_when_no_model_beats_it(tmp_path: Path) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(seasonal(), data / "incoming", "load.csv")
    summary = retrain(config=default_gate(*LOSING), data_dir=str(data), artifacts_dir=str(art))
    assert summary.status == "published", summary.message
    champion = current_champion(art, "load")
    spec = read_spec(Path(champion.path))  # type: ignore[union-attr]
    assert spec.kind == "baseline" and spec.window_for("load").seasons == [48, 336]  # a day and a week of 30 min
    assert not (Path(champion.path) / MODEL_FILE).exists()  # type: ignore[union-attr]
    [entry] = listing(art)
    metrics = entry["metrics"]
    assert metrics["kind"] == f"baseline:{metrics['best_baseline']}" and metrics["best_baseline"].startswith("seasonal")
    assert metrics["mae"] == metrics["baseline_mae"] and "serves instead" in summary.message
    assert [set(fold) >= {"origin", "mae", "baseline_mae"} for fold in metrics["backtest"]] == [True, True]
    check_interval(art, "load", metrics)

    latest = pd.read_parquet(art / "forecasts" / "latest.parquet")
    assert (latest["lower"] < latest["predicted_ma"]).all() and (latest["predicted_ma"] < latest["upper"]).all()
    source = write_csv(seasonal(), tmp_path, "recent.csv")
    predicted = CliRunner().invoke(
        app,
        [
            "predict",
            "--input",
            str(source),
            "--artifacts-dir",
            str(art),
            *[a for item in TINY[:3] for a in ("--set", item)],
        ],
    )
    assert predicted.exit_code == 0, predicted.output
    rows = pd.read_csv(pd.io.common.StringIO(predicted.stdout))
    assert {"lower", "upper", "model_version"} <= set(rows.columns) and set(rows["model_version"]) == {"v1"}
    best = metrics["best_baseline"]
    needed = (
        NaiveSpec.parse(best).history(spec.window_for("load")) + 1
    )  # only what the naive forecast reads, not the LSTM's
    assert needed < spec.window_for("load").history + 1
    assert len(rows) == len(seasonal()) - needed + 1  # every window with known inputs
    stamps = pd.to_datetime(rows["timestamp"])
    assert (pd.to_datetime(rows["target_time"]) == stamps + pd.Timedelta(minutes=30) * 2).all()  # horizon 2
    few = write_csv(seasonal().tail(needed), tmp_path, "few.csv")
    one = CliRunner().invoke(
        app,
        [
            "predict",
            "--input",
            str(few),
            "--artifacts-dir",
            str(art),
            *[a for item in TINY[:3] for a in ("--set", item)],
        ],
    )
    assert one.exit_code == 0 and len(pd.read_csv(pd.io.common.StringIO(one.stdout))) == 1, one.output
    fewer = write_csv(seasonal().tail(needed - 1), tmp_path, "fewer.csv")
    short = CliRunner().invoke(
        app,
        [
            "predict",
            "--input",
            str(fewer),
            "--artifacts-dir",
            str(art),
            *[a for item in TINY[:3] for a in ("--set", item)],
        ],
    )
    assert (
        short.exit_code == 1 and f"reads {needed} rows per forecast: pass at least the newest {needed}" in short.stderr
    )

    assert metrics["epochs_run"] == 0 and metrics["lstm"]["epochs_run"] == 2  # the naive serves; the LSTM lost
    assert metrics["lstm"]["train_seconds"] > 0 and metrics["lstm"]["train_windows"] > 0
    assert metrics["lstm"]["mae"] > metrics["mae"]
    again = retrain(config=default_gate(*LOSING), data_dir=str(data), artifacts_dir=str(art))
    assert again.status == "unchanged" and current_champion(art, "load").version == "v1"  # type: ignore[union-attr]
    assert again.series[0].served_by == metrics["kind"]  # a rerun still names the naive forecast that serves
    [row] = latest_artifact_data(f"movavg-metrics-{project_slug(art)}")
    assert row["served_by"].startswith("naive: seas") and row["champion"] == "v1" and row["outcome"] == "unchanged"
    assert f"| load | unchanged | {row['served_by']} | v1 |" in latest_artifact_data(
        f"movavg-report-{project_slug(art)}"
    )
    shown = CliRunner().invoke(app, ["models", "--artifacts-dir", str(art), "--json"])
    assert json.loads(shown.stdout)[0]["metrics"]["kind"].startswith("baseline:seasonal")


def test_the_default_model_learns_the_deseasonalized_target_and_serves_its_blend(tmp_path: Path) -> None:
    """With the seasonal profile and the naive blend (the defaults), the same 2-epoch model that loses without
    them beats the seasonal naive forecasts; what it records is what its bundle serves."""
    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(seasonal(), data / "incoming", "load.csv")
    summary = retrain(config=default_gate(), data_dir=str(data), artifacts_dir=str(art))
    [entry] = listing(art)
    metrics = entry["metrics"]
    assert summary.published_version == "v1" and metrics["kind"] == "lstm", summary.message
    assert metrics["mae"] < metrics["baseline_mae"]
    spec = read_spec(Path(current_champion(art, "load").path))  # type: ignore[union-attr]
    profile = spec.window_for("load").profile
    assert profile is not None and profile.seasons == [48, 336] and [len(v) for v in profile.values] == [48, 336]
    assert metrics["blend"] == spec.blends["load"].model_dump() and metrics["ensemble"] == 1
    [row] = latest_artifact_data(f"movavg-metrics-{project_slug(art)}")
    weight = metrics["blend"]["weight"]
    assert row["served_by"] == (f"LSTM + {1 - weight:.2f} naive" if weight < 1 else "LSTM")  # as `models` says
    check_interval(art, "load", metrics)


def test_a_model_that_beats_the_naive_forecasts_replaces_the_naive_champion_and_warm_starts_later(
    tmp_path: Path,
) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    daily = synthetic_series(1500, seed=5).assign(series_id="load")  # hourly: a noisy daily cycle on a trend
    write_csv(daily, data / "incoming", "load.csv")
    first = retrain(config=default_gate(*LOSING), data_dir=str(data), artifacts_dir=str(art))
    assert "serves instead" in first.message  # the 2-epoch model loses: a naive champion first (v1)
    trained = default_gate(
        'train.layers=[{"units": 16}]', "train.epochs=30", "train.early_stopping_patience=5", "train.batch_size=null"
    )
    summary = retrain(config=trained, data_dir=str(data), artifacts_dir=str(art))
    champion = current_champion(art, "load")
    assert summary.published_version == champion.version == "v2", summary.message  # type: ignore[union-attr]
    metrics = listing(art)[-1]["metrics"]
    assert metrics["mae"] < metrics["baseline_mae"]
    check_interval(art, "load", metrics)

    write_csv(synthetic_series(1700, seed=5).iloc[1500:].assign(series_id="load"), data / "incoming", "more.csv")
    retrain(config=trained, data_dir=str(data), artifacts_dir=str(art))
    train_records = [json.loads(p.read_text()) for p in (data / "cache" / "train").glob("*/train.json")]
    assert sorted(record["warm_start"] for record in train_records) == [False, False, True]
