"""Publishing: copy a model that passed the gate into the registry, switch the champion atomically,
write the champion's forecast for the newest data, and condense the run into a summary and reports."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from movavg.bundle import BUNDLE_FILE, MODEL_FILE, bundle_intact, load_bundle
from movavg.config import PublishConfig
from movavg.forecast import forecast_frame
from movavg.registry import current_champion, models_dir, next_version, registry_rows, set_champion
from movavg.report import metrics_table, plot_forecast, report_markdown
from movavg.schema import Evaluation, IngestResult, NormalizeResult, RunSummary, TrainResult
from movavg.storage import (
    atomic_directory,
    atomic_write_json,
    atomic_write_parquet,
    failpoint,
    remove_stale_temp,
    safe_name,
    utc_now,
)

PLOT_FILE = "forecast_vs_actual.png"


@dataclass
class PublishOutcome:
    """A run's summary plus what its Prefect artifacts show."""

    summary: RunSummary
    metrics: list[dict[str, Any]]
    registry: list[dict[str, Any]]
    report: str


def metrics_record(evaluation: Evaluation, trained: TrainResult, normalized: NormalizeResult) -> dict[str, Any]:
    """The metrics saved with a model and listed by `movavg models`."""
    return {
        "mae": evaluation.model.mae,
        "rmse": evaluation.model.rmse,
        "baseline_mae": evaluation.baseline_mae,
        "model": evaluation.model.model_dump(),
        "baseline_last": evaluation.baseline_last.model_dump(),
        "baseline_ma": evaluation.baseline_ma.model_dump(),
        "champion_before": evaluation.champion.model_dump() if evaluation.champion else None,
        "test_windows": evaluation.test_windows,
        "rows": normalized.rows,
        "epochs_run": trained.epochs_run,
        "train_seconds": trained.train_seconds,
    }


def publish_model(
    artifacts_dir: Path, trained: TrainResult, evaluation: Evaluation, normalized: NormalizeResult,
    run: dict[str, Any], config: PublishConfig,
) -> str:
    """Write `models/<version>/` in one rename, then make it champion; return the version.

    Idempotent: when this model already is the (intact) champion, as after a retried publish, its
    version is returned.
    """
    current = current_champion(artifacts_dir)
    if current is not None and current.model_key == trained.model_key and bundle_intact(Path(current.path)):
        return current.version
    version = next_version(artifacts_dir)
    source = Path(trained.model_dir)
    predictions = pd.read_parquet(evaluation.predictions_path)
    with atomic_directory(models_dir(artifacts_dir) / version) as tmp:
        for name in (MODEL_FILE, BUNDLE_FILE, "history.json"):
            shutil.copy2(source / name, tmp / name)
        predictions.to_parquet(tmp / "predictions.parquet", index=False)
        atomic_write_json(tmp / "metrics.json", metrics_record(evaluation, trained, normalized))
        atomic_write_json(tmp / "run.json", {**run, "version": version, "model_key": trained.model_key,
                                             "created": utc_now()})
        if config.plot:
            plot_forecast(predictions, f"{version}: MA forecast vs actual, test slice", tmp / PLOT_FILE)
    failpoint("publish:before-champion")
    set_champion(artifacts_dir, version, evaluation.reason)
    return version


def write_forecast(artifacts_dir: Path, normalized: NormalizeResult, fingerprint: str) -> Path | None:
    """The champion's forecast for the newest window of the series, once per (champion, data).

    None when there is no champion or its files are unreadable (the run reports that instead).
    """
    champion = current_champion(artifacts_dir)
    if champion is None or not bundle_intact(Path(champion.path)):
        return None
    folder = artifacts_dir / "forecasts"
    path = folder / f"{safe_name(normalized.series)}-{champion.version}-{fingerprint[:12]}.parquet"
    if not path.exists():
        model, bundle = load_bundle(Path(champion.path))
        frame = pd.read_parquet(normalized.path)
        latest = forecast_frame(model, bundle, frame.tail(bundle.window.lookback)).assign(model_version=champion.version)
        atomic_write_parquet(path, latest)
        atomic_write_parquet(folder / "latest.parquet", latest)
    return path


def summarize(ingested: IngestResult, evaluation: Evaluation, published: str | None, champion: str | None,
              metrics: dict[str, Any], forecast: Path | None) -> RunSummary:
    """Turn the run's outcome into a status and the one-line message."""
    if published:
        status, message = "published", f"{evaluation.reason}; champion is now {published}"
    elif evaluation.reason.startswith("unchanged") and ingested.new_rows == 0:
        status, message = "unchanged", f"no new data; champion {champion} unchanged"
    else:
        status, message = "kept", f"{evaluation.reason}; champion {champion or 'none'} unchanged"
    return RunSummary(status=status, message=message, champion_version=published or champion,
                      published_version=published, new_rows=ingested.new_rows, metrics=metrics,
                      forecast_path=str(forecast) if forecast else None)


def publish_run(
    artifacts_dir: Path, ingested: IngestResult, normalized: NormalizeResult, trained: TrainResult,
    evaluation: Evaluation, run_config: dict[str, Any], config: PublishConfig,
) -> PublishOutcome:
    """Publish when the gate said so, write the champion's forecast, and report the run."""
    remove_stale_temp(artifacts_dir)
    run = {"config": run_config, "data_fingerprint": ingested.fingerprint, "series": normalized.series}
    published = publish_model(artifacts_dir, trained, evaluation, normalized, run, config) if evaluation.publish else None
    champion = current_champion(artifacts_dir)
    forecast = write_forecast(artifacts_dir, normalized, ingested.fingerprint)
    summary = summarize(ingested, evaluation, published, champion.version if champion else None,
                        metrics_record(evaluation, trained, normalized), forecast)
    table = metrics_table(evaluation, trained, normalized, published)
    plot = Path(champion.path) / PLOT_FILE if champion else None
    report = report_markdown(summary, table, ingested.fingerprint, trained.model_key, run_config, plot)
    return PublishOutcome(summary=summary, metrics=table, registry=registry_rows(artifacts_dir), report=report)
