"""Evaluation: score the new model, two naive baselines and the champion on the test slice, in original
units, and decide whether the new model may be published."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from movavg.bundle import BundleSpec, bundle_intact, load_bundle
from movavg.cache import stage_output
from movavg.config import EvaluateConfig
from movavg.forecast import score_frame
from movavg.registry import metrics_of, series_files
from movavg.schema import SPLIT, TIMESTAMP, ChampionRef, Evaluation, NormalizeResult, Scores, TrainResult
from movavg.session import keras_session
from movavg.windowing import naive_baselines


def scores(actual: np.ndarray, predicted: np.ndarray) -> Scores:
    """MAE and RMSE; NaN when there is nothing to score."""
    if len(actual) == 0:
        return Scores(mae=math.nan, rmse=math.nan)
    error = np.asarray(predicted, dtype="float64") - np.asarray(actual, dtype="float64")
    return Scores(mae=float(np.mean(np.abs(error))), rmse=float(np.sqrt(np.mean(error**2))))


def decide(
    model: Scores, finite_training: bool, baseline_mae: float, champion: Scores | None, config: EvaluateConfig
) -> tuple[bool, str]:
    """The publish gate: (publish?, reason). A non-finite model is never published."""
    if not finite_training or not (math.isfinite(model.mae) and math.isfinite(model.rmse)):
        return False, "not published: training loss or test metrics are not finite"
    if config.require_beat_baseline and model.mae >= baseline_mae:
        return False, f"not published: MAE {model.mae:.4g} does not beat the naive baseline {baseline_mae:.4g}"
    if champion is None or not math.isfinite(champion.mae):
        return True, "published: no champion to compare with"
    needed = champion.mae * (1 - config.min_improvement)
    if model.mae < needed:
        return True, f"published: MAE {model.mae:.4g} beats champion's {champion.mae:.4g}"
    return False, f"not published: MAE {model.mae:.4g} does not beat champion's {champion.mae:.4g} (needed < {needed:.4g})"


def evaluate_models(
    candidate_dir: Path, finite_training: bool, champion: ChampionRef | None, series: str, test: pd.DataFrame,
    config: EvaluateConfig,
) -> tuple[Evaluation, pd.DataFrame]:
    """Score candidate, naive baselines and the series' champion on the same test windows of `series`.

    Returns the evaluation and one row per window: `timestamp` (last input step), `actual`,
    `predicted`, `naive_last`, `naive_ma` and, with a champion, `champion` (NaN where it has no forecast).
    """
    model, bundle = load_bundle(candidate_dir)
    cfg = bundle.window
    predictions = score_frame(model, bundle, series, test)
    target = test[bundle.columns[0]].to_numpy(dtype="float64")
    predictions["naive_last"], predictions["naive_ma"] = naive_baselines(target, cfg.lookback, cfg.ma_window, cfg.horizon)
    champion_scores, note = None, ""
    if champion is not None:
        champion_scores, note, predictions["champion"] = _score_champion(Path(champion.path), bundle, series, test,
                                                                         predictions)
    rows = predictions.dropna(subset=["champion"]) if champion_scores is not None else predictions
    actual = rows["actual"].to_numpy()
    model_scores = scores(actual, rows["predicted"].to_numpy())
    last, current_ma = scores(actual, rows["naive_last"].to_numpy()), scores(actual, rows["naive_ma"].to_numpy())
    publish, reason = decide(model_scores, finite_training, min(last.mae, current_ma.mae), champion_scores, config)
    evaluation = Evaluation(series=series, model=model_scores, baseline_last=last, baseline_ma=current_ma, champion=champion_scores,
                            champion_version=champion.version if champion else None, test_windows=len(rows),
                            publish=publish, reason=reason + note, predictions_path=None)
    return evaluation, predictions


def _score_champion(
    folder: Path, bundle: BundleSpec, series: str, test: pd.DataFrame, predictions: pd.DataFrame
) -> tuple[Scores | None, str, pd.Series]:
    """Champion's scores on the candidate's windows (matched by timestamp), or None with a note."""
    empty = pd.Series(np.nan, index=predictions.index)
    try:
        model, champion_bundle = load_bundle(folder)
    except Exception as error:  # missing or corrupt files: the champion can no longer serve
        return None, f" (the champion's files are unreadable: {type(error).__name__}: {error})", empty
    if not champion_bundle.same_target(bundle):
        return None, " (the champion predicts a different target)", empty
    try:
        theirs = score_frame(model, champion_bundle, series, test).set_index(TIMESTAMP)["predicted"]
    except ValueError as error:  # e.g. a global champion no longer given this series' columns
        return None, f" (the champion cannot forecast this series: {error})", empty
    matched = predictions[TIMESTAMP].map(theirs)
    both = matched.notna()
    return scores(predictions["actual"][both].to_numpy(), matched[both].to_numpy()), "", matched


def already_champion(candidate: TrainResult, champion: ChampionRef | None) -> Evaluation | None:
    """When the candidate *is* the series' champion (same data, config and code), nothing needs scoring."""
    if champion is None or champion.model_key != candidate.model_key or not bundle_intact(Path(champion.path)):
        return None
    metrics = metrics_of(Path(champion.path))[champion.series]
    return Evaluation(
        series=champion.series, model=Scores(**metrics["model"]), baseline_last=Scores(**metrics["baseline_last"]),
        baseline_ma=Scores(**metrics["baseline_ma"]), champion=Scores(**metrics["model"]),
        champion_version=champion.version, test_windows=metrics["test_windows"], publish=False,
        reason=f"unchanged: the candidate is champion {champion.version} (same data, config and code)",
        predictions_path=str(series_files(Path(champion.path), champion.series) / "predictions.parquet"),
    )


def evaluate_candidate(
    candidate: TrainResult, normalized: NormalizeResult, champion: ChampionRef | None, config: EvaluateConfig,
    out_dir: Path,
) -> Evaluation:
    """Score the candidate on the test slice and write its per-window predictions into `out_dir`.

    When the candidate is the champion itself, the champion's stored evaluation is returned instead.
    """
    if (same := already_champion(candidate, champion)) is not None:
        return same
    test = pd.read_parquet(normalized.path, filters=[(SPLIT, "==", "test")]).reset_index(drop=True)
    with keras_session():
        evaluation, predictions = evaluate_models(Path(candidate.model_dir), candidate.finite, champion,
                                                  normalized.series, test, config)
    with stage_output(out_dir) as tmp:
        predictions.to_parquet(tmp / "predictions.parquet", index=False)
    evaluation.predictions_path = str(out_dir / "predictions.parquet")
    return evaluation
