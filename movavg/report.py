"""What a person reads: the training progress bar, the metrics table, the forecast plot and the
markdown run report (the Prefect tasks turn these into artifacts)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from movavg.schema import EpochHook, Evaluation, NormalizeResult, RunSummary, TrainResult


def progress_reporter(log: Callable[[str], None]) -> tuple[EpochHook, Callable[[], None]]:
    """A rich progress bar in the terminal plus one log line per epoch; returns (hook, close)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("{task.fields[losses]}"), transient=False)
    bar = progress.add_task("train", total=None, losses="")
    progress.start()

    def hook(epoch: int, epochs: int, logs: dict[str, float]) -> None:
        losses = "  ".join(f"{key} {value:.4g}" for key, value in sorted(logs.items()))
        progress.update(bar, completed=epoch, total=epochs, losses=losses)
        log(f"epoch {epoch}/{epochs}: {losses}")

    return hook, progress.stop


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
