"""Publish: copy a model that passed the gate into the registry, switch the champion atomically,
write the champion's forecast for the newest data, and report the run as Prefect artifacts."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel

from movavg.config import PublishConfig
from tasks.evaluate import Evaluation
from tasks.forecast import BUNDLE_FILE, MODEL_FILE, bundle_intact, forecast_frame, load_bundle
from tasks.ingest import IngestResult
from tasks.normalize import NormalizeResult
from tasks.registry import current_champion, models_dir, next_version, registry_rows, set_champion
from tasks.storage import (
    atomic_directory,
    atomic_write_json,
    atomic_write_parquet,
    failpoint,
    remove_stale_temp,
    safe_name,
    utc_now,
)
from tasks.train import TrainResult

PLOT_FILE = "forecast_vs_actual.png"


class RunSummary(BaseModel):
    """What a run ended with; `message` is the one line the CLI prints."""

    status: str  # "published" | "kept" | "unchanged"
    message: str
    champion_version: str | None
    published_version: str | None
    new_rows: int
    metrics: dict[str, Any]
    forecast_path: str | None


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


def plot_forecast(predictions: pd.DataFrame, title: str, path: Path) -> None:
    """PNG of actual vs forecast MA on the test slice (plus the previous champion when scored)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(10, 4), dpi=100)
    axes.plot(predictions["timestamp"], predictions["actual"], label="actual MA", color="black", linewidth=1.5)
    axes.plot(predictions["timestamp"], predictions["predicted"], label="forecast", color="tab:blue", linewidth=1.2)
    if "champion" in predictions and predictions["champion"].notna().any():
        axes.plot(predictions["timestamp"], predictions["champion"], label="previous champion", color="tab:orange",
                  linewidth=1, linestyle="--")
    axes.set_title(title)
    axes.legend(loc="best")
    axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)


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


def metrics_table(evaluation: Evaluation, trained: TrainResult, normalized: NormalizeResult,
                  published: str | None) -> list[dict[str, Any]]:
    """One row per contender on the test slice, with the run's data size, train time and decision."""
    contenders = [("new model", evaluation.model), ("naive: last value", evaluation.baseline_last),
                  ("naive: current MA", evaluation.baseline_ma)]
    if evaluation.champion:
        contenders.append((f"champion {evaluation.champion_version}", evaluation.champion))
    common = {"data_rows": sum(normalized.rows.values()), "test_windows": evaluation.test_windows,
              "train_seconds": trained.train_seconds, "published": published or "no", "why": evaluation.reason}
    return [{"contender": name, "mae": round(s.mae, 6), "rmse": round(s.rmse, 6), **common} for name, s in contenders]


def report_markdown(summary: RunSummary, table: list[dict[str, Any]], fingerprint: str, model_key: str,
                    run_config: dict[str, Any], plot_png: Path | None) -> str:
    """Markdown run report; the champion's plot is embedded as a data URL so the Prefect UI shows it."""
    import base64
    import json

    lines = [f"# movavg run: {summary.status}", "", summary.message, "",
             f"- champion: **{summary.champion_version or 'none'}**; published this run: {summary.published_version or 'no'}",
             f"- new rows ingested: {summary.new_rows}; data fingerprint `{fingerprint[:12]}`; model key `{model_key[:12]}`", ""]
    if summary.status == "unchanged":
        lines += ["No new data: every stage was served from the cache; nothing was trained.", ""]
    lines += ["| contender | MAE | RMSE |", "|---|---|---|"]
    lines += [f"| {row['contender']} | {row['mae']:.4g} | {row['rmse']:.4g} |" for row in table]
    if plot_png and plot_png.exists():
        encoded = base64.b64encode(plot_png.read_bytes()).decode()
        lines += ["", "## Champion: forecast vs actual on the test slice", "",
                  f"![forecast vs actual](data:image/png;base64,{encoded})"]
    lines += ["", "<details><summary>config</summary>", "", "```json", json.dumps(run_config, indent=2), "```",
              "", "</details>"]
    return "\n".join(lines)


@task(name="publish", retries=2, retry_delay_seconds=2)
def publish(
    artifacts_dir: str, ingested: IngestResult, normalized: NormalizeResult, trained: TrainResult,
    evaluation: Evaluation, run_config: dict[str, Any], config: PublishConfig,
) -> RunSummary:
    """Prefect task: publish when the gate said so, write the forecast, create the run's artifacts."""
    root = Path(artifacts_dir)
    remove_stale_temp(root)
    run = {"config": run_config, "data_fingerprint": ingested.fingerprint, "series": normalized.series}
    published = publish_model(root, trained, evaluation, normalized, run, config) if evaluation.publish else None
    champion = current_champion(root)
    forecast = write_forecast(root, normalized, ingested.fingerprint)
    summary = summarize(ingested, evaluation, published, champion.version if champion else None,
                        metrics_record(evaluation, trained, normalized), forecast)
    table = metrics_table(evaluation, trained, normalized, published)
    create_table_artifact(key="movavg-metrics", table=table, description="Test-slice metrics of this run")
    create_table_artifact(key="movavg-registry", table=[{**row, "champion": "yes" if row["champion"] else ""} for row in registry_rows(root)], description="Published model versions")
    plot = Path(champion.path) / PLOT_FILE if champion else None
    create_markdown_artifact(key="movavg-report", description=summary.message, markdown=report_markdown(
        summary, table, ingested.fingerprint, trained.model_key, run_config, plot))
    get_run_logger().info(summary.message)
    return summary
