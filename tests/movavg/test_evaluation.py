"""The publish gate and the metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from movavg.config import EvaluateConfig
from movavg.evaluation import decide, scores
from movavg.intervals import conformal_interval, interval_scores
from movavg.publishing import hold_champion
from movavg.schema import Evaluation, Scores


def s(mae: float) -> Scores:
    return Scores(mae=mae, rmse=mae * 1.2)


def test_scores() -> None:
    result = scores(np.array([1.0, 2.0, 3.0]), np.array([1.0, 4.0, 0.0]))
    assert result.mae == pytest.approx(5 / 3) and result.rmse == pytest.approx(math.sqrt(13 / 3))
    assert math.isnan(scores(np.array([]), np.array([])).mae)


@pytest.mark.parametrize(
    ("model", "finite", "champion", "config", "winner", "why"),
    [
        (s(1.0), True, None, EvaluateConfig(), "lstm", "no champion to compare with"),
        (s(0.9), True, s(1.0), EvaluateConfig(), "lstm", "beats champion"),
        (s(1.0), True, s(1.0), EvaluateConfig(), "champion", "does not beat champion"),
        (s(math.nan), True, None, EvaluateConfig(), "naive", "not finite"),
        (s(0.5), False, s(1.0), EvaluateConfig(require_beat_baseline=False), "champion", "not finite"),
        (s(2.0), True, None, EvaluateConfig(), "naive", "does not beat the naive seasonal change (48 steps) 1.5"),
        (s(2.0), True, s(1.2), EvaluateConfig(), "champion", "does not beat the naive"),  # the champion beats the naive
        (s(2.0), True, s(1.8), EvaluateConfig(), "naive", "serves instead"),  # the naive beats the champion
        (s(2.0), True, None, EvaluateConfig(require_beat_baseline=False), "lstm", "no champion"),
        (s(1.0), True, s(math.nan), EvaluateConfig(), "lstm", "no champion to compare with"),
    ],
)
def test_gate(
    model: Scores, finite: bool, champion: Scores | None, config: EvaluateConfig, winner: str, why: str
) -> None:
    decision, reason = decide(model, finite, ("seasonal_change_48", 1.5), champion=champion, config=config)
    assert decision == winner
    assert why in reason


@pytest.mark.parametrize(
    ("winner", "model", "naive", "champion", "kept", "why"),
    [
        ("lstm", 0.99, 1.5, 1.0, True, "MAE 0.99 is 1.0% better than champion's 1, within retraining noise"),
        ("lstm", 0.94, 1.5, 1.0, False, "beats"),
        ("naive", 1.5, 0.97, 1.0, True, "the naive last value's MAE 0.97 is 3.0% better"),
        ("naive", 1.5, 0.5, 1.0, False, "serves instead"),
        ("lstm", 0.99, 1.5, None, False, "beats"),  # nothing to hold: no comparable champion
    ],
)
def test_a_gain_within_retraining_noise_keeps_the_champion(
    winner: str, model: float, naive: float, champion: float | None, kept: bool, why: str
) -> None:
    gate = Evaluation(
        series="s",
        model=s(model),
        baseline_last=s(naive),
        baseline_ma=s(2.0),
        champion=s(champion) if champion is not None else None,
        champion_version="v1" if champion is not None else None,
        test_windows=10,
        reason="beats" if winner == "lstm" else "serves instead",
        predictions_path=None,
        baselines={"naive_last": s(naive), "naive_ma": s(2.0)},
        best_baseline="naive_last",
        winner=winner,
    )
    held = hold_champion(gate, min_improvement=0.05)
    assert (held.winner == "champion") == kept and why in held.reason, held.reason


def test_conformal_interval_covers_as_promised() -> None:
    rng = np.random.default_rng(0)
    calibration, fresh = rng.standard_t(3, 400), rng.standard_t(3, 20_000)  # heavy tails: no normality assumed
    low, high = conformal_interval(calibration, 0.9)
    assert low < 0 < high
    assert 0.87 <= np.mean((fresh >= low) & (fresh <= high)) <= 0.94
    assert conformal_interval(np.arange(5.0), 0.9) == (-math.inf, math.inf)  # too few residuals for 90%: unbounded


def test_intervals_are_calibrated_on_the_val_windows_and_the_folds_residuals() -> None:
    """Validation residuals of a model that early-stopped on them are too small; the folds' out-of-sample ones
    widen the band, and both are counted."""
    rng = np.random.default_rng(1)
    val = pd.DataFrame({"actual": rng.normal(0, 0.5, 300), "predicted": 0.0, "scale": 1.0})
    test = pd.DataFrame({"actual": rng.normal(0, 1.0, 5000), "predicted": 0.0, "scale": 1.0})
    narrow, *_ = interval_scores(val, test, "predicted", 0.9)
    folds = rng.normal(0, 1.0, 900)
    wide, lower, upper = interval_scores(val, test, "predicted", 0.9, folds.tolist())
    assert narrow.calibration_windows == 300 and wide.calibration_windows == 1200
    assert narrow.coverage < 0.7 and 0.8 < wide.coverage < 0.92
    assert wide.upper_factor > narrow.upper_factor and np.all(lower < upper)


@pytest.mark.slow
def test_all_contenders_are_scored_on_the_same_windows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A champion with a longer lookback forecasts fewer test windows: everyone is scored on those only."""
    from movavg.bundle import BundleSpec, load_bundle, save_bundle
    from movavg.config import build_config
    from movavg.evaluation import evaluate_models
    from movavg.model import build_model
    from movavg.samples import synthetic_series
    from movavg.scaling import fit_stats
    from movavg.schema import ChampionRef, WindowSpec

    test = synthetic_series(120, seed=3).assign(series_id="default", split="test")
    for name, lookback in (("candidate", 8), ("champion", 20)):
        config = build_config(
            "default", None, [f"window.lookback={lookback}", "window.ma_window=4", "window.horizon=2"]
        )
        folder = tmp_path / name
        folder.mkdir()
        stats = fit_stats(test[["value"]].to_numpy(), ["value"], per_window=True)
        spec = BundleSpec(
            series=["default"],
            columns=["value"],
            stats={"default": stats},
            window=WindowSpec(lookback=lookback, ma_window=4, horizon=2),
            train={},
        )
        save_bundle(build_model(config.train, lookback, 1), spec, folder)
    champion = ChampionRef(series="default", version="v1", model_key="k", path=str(tmp_path / "champion"))
    model, bundle = load_bundle(tmp_path / "candidate")
    evaluation, predictions = evaluate_models(model, bundle, True, champion, "default", test, EvaluateConfig())
    assert evaluation.series == "default"
    assert len(predictions) == evaluation.test_windows == 120 - 20 - 2 + 1  # the windows both can forecast
    shared = predictions
    assert shared["champion"].notna().all()
    expected = scores(shared["actual"].to_numpy(), shared["naive_last"].to_numpy())
    assert evaluation.baseline_last == expected
    assert evaluation.model == scores(shared["actual"].to_numpy(), shared["predicted"].to_numpy())
