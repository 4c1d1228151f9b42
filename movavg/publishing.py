"""Publishing: register every model that passed its series' gate, switch those series' champions
(compare-and-swap), write the latest forecast of every series with a champion, and condense the run into
per-series outcomes, a one-line summary and the reports the Prefect UI shows."""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from movavg.bundle import BUNDLE_FILE, MODEL_FILE, baseline_bundle, read_spec, save_bundle
from movavg.config import PublishConfig
from movavg.evaluation import metrics_record
from movavg.forecast import newest_forecast, widened
from movavg.model import load_reused
from movavg.naive import describe_naive
from movavg.rawstore import index_summary
from movavg.registry import (
    DamagedState,
    champion_label,
    champion_problem,
    current_champion,
    metrics_of,
    models_dir,
    next_version,
    pointer_record,
    promoted_by_hand,
    registry_rows,
    repair_pointer,
    series_files,
    series_key,
    set_champion,
)
from movavg.report import (
    PLOT_FILE,
    champion_rows,
    metrics_table,
    no_new_data,
    plot_forecast,
    report_markdown,
    summary_line,
)
from movavg.schema import (
    SERIES,
    TIMESTAMP,
    ChampionRef,
    Evaluation,
    IngestResult,
    ModelledSeries,
    RunSummary,
    SeriesOutcome,
    Skipped,
)
from movavg.session import keras_session
from movavg.status import last_outcomes
from movavg.storage import (
    atomic_directory,
    atomic_write_json,
    atomic_write_parquet,
    failpoint,
    remove_stale_temp,
    stable_hash,
    utc_now,
)

LATEST = "latest.parquet"
log = logging.getLogger("movavg.publishing")


@dataclass
class PublishOutcome:
    """A run's summary plus what its Prefect artifacts show."""

    summary: RunSummary
    metrics: list[dict[str, Any]]
    registry: list[dict[str, Any]]
    report: str


def publish_model(
    artifacts_dir: Path,
    winners: list[ModelledSeries],
    run: dict[str, Any],
    config: PublishConfig,
    plotted: set[str] | None = None,
) -> str:
    """Write `models/<version>/` for one trained model in one rename, then make it champion of every series
    in `winners` (each a compare-and-swap from the champion it was scored against); return the version.

    Idempotent: series whose (intact) champion already is this model, as after a retried publish, are left
    alone, and when that is every series the champion's version is returned.
    """
    trained = winners[0].trained
    pending = [c for c in winners if not _is_champion(artifacts_dir, c)]
    if not pending:
        return current_champion(artifacts_dir, winners[0].evaluation.series).version  # type: ignore[union-attr]

    def bundle(tmp: Path) -> None:
        for name in (MODEL_FILE, BUNDLE_FILE, "history.json"):
            shutil.copy2(Path(trained.model_dir) / name, tmp / name)

    return _publish_version(
        artifacts_dir,
        pending,
        {**run, "model_key": trained.model_key, "trained_for": trained.series},
        config,
        bundle,
        baseline=False,
        plotted=plotted,
    )


def publish_baselines(
    artifacts_dir: Path,
    winners: list[ModelledSeries],
    run: dict[str, Any],
    config: PublishConfig,
    plotted: set[str] | None = None,
) -> str:
    """Write one `models/<version>/` in which, for every series of `winners`, its best naive forecast is the
    model (a bundle without `model.keras`), and make it champion of those series; return the version.

    Idempotent like `publish_model`: series already served by the same naive forecast are left alone.
    """
    pending = [c for c in winners if _served_by(artifacts_dir, c) != c.evaluation.best_baseline]
    if not pending:
        return current_champion(artifacts_dir, winners[0].evaluation.series).version  # type: ignore[union-attr]
    windows = {
        c.evaluation.series: read_spec(Path(c.trained.model_dir)).window_for(c.evaluation.series) for c in pending
    }
    baselines = {c.evaluation.series: c.evaluation.best_baseline for c in pending}
    spec = baseline_bundle(windows, pending[0].normalized.columns, baselines)
    run = {
        **run,
        "model_key": "baseline-" + stable_hash(spec.model_dump(mode="json"))[:24],
        "trained_for": spec.series,
        "challengers": {c.evaluation.series: c.trained.model_key for c in pending},
    }
    return _publish_version(
        artifacts_dir,
        pending,
        run,
        config,
        lambda tmp: save_bundle(None, spec, tmp),
        baseline=True,
        plotted=plotted,
    )


def _publish_version(
    artifacts_dir: Path,
    pending: list[ModelledSeries],
    run: dict[str, Any],
    config: PublishConfig,
    write_bundle: Callable[[Path], None],
    baseline: bool,
    plotted: set[str] | None = None,
) -> str:
    """Write the next version (its bundle by `write_bundle`, metrics, `run.json`, per-series files) in one rename,
    then switch each pending series' champion to it (compare-and-swap); return the version. `plotted`: the
    series that get a plot (None: every one, as `publish.plot` says)."""
    version = next_version(artifacts_dir)
    with atomic_directory(models_dir(artifacts_dir) / version) as tmp:
        write_bundle(tmp)
        atomic_write_json(
            tmp / "metrics.json",
            {
                c.evaluation.series: metrics_record(c.evaluation, c.trained, c.normalized.rows, baseline).model_dump()
                for c in pending
            },
        )
        atomic_write_json(tmp / "run.json", {**run, "version": version, "created": utc_now()})
        for candidate in pending:
            _write_series_files(
                tmp / "series" / series_key(candidate.evaluation.series),
                candidate,
                version,
                config.plot and (plotted is None or candidate.evaluation.series in plotted),
                candidate.evaluation.best_baseline if baseline else None,
            )
    failpoint("publish:before-champion")
    for candidate in pending:
        evaluation = candidate.evaluation
        set_champion(
            artifacts_dir,
            evaluation.series,
            version,
            evaluation.reason,
            evaluation.champion_version,
            newest_row(candidate),
        )
    failpoint("publish:after-champion")
    return version


def newest_row(candidate: ModelledSeries) -> str | None:
    """The timestamp of the series' newest row: the first origin a champion published now serves."""
    try:
        stamps = pq.read_table(candidate.normalized.path, columns=[TIMESTAMP]).column(TIMESTAMP)
    except Exception:  # the live scores then start where latest.parquet's forecast does
        return None
    return pd.Timestamp(stamps[len(stamps) - 1].as_py()).isoformat() if len(stamps) else None


def _served_by(artifacts_dir: Path, candidate: ModelledSeries) -> str | None:
    """The naive forecast serving the candidate's series now, if its champion is a baseline bundle."""
    champion = current_champion(artifacts_dir, candidate.evaluation.series)
    if champion is None or not champion.loadable:
        return None
    return read_spec(Path(champion.path)).baselines.get(candidate.evaluation.series)


def _is_champion(artifacts_dir: Path, candidate: ModelledSeries) -> bool:
    champion = current_champion(artifacts_dir, candidate.evaluation.series)
    return champion is not None and champion.model_key == candidate.trained.model_key and champion.loadable


def _write_series_files(
    folder: Path, candidate: ModelledSeries, version: str, plot: bool, baseline: str | None = None
) -> None:
    """One series' test-slice predictions and plot inside a version being written; for a baseline version the
    naive forecast `baseline` is what was predicted (its interval around it)."""
    folder.mkdir(parents=True)
    evaluation = candidate.evaluation
    predictions = pd.read_parquet(evaluation.predictions_path)
    if baseline is not None and evaluation.baseline_interval is not None:
        interval = evaluation.baseline_interval
        scale = predictions["scale"]
        predictions = predictions.assign(
            predicted=predictions[baseline],
            lower=predictions[baseline] + interval.lower_factor * scale,
            upper=predictions[baseline] + interval.upper_factor * scale,
        )
    predictions.to_parquet(folder / "predictions.parquet", index=False)
    if plot:
        plot_or_skip(
            predictions, evaluation.series, version, candidate.normalized.columns[0], folder / PLOT_FILE, baseline
        )


def plot_or_skip(
    predictions: pd.DataFrame, series: str, version: str, unit: str, path: Path, baseline: str | None
) -> bool:
    """Draw the series' test-slice plot at `path`; one that cannot be drawn is skipped with a warning (a plot is
    a picture of the result, never a reason to lose it). Returns whether it was drawn."""
    try:
        plot_forecast(predictions, series, version, unit, path, baseline_champion=baseline)
    except Exception as error:
        path.unlink(missing_ok=True)
        log.warning("series %r: plot skipped (%s: %s)", series, type(error).__name__, error)
        return False
    return True


def write_forecast(
    artifacts_dir: Path, candidate: ModelledSeries, fingerprint: str, margin: tuple[str, float] | None = None
) -> pd.DataFrame | None:
    """The champion's forecast for the newest window of one series, written once per (champion, data), its
    interval widened on each side by `margin` = (version, margin) times its width when that version is the
    champion (the adaptive margin live monitoring found; column `margin`).

    None when the series has no champion or its files are unreadable (the run reports that instead).
    """
    series = candidate.normalized.series
    champion = current_champion(artifacts_dir, series)
    if champion is None or not champion.loadable:
        return None
    path = artifacts_dir / "forecasts" / f"{series_key(series)}-{champion.version}-{fingerprint[:12]}.parquet"
    try:
        latest = _forecast_once(path, champion, candidate)
    except Exception as error:  # damaged champion files stop this series' forecast, never the run
        log.warning("series %r: no forecast written (%s: %s)", series, type(error).__name__, error)
        return None
    extra = margin[1] if margin is not None and margin[0] == champion.version else 0.0
    return widened(latest, extra).assign(margin=extra, forecast_path=str(path))


def _forecast_once(path: Path, champion: ChampionRef, candidate: ModelledSeries) -> pd.DataFrame:
    """The forecast at `path`, computed with `champion` and written there unless it already is (and readable)."""
    series = candidate.normalized.series
    try:
        latest = pd.read_parquet(path) if path.exists() else None
    except Exception:  # a damaged cached forecast is computed again
        latest = None
    if latest is None:
        with keras_session():
            model, bundle = load_reused(Path(champion.path))
            columns = [TIMESTAMP, SERIES, *bundle.columns]
            frame = pd.read_parquet(candidate.normalized.path, columns=columns)
            metrics = metrics_of(Path(champion.path)).get(series, {})
            latest = newest_forecast(model, bundle, series, frame, metrics).assign(model_version=champion.version)
        atomic_write_parquet(path, latest)
    return latest


def write_latest(artifacts_dir: Path, forecasts: list[pd.DataFrame]) -> None:
    """`forecasts/latest.parquet`: this run's forecasts, plus the earlier rows of series it did not model."""
    path = artifacts_dir / "forecasts" / LATEST
    fresh = pd.concat(forecasts, ignore_index=True).drop(columns="forecast_path") if forecasts else None
    if fresh is None:
        return
    try:
        earlier = pd.read_parquet(path) if path.exists() else None
    except Exception as error:  # derived from the per-series forecasts: start it again from this run's
        log.warning("%s cannot be read (%s): written anew from this run's forecasts", path, type(error).__name__)
        earlier = None
    if earlier is not None:
        fresh = pd.concat([earlier[~earlier[SERIES].isin(fresh[SERIES])], fresh], ignore_index=True)
    atomic_write_parquet(path, fresh.sort_values(SERIES, kind="stable").reset_index(drop=True))


def series_outcome(
    candidate: ModelledSeries,
    published: str | None,
    champion: str | None,
    new_rows: int,
    forecast: str | None,
    problem: str | None = None,
    served_by: str = "",
    label: str = "",
) -> SeriesOutcome:
    """One series' status and one-line message (with what was wrong with its champion state, if anything);
    `served_by` is the kind of its champion after the run ("lstm" or "baseline:<name>"), `label` it in words."""
    evaluation = candidate.evaluation
    if published:
        status, message = "published", f"{evaluation.reason}; champion is now {published}"
    elif evaluation.reason.startswith("unchanged") and new_rows == 0:
        status, message = "unchanged", no_new_data(champion)
    elif evaluation.reason.startswith("unchanged"):
        status, message = "unchanged", f"{evaluation.reason}; champion {champion} unchanged"
    else:
        status, message = "kept", f"{evaluation.reason}; champion {champion or 'none'} unchanged"
    if problem:
        message += f" ({problem})"
    return SeriesOutcome(
        series=evaluation.series,
        status=status,
        message=message,
        served_by=served_by,
        label=label,
        champion_version=published or champion,
        published_version=published,
        metrics=metrics_record(
            evaluation, candidate.trained, candidate.normalized.rows, baseline=served_by.startswith("baseline")
        ).model_dump(),
        forecast_path=forecast,
    )


def unreported_switch(artifacts_dir: Path, outcome: SeriesOutcome, reported: Any) -> SeriesOutcome:
    """An `unchanged` outcome whose champion differs from the one the last completed run reported, without a
    promotion: a run switched it and was stopped before it finished (a SIGKILL, a lost machine). It is reported
    now, as `published`, rather than as no new data."""
    before = reported.get("champion", outcome.champion_version) if isinstance(reported, dict) else None
    if outcome.status != "unchanged" or before in (None, outcome.champion_version):
        return outcome
    pointer = pointer_record(artifacts_dir, outcome.series) or {}
    if pointer.get("by_hand") or pointer.get("version") != outcome.champion_version:
        return outcome
    message = (
        f"published by a run stopped before it finished ({str(pointer.get('since', ''))[:16]}): "
        f"{pointer.get('reason', '')}; champion is now {outcome.champion_version} (was {before})"
    )
    return outcome.model_copy(
        update={"status": "published", "message": message, "published_version": outcome.champion_version}
    )


def served_kind(champion: ChampionRef | None) -> str:
    """What a champion is: "lstm" or "baseline:<name>" ("" without one, or when its records cannot be read)."""
    if champion is None:
        return ""
    try:
        return str(metrics_of(Path(champion.path))[champion.series].get("kind", "lstm"))
    except (DamagedState, KeyError, TypeError):
        return ""


def summarize(outcomes: list[SeriesOutcome], skipped: list[Skipped], new_rows: int) -> RunSummary:
    """The run's summary: with one series, that series' outcome; otherwise counts and the skipped reasons."""
    every = outcomes + [
        SeriesOutcome(series=s.series, status="failed" if s.failed else "skipped", message=s.reason) for s in skipped
    ]
    statuses = {o.status for o in outcomes}
    status = (
        "published"
        if "published" in statuses
        else "unchanged"
        if statuses == {"unchanged"}
        else "kept"
        if outcomes
        else "incomplete"
    )
    if len(every) == 1 and outcomes:
        one = outcomes[0]
        return RunSummary(
            status=one.status,
            message=one.message,
            champion_version=one.champion_version,
            published_version=one.published_version,
            new_rows=new_rows,
            metrics=one.metrics,
            forecast_path=one.forecast_path,
            series=every,
        )
    return RunSummary(
        status=status,
        message=summary_line(every, skipped),
        champion_version=None,
        published_version=None,
        new_rows=new_rows,
        metrics={},
        forecast_path=None,
        series=every,
    )


class RunIncomplete(RuntimeError):
    """No series could be modelled, or a stage failed on some series (the others were still published)."""


def run_problem(candidates: list[ModelledSeries], skipped: list[Skipped]) -> str | None:
    """Why the run must end non-zero, in one line, or None when every series succeeded or was skipped."""
    failed = [s for s in skipped if s.failed]
    if failed:
        return "; ".join(f"{s.series}: {s.stage} failed: {s.reason}" for s in failed[:3]) + (
            f" (+{len(failed) - 3} more)" if len(failed) > 3 else ""
        )
    if not candidates:
        reasons = "; ".join(f"{s.series}: {s.reason}" for s in skipped[:3])
        return f"no series could be modelled: {reasons}" + (f" (+{len(skipped) - 3} more)" if len(skipped) > 3 else "")
    return None


def hold_champion(evaluation: Evaluation, min_improvement: float) -> Evaluation:
    """`evaluation` with its champion kept when the challenger the gate chose (its new model or the best naive
    forecast) beats the champion's test MAE by `min_improvement` (relative) or less: a gain within retraining
    noise never replaces a champion, so the same data and config keep the same champion."""
    champion = evaluation.champion
    if evaluation.winner not in ("lstm", "naive") or champion is None or not math.isfinite(champion.mae):
        return evaluation
    challenger = evaluation.model.mae if evaluation.winner == "lstm" else evaluation.baseline_mae
    if champion.mae <= 0 or challenger < champion.mae * (1 - min_improvement):
        return evaluation
    who = "MAE" if evaluation.winner == "lstm" else f"the naive {describe_naive(evaluation.best_baseline)}'s MAE"
    reason = (
        f"not published: {who} {challenger:.4g} is {1 - challenger / champion.mae:.1%} better than champion's "
        f"{champion.mae:.4g}, within retraining noise (publish.min_improvement {min_improvement:.0%})"
    )
    return evaluation.model_copy(update={"winner": "champion", "reason": reason})


def plotted_series(by_model: dict[str, list[ModelledSeries]], config: PublishConfig) -> set[str]:
    """The series whose published version gets a test-slice plot this run: the first `publish.max_plots` by id
    (a PNG costs ~0.1 s; thousands of them would be most of a run of short series); logged when some get none."""
    names = sorted(c.evaluation.series for winners in by_model.values() for c in winners)
    if config.plot and len(names) > config.max_plots:
        log.warning(
            "plots drawn for %d of the %d series published (publish.max_plots = %d), the first by id",
            config.max_plots,
            len(names),
            config.max_plots,
        )
    return set(names[: config.max_plots]) if config.plot else set()


def hold_promoted(
    evaluation: Evaluation, promoted: dict[str, Any] | None, newest: str | None, new_rows: int
) -> Evaluation:
    """`evaluation` with its champion kept when that champion was promoted by hand (`promoted`: its pointer) and
    the challenger saw no row newer than the series' newest at the promotion (`newest`: the series' newest row
    now; without a recorded one, no new rows this run): a rollback holds until new data produces a challenger."""
    if promoted is None or evaluation.winner not in ("lstm", "naive"):
        return evaluation
    then = promoted.get("first_origin")
    try:
        newer = pd.Timestamp(newest) > pd.Timestamp(then) if then and newest else new_rows > 0
    except (ValueError, TypeError):
        newer = new_rows > 0
    if newer:
        return evaluation
    reason = (
        f"not published: {promoted.get('version')} was promoted by hand ({str(promoted.get('since', ''))[:16]}) "
        "and serves until rows newer than those it was promoted on arrive"
    )
    return evaluation.model_copy(update={"winner": "champion", "reason": reason})


def publish_run(
    artifacts_dir: Path,
    ingested: IngestResult,
    candidates: list[ModelledSeries],
    skipped: list[Skipped],
    run_config: dict[str, Any],
    config: PublishConfig,
    margins: dict[str, tuple[str, float]] | None = None,
    advance: Callable[[int], None] | None = None,
) -> PublishOutcome:
    """Publish every model that passed its series' gate, write the latest forecasts (intervals widened by the
    adaptive `margins` of the champions they belong to), and report the run; `advance(1)` after each series'
    forecast (a progress bar)."""
    remove_stale_temp(artifacts_dir)
    newest = {name: last for name, (_, last) in index_summary(Path(ingested.raw_dir)).items()}
    candidates = [
        c.model_copy(
            update={
                "evaluation": hold_promoted(
                    hold_champion(c.evaluation, config.min_improvement),
                    promoted_by_hand(artifacts_dir, c.evaluation.series),
                    newest.get(c.evaluation.series),
                    ingested.new_rows,
                )
            }
        )
        for c in candidates
    ]
    problems = {c.evaluation.series: champion_problem(artifacts_dir, c.evaluation.series) for c in candidates}
    for series in [name for name, problem in problems.items() if problem]:
        repair_pointer(artifacts_dir, series)
    by_model: dict[str, list[ModelledSeries]] = {}
    for candidate in candidates:
        if candidate.evaluation.winner in ("lstm", "naive"):
            key = candidate.trained.model_key if candidate.evaluation.winner == "lstm" else "baseline"
            by_model.setdefault(key, []).append(candidate)
    published: dict[str, str] = {}
    plotted = plotted_series(by_model, config)
    for key, winners in by_model.items():
        run = {
            "config": run_config,
            "data_fingerprints": {c.normalized.series: ingested.series.get(c.normalized.series) for c in winners},
        }
        publisher = publish_baselines if key == "baseline" else publish_model
        version = publisher(artifacts_dir, winners, run, config, plotted)
        published |= {c.evaluation.series: version for c in winners}
    outcomes, forecasts = [], []
    for candidate in candidates:
        series = candidate.evaluation.series
        forecast = write_forecast(
            artifacts_dir, candidate, ingested.series.get(series, ingested.fingerprint), (margins or {}).get(series)
        )
        if forecast is not None:
            forecasts.append(forecast)
        champion = current_champion(artifacts_dir, series)
        outcomes.append(
            series_outcome(
                candidate,
                published.get(series),
                champion.version if champion else None,
                ingested.new_rows,
                forecast["forecast_path"].iloc[0] if forecast is not None else None,
                problems[series],
                served_kind(champion),
                champion_label(champion),
            )
        )
        if advance is not None:
            advance(1)
    write_latest(artifacts_dir, forecasts)
    reported = last_outcomes(artifacts_dir)
    outcomes = [unreported_switch(artifacts_dir, o, reported.get(o.series)) for o in outcomes]
    summary = summarize(outcomes, skipped, ingested.new_rows)
    summary.message += ingested.waiting_line()
    if damaged := sorted(name for name, problem in problems.items() if problem):
        shown = ", ".join(damaged[:3]) + (f", +{len(damaged) - 3} more" if len(damaged) > 3 else "")
        if len(outcomes) > 1:
            summary.message += f"; damaged champion state of {len(damaged)} series ({shown}): see `movavg status`"
    try:
        table = metrics_table(candidates, outcomes, skipped)
        plots = {
            o.series: series_files(models_dir(artifacts_dir) / o.champion_version, o.series) / PLOT_FILE
            for o in outcomes
            if o.champion_version
        }
        report = report_markdown(summary, table, ingested.fingerprint, run_config, plots, candidates)
        registry = champion_rows(registry_rows(artifacts_dir))
    except Exception as error:  # the report describes the publish; it never undoes or fails it
        log.warning("run report skipped (%s: %s)", type(error).__name__, error)
        table, registry = [], []
        report = f"# movavg run\n\n{summary.message}\n\n(report skipped: {type(error).__name__})"
    return PublishOutcome(summary=summary, metrics=table, registry=registry, report=report)
