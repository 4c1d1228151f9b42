"""What a person reads: the training progress bar, the metrics table, the forecast plot and the
markdown run report (the Prefect tasks turn these into artifacts)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from movavg.labels import naive_label, serving_label
from movavg.naive import describe_naive
from movavg.schema import (
    Backtest,
    EpochHook,
    ModelledSeries,
    RunSummary,
    SeriesHealth,
    SeriesOutcome,
    Skipped,
    TrainResult,
)

PLOT_FILE = "forecast_vs_actual.png"
SHOWN_IN_SUMMARY = 5


def batch_label(names: Sequence[str]) -> str:
    """How a batch of series is named in task runs, logs and artifacts: `east`, or `east and 2 more` (never
    `east+2`, which reads like a series id)."""
    return names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more"


def progress_reporter(shown: str, log: Callable[[str], None]) -> tuple[EpochHook, Callable[[str], None]]:
    """A rich progress bar for one training (shown from its first epoch, so trainings waiting for their
    turn draw nothing) plus one log line per epoch; returns (hook, close), where `close(note)` ends the bar
    with a note (e.g. why it stopped before the last epoch). Where the output is not a terminal (a pipe, a
    log file), one plain line per training instead of a bar."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console()
    progress = Progress(
        TextColumn(f"training {shown}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[losses]}"),
        transient=False,
        console=console,
    )
    bar = progress.add_task("train", total=None, losses="")
    last: dict[str, Any] = {}

    def hook(epoch: int, epochs: int, logs: dict[str, float]) -> None:
        losses = "  ".join(f"{key} {value:.4g}" for key, value in sorted(logs.items()))
        last.update(epoch=epoch, epochs=epochs, losses=losses)
        if console.is_terminal:
            if not progress.live.is_started:
                progress.start()
            progress.update(bar, completed=epoch, total=epochs, losses=losses)
        log(f"epoch {epoch}/{epochs}: {losses}")

    def close(note: str = "") -> None:
        if console.is_terminal:
            progress.stop()
            if note and last:
                console.print(f"  {shown} {note}", highlight=False, markup=False, style="dim")
        elif last:
            console.print(
                f"trained {shown}: {last['epoch']}/{last['epochs']} epochs, {last['losses']}"
                + (f" ({note})" if note else ""),
                highlight=False,
                soft_wrap=True,
                markup=False,
            )

    return hook, close


def stage_progress(stage: str, total: int) -> tuple[Callable[[int], None], Callable[[], None]]:
    """(advance(done), end()) for a stage's progress over `total` series: a rich bar `evaluate 48/200 series` in a
    terminal, one plain line when it ends elsewhere (a pipe, a log file), so a long run never sits silent on the
    last training's bar through backtest, evaluate and publish."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console, started, done = Console(), time.perf_counter(), [0]
    progress = Progress(
        TextColumn(f"{stage:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("series"),
        TimeElapsedColumn(),
        console=console,
    )
    bar = progress.add_task(stage, total=total)
    if console.is_terminal:
        progress.start()

    def advance(count: int) -> None:
        done[0] += count
        if console.is_terminal:
            progress.update(bar, completed=done[0])

    def end() -> None:
        if console.is_terminal:
            progress.stop()
        else:
            console.print(
                f"{stage}: {done[0]} of {total} series in {time.perf_counter() - started:.0f} s",
                highlight=False,
                markup=False,
            )

    return advance, end


def stop_note(result: TrainResult, best_epoch: int | None) -> str:
    """Why a training's bar ended where it did, when that was not its last epoch."""
    if result.stop_reason == "early stopping":
        best = f"; best val_loss at epoch {best_epoch}, whose weights are kept" if best_epoch else ""
        return f"stopped early at epoch {result.epochs_run}: val_loss stopped improving{best}"
    return "stopped: loss not finite" if result.stop_reason == "non-finite loss" else ""


def stack_note(results: list[TrainResult], best_epochs: list[int | None]) -> str:
    """Why the bar of a batch of models trained together ended where it did: one model's `stop_note` (with its
    best epoch, `best_epochs[0]`), or how many of them stopped how."""
    if len(results) == 1:
        return stop_note(results[0], best_epochs[0])
    reasons = [r.stop_reason for r in results]
    counts = {reason: reasons.count(reason) for reason in ("early stopping", "all epochs", "non-finite loss")}
    said = {
        "early stopping": "stopped early",
        "all epochs": "ran every epoch",
        "non-finite loss": "stopped: loss not finite",
    }
    return f"{len(results)} models: " + ", ".join(f"{n} {said[r]}" for r, n in counts.items() if n)


def trained_line(result: TrainResult) -> str:
    """One log line for a trained model: epochs, time, why it stopped, warm start, stack, best val_loss."""
    stack = f", one of {result.stack} trained together" if result.stack > 1 else ""
    warm = ", warm start from the champion" if result.warm_start else ""
    return (
        f"trained {result.epochs_run} epoch(s) in {result.train_seconds:.1f} s ({result.stop_reason}{warm}{stack}); "
        f"best val_loss {result.best_val_loss:.4g}"
    )


def baseline_columns(predictions: pd.DataFrame) -> list[str]:
    """The naive forecasts among a predictions frame's columns."""
    return [c for c in predictions.columns if c in ("naive_last", "naive_ma") or c.startswith("seasonal_")]


def plot_forecast(
    predictions: pd.DataFrame, series: str, version: str, unit: str, path: Path, baseline_champion: str | None = None
) -> None:
    """PNG of the actual MA on the test slice against the forecast, its prediction interval (when calibrated)
    and the best naive forecast, with both test MAEs in the title (plus the previous champion when scored).
    With `baseline_champion`, the forecast published is that naive forecast."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    actual, times = predictions["actual"], predictions["timestamp"]
    mae = (predictions["predicted"] - actual).abs().mean()
    naive = min(baseline_columns(predictions), key=lambda column: (predictions[column] - actual).abs().mean())
    naive_mae = (predictions[naive] - actual).abs().mean()
    served = f"naive {describe_naive(baseline_champion)}, {version}" if baseline_champion else f"model {version}"
    figure, axes = plt.subplots(figsize=(10, 4), dpi=100)
    if {"lower", "upper"} <= set(predictions.columns) and predictions["lower"].notna().any():
        inside = ((actual >= predictions["lower"]) & (actual <= predictions["upper"])).mean()
        axes.fill_between(
            times,
            predictions["lower"],
            predictions["upper"],
            color="tab:blue",
            alpha=0.15,
            linewidth=0,
            label=f"prediction interval (covers {inside:.0%})",
        )
    axes.plot(times, actual, label="actual MA", color="black", linewidth=1.5)
    axes.plot(times, predictions["predicted"], label=served, color="tab:blue", linewidth=1.2)
    if naive != baseline_champion:
        axes.plot(
            times,
            predictions[naive],
            label=f"naive: {describe_naive(naive)}",
            color="tab:gray",
            linewidth=1,
            linestyle=":",
        )
    if "champion" in predictions and predictions["champion"].notna().any():
        axes.plot(
            times, predictions["champion"], label="previous champion", color="tab:orange", linewidth=1, linestyle="--"
        )
    axes.set_title(
        f"{series}: forecast MA vs actual on the test slice — MAE {served.split(',')[0]} {mae:.4g}, "
        f"best naive ({describe_naive(naive)}) {naive_mae:.4g}",
        fontsize=10,
    )
    axes.set_ylabel(f"moving average of {unit}")
    axes.set_xlabel("end of the input window")
    axes.legend(loc="best", fontsize=8)
    axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)


def no_new_data(champion: str | None) -> str:
    """The outcome of a series whose data, config and code did not change."""
    return f"no new data; champion {champion} unchanged"


OUTCOME_WORDS = (
    ("model published", "published", False),
    ("naive serving", "published", True),
    ("kept", "kept", None),
    ("unchanged", "unchanged", None),
)


def summary_line(outcomes: list[SeriesOutcome], skipped: list[Skipped]) -> str:
    """`6 series: 1 model published, 2 naive serving, 1 kept, 2 skipped (FB: too short, GE: too short)`: every
    series counted once, by what happened to it (a naive forecast newly published is "naive serving")."""
    modelled = [o for o in outcomes if o.status not in {"skipped", "failed"}]
    counts = []
    for word, status, naive in OUTCOME_WORDS:
        count = sum(
            o.status == status and (naive is None or o.served_by.startswith("baseline") == naive) for o in modelled
        )
        counts += [f"{count} {word.replace('model', 'models') if count > 1 else word}"] if count else []
    for failed, word in ((False, "skipped"), (True, "failed")):
        these = [s for s in skipped if s.failed == failed]
        if these:
            shown = ", ".join(f"{s.series}: {s.short_reason}" for s in these[:SHOWN_IN_SUMMARY])
            more = f", +{len(these) - SHOWN_IN_SUMMARY} more" if len(these) > SHOWN_IN_SUMMARY else ""
            counts.append(f"{len(these)} {word} ({shown}{more})")
    return f"{len(modelled) + len(skipped)} series: {', '.join(counts) or 'nothing to do'}"


def outcome_kind(outcome: SeriesOutcome) -> str:
    """What serves a series after a run (`movavg.labels.serving_label` of its champion); "" without one."""
    return outcome.label or serving_label(outcome.served_by)


def metrics_table(
    candidates: list[ModelledSeries], outcomes: list[SeriesOutcome], skipped: list[Skipped]
) -> list[dict[str, Any]]:
    """One row per series, its key columns first (series, outcome, what serves it, its champion, the MAE that
    serves against the best naive forecast's), then the LSTM's test MAE, the interval's coverage and why;
    skipped and failed series with their reason. Narrow enough for the Prefect UI; the report has the rest."""
    status = {o.series: o for o in outcomes}
    rows = []
    for candidate in candidates:
        evaluation, outcome = candidate.evaluation, status[candidate.evaluation.series]
        interval = evaluation.interval
        served = outcome.metrics.get("mae", evaluation.model.mae)
        rows.append(
            {
                "series": evaluation.series,
                "outcome": outcome.status,
                "served_by": outcome_kind(outcome),
                "champion": outcome.champion_version or "",
                "mae": _round(served),
                "vs_naive": _round(served / evaluation.baseline_mae) if evaluation.baseline_mae else None,
                "lstm_mae": _round(evaluation.model.mae),
                "best_naive": naive_label(evaluation.best_baseline),
                "best_naive_mae": _round(evaluation.baseline_mae),
                "coverage": _round(interval.coverage) if interval else None,
                "why": evaluation.reason,
            }
        )
    for skip in skipped:
        rows.append(
            {
                "series": skip.series,
                "outcome": "failed" if skip.failed else "skipped",
                "served_by": "",
                "champion": "",
                "mae": None,
                "vs_naive": None,
                "lstm_mae": None,
                "best_naive": "",
                "best_naive_mae": None,
                "coverage": None,
                "why": skip.reason,
            }
        )
    return rows


def champion_rows(registry: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The registry for the UI: one row per series with its champion's version and test MAE."""
    return [
        {
            "series": row["series"],
            "champion": row["version"],
            "created": row["created"],
            "mae": _round(row["mae"]),
            "baseline_mae": _round(row["baseline_mae"]),
        }
        for row in registry
        if row["champion"]
    ]


def _round(value: float) -> float:
    return round(value, 6)


def report_markdown(
    summary: RunSummary,
    table: list[dict[str, Any]],
    fingerprint: str,
    run_config: dict[str, Any],
    plots: dict[str, Path],
    candidates: list[ModelledSeries],
) -> str:
    """Markdown run report: the run's line, a per-series table (`table`'s rows with each candidate's details), the
    best and worst series' plots embedded as data URLs (so the Prefect UI shows them), and the config."""
    lines = [
        "# movavg run",
        "",
        summary.message,
        "",
        f"- new rows ingested: {summary.new_rows}; data fingerprint `{fingerprint[:12]}`",
        "",
    ]
    if summary.status == "unchanged":
        lines += ["No new data: every stage was served from the cache; nothing was trained.", ""]
    on_baseline = [r["series"] for r in table if str(r["served_by"]).startswith("naive")]
    if on_baseline:
        lines += [f"Served by a naive forecast (no model beat it on the test slice): {', '.join(on_baseline)}", ""]
    details = {c.evaluation.series: c for c in candidates}
    lines += [
        "| series | outcome | served by | champion | MAE (vs best naive) | LSTM MAE | best naive (MAE) | champion "
        "before | interval coverage (width) | backtest: model vs naive, per fold | why |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_report_row(r, details.get(r["series"])) for r in table]
    versions = {outcome.series: outcome.champion_version for outcome in summary.series}
    for title, series in showcase(candidates, plots):
        encoded = base64.b64encode(plots[series].read_bytes()).decode()
        version = versions.get(series)
        lines += [
            "",
            f"## {title}: {series}, the champion's forecast vs actual on the test slice",
            "",
            f"_As scored when {version or 'the champion'} was published; this run's figures are in the table._",
            "",
            f"![{series} forecast vs actual](data:image/png;base64,{encoded})",
        ]
    lines += [
        "",
        "<details><summary>config</summary>",
        "",
        "```json",
        json.dumps(run_config, indent=2),
        "```",
        "",
        "</details>",
    ]
    return "\n".join(lines)


def _report_row(row: dict[str, Any], candidate: ModelledSeries | None) -> str:
    """One series' line of the report's table; a series without a candidate (skipped, failed) has empty cells."""
    cells = [row["series"], row["outcome"], row["served_by"], row["champion"]]
    if candidate is None:
        return "| " + " | ".join([*cells, "", "", "", "", "", "", row["why"]]) + " |"
    evaluation, interval = candidate.evaluation, candidate.evaluation.interval
    ratio = f" ({row['vs_naive']:.2f}x)" if row["vs_naive"] is not None else ""
    cells += [
        f"{_fmt(row['mae'])}{ratio}",
        _fmt(row["lstm_mae"]),
        f"{row['best_naive']} ({_fmt(row['best_naive_mae'])})",
        _fmt(evaluation.champion.mae) if evaluation.champion else "",
        f"{_fmt(interval.coverage)} ({_fmt(interval.width)})" if interval else "",
        backtest_line(evaluation.backtest),
        row["why"],
    ]
    return "| " + " | ".join(cells) + " |"


def showcase(candidates: list[ModelledSeries], plots: dict[str, Path]) -> list[tuple[str, str]]:
    """(title, series) of the plots worth a look: the best and the worst series by model MAE relative to
    the better naive baseline (one plot when there is one series)."""
    scored = sorted(
        (c.evaluation.model.mae / c.evaluation.baseline_mae if c.evaluation.baseline_mae else 0.0, c.evaluation.series)
        for c in candidates
        if c.evaluation.series in plots and plots[c.evaluation.series].exists()
    )
    if not scored:
        return []
    if len(scored) == 1:
        return [("Champion", scored[0][1])]
    return [("Best series", scored[0][1]), ("Worst series", scored[-1][1])]


def backtest_line(backtest: Backtest | None) -> str:
    """`0.41/0.55, 0.39/0.52` (model MAE / best naive MAE per fold, oldest first), or "" without folds."""
    if backtest is None:
        return ""
    return ", ".join(f"{fold.mae:.3g}/{fold.baseline_mae:.3g}" for fold in backtest.folds) or backtest.note


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def health_rows(healths: list[SeriesHealth]) -> list[dict[str, Any]]:
    """The `movavg-health` table, worst first: series, state, what serves it, live ratio to the naive forecast,
    interval coverage, data age in steps, then why."""
    return [
        {
            "series": h.series,
            "state": h.state,
            "served_by": h.label or serving_label(h.served_by) or "-",
            "live_ratio": round(h.live_ratio, 3) if h.live_ratio is not None else None,
            "coverage": round(h.live_coverage, 3) if h.live_coverage is not None else None,
            "age_steps": h.age_steps,
            "why": "; ".join(h.reasons),
        }
        for h in healths
    ]


def plot_live(live: pd.DataFrame, health: SeriesHealth) -> bytes:
    """PNG of one series' recent served forecasts against the moving averages that came true (the newest 200
    scored origins, at their target times, with the served interval), and the forward forecast serving now."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recent = live.tail(200)
    figure, axes = plt.subplots(figsize=(10, 3.6), dpi=90)
    if len(recent):
        times = pd.DatetimeIndex(recent["target_time"])
        axes.fill_between(
            times, recent["lower"], recent["upper"], color="tab:blue", alpha=0.15, linewidth=0, label="served interval"
        )
        axes.plot(times, recent["actual"], color="black", linewidth=1.4, label="actual MA")
        axes.plot(times, recent["predicted_ma"], color="tab:blue", linewidth=1.1, label="served forecast")
        axes.plot(times, recent["naive_ma"], color="tab:gray", linewidth=1, linestyle=":", label="naive")
    if health.forecast:
        when, value = pd.Timestamp(health.forecast["target_time"]), float(health.forecast["predicted_ma"])
        low, high = health.forecast.get("lower"), health.forecast.get("upper")
        error = None
        if low is not None and high is not None and pd.notna(low) and pd.notna(high):
            error = [[max(value - float(low), 0.0)], [max(float(high) - value, 0.0)]]
        axes.errorbar([when], [value], yerr=error, fmt="o", color="tab:red", capsize=4, label="forecast now")
    ratio = f"{health.live_ratio:.2f}x naive" if health.live_ratio is not None else "not scored yet"
    axes.set_title(
        f"{health.series}: {health.state}, served by {health.version or 'nothing'} — live MAE {ratio} over "
        f"{health.live_windows} origins",
        fontsize=10,
    )
    axes.set_xlabel("end of the averaged span")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="best", fontsize=8)
    axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def latest_markdown(artifacts_dir: Path, healths: list[SeriesHealth], plots: int) -> str:
    """The `movavg-latest` artifact: a line per state count, then for the `plots` worst series (`healths` is
    worst first) what serves them, their live figures and a plot of the served forecasts."""
    from movavg.monitor import read_live

    counts = ", ".join(f"{sum(h.state == s for h in healths)} {s}" for s in ("degraded", "stale", "no champion", "ok"))
    lines = [f"# What serves each series now, worst first\n\n{len(healths)} series: {counts}.\n"]
    for one in healths[:plots]:
        figures = ", ".join(
            part
            for part in (
                f"live MAE {_fmt(one.live_mae)} vs naive {_fmt(one.live_baseline_mae)}" if one.live_windows else "",
                f"coverage {one.live_coverage:.0%}" if one.live_coverage is not None else "",
                f"{one.version}'s test MAE at publish {_fmt(one.publish_mae)}" if one.publish_mae is not None else "",
                f"age {one.age_steps:.0f} steps" if one.age_steps is not None else "",
            )
            if part
        )
        forward = ""
        if one.forecast:
            when = pd.Timestamp(one.forecast["target_time"])
            forward = f"; forecast now: MA {float(one.forecast['predicted_ma']):.4g} at {when:%Y-%m-%d %H:%M}"
        lines.append(f"## {one.series}: {one.state}\n\n{figures}{forward}. {'; '.join(one.reasons)}\n")
        try:
            image = base64.b64encode(plot_live(read_live(artifacts_dir, one.series), one)).decode()
            lines.append(f"![{one.series}](data:image/png;base64,{image})\n")
        except Exception as error:  # a plot is a picture of the figures above, never a reason to lose them
            lines.append(f"(plot skipped: {type(error).__name__})\n")
    return "\n".join(lines)
