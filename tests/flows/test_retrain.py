"""The retraining flow end to end on a temporary Prefect API: publish, skip, retrain, reuse; a diverging or
broken model is never served; user-supplied names never escape their folder."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from movavg.config import PipelineConfig, build_config
from movavg.flows.retrain import retrain
from movavg.monitor import project_slug
from movavg.publishing import RunIncomplete
from movavg.registry import champion_dir, current_champion, series_files, series_key
from movavg.samples import synthetic_series
from tests.helpers import TINY, write_csv

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]


def champion_of(art: Path, series: str = "default") -> str | None:
    champion = current_champion(art, series)
    return champion.version if champion else None


def cache_entries(data_dir: Path, stage: str) -> list[str]:
    folder = data_dir / "cache" / stage
    return sorted(p.name for p in folder.iterdir() if ".tmp-" not in p.name) if folder.exists() else []


def test_publish_then_skip_then_retrain_on_new_data(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    full = synthetic_series(900, seed=2)
    day1, day2 = full[:600], full[600:]
    write_csv(day1, data / "incoming", "day1.csv")

    first = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    assert first.status == "published" and first.published_version == "v1"
    assert first.metrics["rows"] == {"train": 420, "val": 90, "test": 90}
    v1 = art / "models" / "v1"
    for name in ("model.keras", "bundle.json", "metrics.json", "run.json"):
        assert (v1 / name).exists(), name
    for name in ("forecast_vs_actual.png", "predictions.parquet"):
        assert (series_files(v1, "default") / name).exists(), name
    assert champion_of(art) == "v1"
    assert json.loads((v1 / "bundle.json").read_text())["stats"]["default"]["fitted_rows"] == 420
    assert first.forecast_path and len(pd.read_parquet(first.forecast_path)) == 1
    model_mtime = (Path(data / "cache" / "train") / cache_entries(data, "train")[0] / "model.keras").stat().st_mtime

    second = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    assert second.status == "unchanged" and second.message == "no new data; champion v1 unchanged"
    assert len(cache_entries(data, "train")) == 1
    assert (data / "cache" / "train" / cache_entries(data, "train")[0] / "model.keras").stat().st_mtime == model_mtime

    write_csv(day2, data / "incoming", "day2.csv")
    third = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    assert third.new_rows == 300
    assert sum(third.metrics["rows"].values()) == 900  # trained and scored on both days
    assert len(cache_entries(data, "train")) == 2
    assert third.status in {"published", "kept"}
    if third.status == "kept":
        assert "does not beat champion" in third.message


def test_how_a_folder_is_spelled_never_retrains_or_republishes(
    tmp_path: Path, tiny_config: PipelineConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`movavg run` passes folders as typed (`data`), `serve`'s deployments absolute ones; a symlink is a third
    spelling. On unchanged data each is a cache hit: nothing trains, nothing publishes."""
    project = tmp_path / "project"
    write_csv(synthetic_series(600, seed=2), project / "data" / "incoming", "day1.csv")
    (tmp_path / "link").symlink_to(project, target_is_directory=True)
    monkeypatch.chdir(project)
    first = retrain(config=tiny_config, data_dir="data", artifacts_dir="artifacts")
    assert first.published_version == "v1"
    trained = cache_entries(project / "data", "train")
    spellings = [
        (str(project / "data"), str(project / "artifacts")),  # serve's parameters: absolute
        (str(tmp_path / "link" / "data"), str(tmp_path / "link" / "artifacts")),  # through a symlink
        ("./data/", "artifacts/../artifacts"),
    ]
    for data_dir, artifacts_dir in spellings:
        again = retrain(config=tiny_config, data_dir=data_dir, artifacts_dir=artifacts_dir)
        assert again.message == "no new data; champion v1 unchanged", (data_dir, again.message)
        assert cache_entries(project / "data", "train") == trained, data_dir  # no model trained again
    assert sorted(p.name for p in (project / "artifacts" / "models").iterdir()) == ["v1"]


def test_a_gain_within_retraining_noise_never_churns_the_champion(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    """Retrains on the same rows that differ only in their initial weights (`train.seed`): a challenger better by
    chance, by less than publish.min_improvement, leaves the champion serving, and the run says why."""
    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(synthetic_series(600, seed=2), data / "incoming", "day1.csv")
    assert retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art)).published_version == "v1"
    messages = []
    for seed in (1, 2, 3):
        config = build_config("default", None, [*TINY, f"train.seed={seed}", "publish.min_improvement=0.5"])
        again = retrain(config=config, data_dir=str(data), artifacts_dir=str(art))
        assert again.published_version is None and champion_of(art) == "v1", again.message
        messages.append(again.message)
    assert any("better than champion's" in m and "within retraining noise" in m for m in messages), messages


def test_changing_only_training_config_reuses_earlier_stages(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(synthetic_series(500, seed=3), data / "incoming", "a.csv")
    retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    before = {stage: cache_entries(data, stage) for stage in ("normalize", "window", "train")}

    changed = tiny_config.model_copy(update={"train": tiny_config.train.model_copy(update={"epochs": 3})})
    summary = retrain(config=changed, data_dir=str(data), artifacts_dir=str(art))
    assert cache_entries(data, "normalize") == before["normalize"]
    assert cache_entries(data, "window") == before["window"]
    assert len(cache_entries(data, "train")) == 2
    assert summary.metrics["epochs_run"] == 3


def test_deleting_the_cache_is_safe(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    import shutil

    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(synthetic_series(500, seed=4), data / "incoming", "a.csv")
    retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    shutil.rmtree(data / "cache")
    again = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    # Retrained from scratch, bit-identical (seeded), so recognised as the champion itself.
    assert again.status == "unchanged" and len(cache_entries(data, "train")) == 1


def test_bad_file_is_quarantined_and_the_champion_stays(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(synthetic_series(500, seed=5), data / "incoming", "good.csv")
    retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    pointer = champion_dir(art, "default") / "champion.json"
    champion = pointer.read_text()
    write_csv(pd.DataFrame({"when": ["x"], "value": [1]}), data / "incoming", "broken.csv")
    summary = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    assert summary.status == "unchanged"
    assert (data / "quarantine" / "broken.csv.reason.json").exists()
    assert pointer.read_text() == champion


def test_no_data_fails_with_what_to_do(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    (tmp_path / "data").mkdir()
    with pytest.raises(
        RunIncomplete, match=f"no data ingested yet: put CSV or Parquet files into {tmp_path}/data/incoming/"
    ):
        retrain(config=tiny_config, data_dir=str(tmp_path / "data"), artifacts_dir=str(tmp_path / "artifacts"))


def test_a_missing_data_folder_is_named_and_never_created(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    with pytest.raises(RunIncomplete, match=f"data folder {tmp_path}/dta does not exist"):
        retrain(config=tiny_config, data_dir=str(tmp_path / "dta"), artifacts_dir=str(tmp_path / "artifacts"))
    assert not (tmp_path / "dta").exists()


def test_a_constant_series_is_skipped_with_its_reason(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(synthetic_series(400, seed=6).assign(value=5.0), data / "incoming", "flat.csv")
    with pytest.raises(RunIncomplete, match=r"no series could be modelled: default: constant \(value is always 5\)"):
        retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    assert current_champion(art, "default") is None


def test_too_short_series_fails_with_what_to_do_and_keeps_the_champion(
    tmp_path: Path, tiny_config: PipelineConfig
) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(synthetic_series(500, seed=7), data / "incoming", "a.csv")
    retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    longer = tiny_config.model_copy(update={"window": tiny_config.window.model_copy(update={"lookback": 400})})
    with pytest.raises(
        RunIncomplete, match=r"too short: the train slice has 350 rows, too few for one window reading 400 rows"
    ):
        retrain(config=longer, data_dir=str(data), artifacts_dir=str(art))
    assert champion_of(art) == "v1"


def test_a_retried_publish_does_not_publish_twice(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    from movavg.publishing import publish_model
    from movavg.schema import Evaluation, ModelledSeries, NormalizeResult, Scores, TrainResult

    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(synthetic_series(500, seed=8), data / "incoming", "a.csv")
    summary = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    run = json.loads((art / "models" / "v1" / "run.json").read_text())
    trained = TrainResult(
        series=["default"],
        train_windows=1,
        model_dir=str(data / "cache" / "train" / run["model_key"]),
        model_key=run["model_key"],
        epochs_run=2,
        best_val_loss=1.0,
        final_loss=1.0,
        train_seconds=1.0,
        finite=True,
        stop_reason="all epochs",
    )
    score = Scores(mae=summary.metrics["mae"], rmse=summary.metrics["rmse"])
    evaluation = Evaluation(
        series="default",
        model=score,
        baseline_last=score,
        baseline_ma=score,
        champion=None,
        champion_version=None,
        test_windows=1,
        reason="retry",
        predictions_path=None,
    )
    normalized = NormalizeResult.model_construct(series="default")
    candidate = ModelledSeries.model_construct(normalized=normalized, trained=trained, evaluation=evaluation)
    assert publish_model(art, [candidate], {}, tiny_config.publish) == "v1"
    assert sorted(p.name for p in (art / "models").iterdir()) == ["v1"]


def test_multifeature_preset_end_to_end(tmp_path: Path) -> None:
    """The seed's 3-feature model: `value` plus two feature columns in, MA of `value` out."""
    from movavg.config import build_config

    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(synthetic_series(400, seed=9, features=2), data / "incoming", "three.csv")
    config = build_config("seed-multifeature", None, ["train.epochs=1", "evaluate.backtest_folds=0"])
    summary = retrain(config=config, data_dir=str(data), artifacts_dir=str(art))
    bundle = json.loads((art / "models" / "v1" / "bundle.json").read_text())
    assert summary.status == "published" and bundle["columns"] == ["value", "feature_1", "feature_2"]
    assert len(bundle["stats"]["default"]["mean"]) == 3
    assert {k: bundle["window"][k] for k in ("lookback", "ma_window", "horizon")} == {
        "lookback": 5,
        "ma_window": 5,
        "horizon": 0,
    }


def test_the_report_of_a_no_new_data_run_says_so(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(synthetic_series(400, seed=10), data / "incoming", "a.csv")
    for _ in range(2):
        retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    with get_client(sync_client=True) as client:
        report = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"movavg-report-{project_slug(art)}"])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )[0]
    assert "no new data; champion v1 unchanged" in report.data and "nothing was trained" in report.data
    assert "data:image/png;base64," in report.data


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_diverging_training_is_never_published(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    write_csv(synthetic_series(500, seed=13), tmp_path / "data" / "incoming", "a.csv")
    config = build_config(
        "default",
        None,
        [*TINY, "train.learning_rate=1e12", "train.epochs=6", 'train.layers=[{"units": 8, "activation": "relu"}]'],
    )
    summary = retrain(config=config, data_dir=str(tmp_path / "data"), artifacts_dir=str(tmp_path / "artifacts"))
    assert summary.status == "kept" and "not finite" in summary.message
    assert summary.metrics["epochs_run"] == 1  # stopped by its first non-finite epoch, not run to the end
    assert current_champion(tmp_path / "artifacts", "default") is None
    assert not (tmp_path / "artifacts" / "models").exists()


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_corrupt_champion_is_reported_and_replaced(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(synthetic_series(500, seed=14), data / "incoming", "a.csv")
    retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    (art / "models" / "v1" / "model.keras").write_bytes(b"not a zip")
    summary = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    assert summary.status == "published" and "unreadable" in summary.message
    assert champion_of(art) == "v2"
    (art / "models" / "v2" / "model.keras").unlink()
    summary = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    assert summary.published_version == "v3" and "unreadable" in summary.message
    spec = art / "models" / "v3" / "bundle.json"
    spec.write_text(spec.read_text()[:40])  # torn: the next model cannot warm-start from it, and trains cold
    longer = tiny_config.model_copy(update={"train": tiny_config.train.model_copy(update={"epochs": 3})})
    summary = retrain(config=longer, data_dir=str(data), artifacts_dir=str(art))
    assert summary.published_version == "v4" and "unreadable" in summary.message
    assert summary.metrics["warm_start"] is False


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_series_ids_cannot_escape_the_forecasts_folder(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(synthetic_series(500, seed=15).assign(series_id="../../escaped"), data / "incoming", "a.csv")
    summary = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    forecast = Path(summary.forecast_path or "")
    assert forecast.parent == art / "forecasts" and forecast.name.startswith(series_key("../../escaped") + "-v1-")
    assert series_key("../../escaped").startswith("_.._escaped-")
    assert not list(tmp_path.parent.glob("escaped*")) and not list(tmp_path.glob("escaped*"))
    assert pd.read_parquet(forecast)["series_id"].iloc[0] == "../../escaped"  # the id itself is kept as data
