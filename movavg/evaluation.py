"""Evaluation: score the new model, every naive forecast (last value, current MA, seasonal and seasonal
change per season) and the champion on the same test windows, in original units; decide who serves the
series next (the new model, the best naive forecast, or the champion); calibrate prediction intervals on the
validation windows."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from movavg.bundle import BundleSpec
from movavg.cache import stage_output
from movavg.config import EvaluateConfig
from movavg.forecast import score_frame
from movavg.intervals import interval_scores
from movavg.model import load_reused
from movavg.naive import describe_naive, naive_forecasts, naive_names
from movavg.registry import DamagedState, metrics_of, read_record, series_files
from movavg.schema import (
    SPLIT,
    TIMESTAMP,
    Backtest,
    ChampionRef,
    Evaluation,
    Interval,
    LstmMetrics,
    NormalizeResult,
    Scores,
    SeriesMetrics,
    TrainResult,
    Winner,
)
from movavg.series import PreparedSeries
from movavg.session import keras_session
from movavg.windowing import load_prepared, rows_for_targets

if TYPE_CHECKING:
    import keras


def scores(actual: np.ndarray, predicted: np.ndarray) -> Scores:
    """MAE and RMSE; NaN when there is nothing to score."""
    if len(actual) == 0:
        return Scores(mae=math.nan, rmse=math.nan)
    error = np.asarray(predicted, dtype="float64") - np.asarray(actual, dtype="float64")
    return Scores(mae=float(np.mean(np.abs(error))), rmse=float(np.sqrt(np.mean(error**2))))


def decide(
    model: Scores, finite_training: bool, baseline: tuple[str, float], champion: Scores | None, config: EvaluateConfig
) -> tuple[Winner, str]:
    """The publish gate: (winner, reason), the winner "lstm" (publish the new model), "naive" (the best naive
    forecast serves) or "champion" (keep it).

    Every challenger is treated the same way: the LSTM trained this run (when its training and test metrics are
    finite) and, with `require_beat_baseline`, the best naive forecast `baseline` (name, MAE). The better of them
    on the test windows (on a tie the naive forecast: the model must beat it) serves if it beats the champion, or
    if there is none; otherwise the champion stays (publishing then asks for more than retraining noise:
    `movavg.publishing.hold_champion`). So a series is never served worse than naive, and a non-finite model
    never wins.
    """
    name, baseline_mae = baseline
    needed = champion.mae if champion is not None and math.isfinite(champion.mae) else None
    finite = finite_training and math.isfinite(model.mae) and math.isfinite(model.rmse)
    challengers: dict[Winner, float] = {"lstm": model.mae} if finite else {}
    if config.require_beat_baseline:
        challengers["naive"] = baseline_mae
    best = min(challengers, key=lambda who: (challengers[who], who == "lstm"), default=None)
    winner: Winner = best if best is not None and (needed is None or challengers[best] < needed) else "champion"
    if winner == "lstm" and needed is None:
        return winner, "published: no champion to compare with"
    if winner == "lstm":
        return winner, f"published: MAE {model.mae:.4g} beats champion's {champion.mae:.4g}"  # type: ignore[union-attr]
    if not finite:
        verdict = "training loss or test metrics are not finite"
    elif "naive" in challengers and model.mae >= baseline_mae:
        verdict = f"MAE {model.mae:.4g} does not beat the naive {describe_naive(name)} {baseline_mae:.4g}"
    else:
        verdict = f"MAE {model.mae:.4g} does not beat champion's {champion.mae:.4g}"  # type: ignore[union-attr]
    if winner == "naive":
        return winner, f"model not published ({verdict}); the naive {describe_naive(name)} serves instead"
    return winner, f"not published: {verdict}"


def evaluate_models(
    model: keras.Model,
    bundle: BundleSpec,
    finite_training: bool,
    champion: ChampionRef | None,
    series: str,
    frame: pd.DataFrame,
    config: EvaluateConfig,
    backtest: Backtest | None = None,
) -> tuple[Evaluation, pd.DataFrame]:
    """Score the candidate `model` (fed by `bundle`), every naive forecast and the series' champion (None in
    memory) on the same test windows of `series`; the model's interval is calibrated on its val windows and
    the `backtest` folds' residuals (out of sample: the main model's val windows also chose its early stop).

    `frame` is the normalized series from enough rows before its val slice for every val window. Returns the
    evaluation and one row per test window: `timestamp` (last input step), `target_row`, `actual`,
    `predicted`, `scale`, `lower`, `upper`, one column per naive forecast (`naive_last`, `naive_ma`, `seasonal_<s>`,
    `seasonal_change_<s>`) and, with a champion, `champion` (NaN where it has no forecast).
    """
    spec = bundle.window_for(series)
    windows = score_frame(model, bundle, series, frame)
    target = frame[bundle.columns[0]].to_numpy(dtype="float64")
    for name, values in naive_forecasts(target, windows["target_row"].to_numpy() - spec.horizon, spec).items():
        windows[name] = values
    champion_scores, note = None, ""
    if champion is not None:
        champion_scores, note, windows["champion"] = _score_champion(
            Path(champion.path), bundle, series, frame, windows
        )
    if champion_scores is not None:
        windows = windows.dropna(subset=["champion"])
    split = frame[SPLIT].to_numpy()[windows["target_row"].to_numpy()]
    val, test = windows[split == "val"], windows[split == "test"].reset_index(drop=True)
    actual = test["actual"].to_numpy()
    model_scores = scores(actual, test["predicted"].to_numpy())
    every = {name: scores(actual, test[name].to_numpy()) for name in naive_names(spec)}
    best = min(every, key=lambda name: every[name].mae)
    winner, reason = decide(model_scores, finite_training, (best, every[best].mae), champion_scores, config)
    extra = backtest.residuals if backtest is not None else []
    interval, test["lower"], test["upper"] = interval_scores(val, test, "predicted", config.interval_level, extra)
    baseline_interval = interval_scores(val, test, best, config.interval_level)[0]
    evaluation = Evaluation(
        series=series,
        model=model_scores,
        baseline_last=every["naive_last"],
        baseline_ma=every["naive_ma"],
        champion=champion_scores,
        champion_version=champion.version if champion else None,
        test_windows=len(test),
        reason=reason + note,
        predictions_path=None,
        baselines=every,
        best_baseline=best,
        winner=winner,
        interval=interval,
        baseline_interval=baseline_interval,
    )
    return evaluation, test


def _score_champion(
    folder: Path, bundle: BundleSpec, series: str, frame: pd.DataFrame, predictions: pd.DataFrame
) -> tuple[Scores | None, str, pd.Series]:
    """Champion's forecasts on the candidate's windows (matched by timestamp), scored on the test windows
    among them, or None with a note."""
    empty = pd.Series(np.nan, index=predictions.index)
    try:
        model, champion_bundle = load_reused(folder, "champion")
    except Exception as error:  # missing or corrupt files: the champion can no longer serve
        return None, f" (the champion's files are unreadable: {type(error).__name__}: {error})", empty
    if not champion_bundle.same_target(bundle):
        return None, " (the champion predicts a different target)", empty
    try:
        theirs = score_frame(model, champion_bundle, series, frame).set_index(TIMESTAMP)["predicted"]
    except ValueError as error:  # e.g. a global champion no longer given this series' columns
        return None, f" (the champion cannot forecast this series: {error})", empty
    matched = predictions[TIMESTAMP].map(theirs)
    test = matched.notna().to_numpy() & (frame[SPLIT].to_numpy()[predictions["target_row"].to_numpy()] == "test")
    return scores(predictions["actual"][test].to_numpy(), matched[test].to_numpy()), "", matched


def already_champion(candidate: TrainResult, champion: ChampionRef | None) -> Evaluation | None:
    """When the candidate *is* the series' champion (same data, config and code), or already lost to the naive
    forecast that is its champion, nothing needs scoring."""
    if champion is None or not champion.loadable:
        return None
    try:
        challenger = read_record(Path(champion.path) / "run.json").get("challengers", {}).get(champion.series)
        if candidate.model_key not in (champion.model_key, challenger):
            return None
        return _stored_evaluation(
            champion, metrics_of(Path(champion.path))[champion.series], challenger, candidate.model_key
        )
    except (DamagedState, KeyError, TypeError, ValueError):  # unreadable records: score the candidate afresh
        return None


def _stored_evaluation(
    champion: ChampionRef, metrics: dict[str, Any], challenger: str | None, model_key: str
) -> Evaluation:
    """The evaluation a champion was published with, from its metrics record."""
    interval = metrics.get("interval")
    return Evaluation(
        series=champion.series,
        model=Scores(**metrics["model"]),
        baseline_last=Scores(**metrics["baseline_last"]),
        baseline_ma=Scores(**metrics["baseline_ma"]),
        champion=Scores(**metrics["model"]),
        champion_version=champion.version,
        test_windows=metrics["test_windows"],
        reason=f"unchanged: the candidate {'is' if challenger != model_key else 'lost to'} champion "
        f"{champion.version} (same data, config and code)",
        predictions_path=str(series_files(Path(champion.path), champion.series) / "predictions.parquet"),
        baselines={name: Scores(**value) for name, value in metrics.get("baselines", {}).items()},
        best_baseline=metrics.get("best_baseline", ""),
        winner="champion",
        interval=Interval(**interval) if interval else None,
        backtest=Backtest(series=champion.series, folds=metrics["backtest"]) if metrics.get("backtest") else None,
    )


def evaluate_series(
    model: keras.Model,
    bundle: BundleSpec,
    finite_training: bool,
    prepared: PreparedSeries,
    config: EvaluateConfig,
    champion: ChampionRef | None = None,
    backtest: Backtest | None = None,
) -> tuple[Evaluation, pd.DataFrame]:
    """`evaluate_models` on the val and test windows of a prepared series; its `backtest` (if run) travels
    with the evaluation."""
    spec = bundle.window_for(prepared.series)
    frame = rows_for_targets(prepared.frame, prepared.rows["train"], spec)  # from the first val window's inputs
    with keras_session():
        evaluation, predictions = evaluate_models(
            model, bundle, finite_training, champion, prepared.series, frame, config, backtest
        )
    evaluation.backtest = backtest
    return evaluation, predictions


def evaluate_candidate(
    candidate: TrainResult,
    normalized: NormalizeResult,
    champion: ChampionRef | None,
    config: EvaluateConfig,
    out_dir: Path,
    backtest: Backtest | None = None,
) -> Evaluation:
    """Score the candidate on the test slice and write its per-window predictions into `out_dir`; the
    series' rolling-origin `backtest` (if run) travels with the evaluation.

    When the candidate is the champion itself, the champion's stored evaluation is returned instead.
    """
    if (same := already_champion(candidate, champion)) is not None:
        return same
    with keras_session():
        model, bundle = load_reused(Path(candidate.model_dir), "candidate")
        evaluation, predictions = evaluate_series(
            model, bundle, candidate.finite, load_prepared(normalized), config, champion, backtest
        )
    with stage_output(out_dir) as tmp:
        predictions.to_parquet(tmp / "predictions.parquet", index=False)
    evaluation.predictions_path = str(out_dir / "predictions.parquet")
    return evaluation


def metrics_record(
    evaluation: Evaluation, trained: TrainResult, rows: dict[str, int], baseline: bool = False
) -> SeriesMetrics:
    """The metrics of one series saved with its model (or, with `baseline`, with the naive forecast that serves
    it; `rows` per split) and listed by `movavg models`."""
    served = evaluation.baselines[evaluation.best_baseline] if baseline else evaluation.model
    training = {
        "epochs_run": trained.epochs_run,
        "train_seconds": trained.train_seconds,
        "train_windows": trained.train_windows,
        "warm_start": trained.warm_start,
    }
    return SeriesMetrics(
        kind=f"baseline:{evaluation.best_baseline}" if baseline else "lstm",
        mae=served.mae,
        rmse=served.rmse,
        baseline_mae=evaluation.baseline_mae,
        best_baseline=evaluation.best_baseline,
        model=served,
        baseline_last=evaluation.baseline_last,
        baseline_ma=evaluation.baseline_ma,
        baselines=evaluation.baselines,
        champion_before=evaluation.champion,
        test_windows=evaluation.test_windows,
        rows=rows,
        interval=evaluation.baseline_interval if baseline else evaluation.interval,
        backtest=evaluation.backtest.folds if evaluation.backtest else [],
        **({"epochs_run": 0, "train_seconds": 0.0, "train_windows": 0, "warm_start": False} if baseline else training),
        lstm=LstmMetrics(**evaluation.model.model_dump(), **training),
        ensemble=1 if baseline else trained.ensemble,
        blend=None if baseline else trained.blends.get(evaluation.series),
    )
