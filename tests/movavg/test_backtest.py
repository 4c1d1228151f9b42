"""Rolling-origin backtest: where the folds lie, and that a fold predicts only its block, exactly as scoring
the whole fold frame would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from movavg.backtest import (
    RESIDUAL_SAMPLE,
    fold_frame,
    fold_origins,
    residual_sample,
    run_backtest,
    series_folds,
    train_folds,
)
from movavg.bundle import BundleSpec
from movavg.config import LayerSpec, PipelineConfig, TrainConfig, WindowConfig
from movavg.forecast import score_frame
from movavg.ingest import ingest_files
from movavg.model import build_model, train_models
from movavg.samples import synthetic_series
from movavg.schema import SPLIT
from movavg.series import normalize_and_save, z_columns
from movavg.windowing import build_windows, input_features, rows_for_targets, series_values, window_spec
from tests.helpers import located_series, write_csv


def test_folds_end_where_the_test_slice_starts_and_need_rows_before_them() -> None:
    rows = {"train": 700, "val": 150, "test": 150}
    assert fold_origins(rows, 3) == [400, 550, 700]  # the last fold scores the val slice
    assert fold_origins(rows, 7) == [100, 250, 400, 550, 700]  # origins at or before row 0 are dropped
    assert fold_origins(rows, 0) == []


def test_a_fold_scores_its_block_from_its_history_rows_alone() -> None:
    series = synthetic_series(900, seed=3, freq="h", kind="seasonal")
    frame, stats = fold_frame(series, ["value"], origin=600, block=150, train_share=0.8, per_window=True)
    assert frame[SPLIT].value_counts().to_dict() == {"train": 480, "val": 120, "test": 150}
    spec = window_spec(frame, z_columns(["value"])[0], WindowConfig(lookback=12, ma_window=4, horizon=3))
    block = rows_for_targets(frame, 600, spec)
    assert len(block) == 150 + spec.horizon + spec.history < len(frame)
    model = build_model(
        TrainConfig(layers=[LayerSpec(units=4)]),
        spec.lookback,
        input_features(spec, series_values(frame[["value"]].to_numpy(), frame["timestamp"], spec)),
        seed=1,
    )
    bundle = BundleSpec(series=["s"], columns=["value"], stats={"s": stats}, window=spec, train={})

    def test_windows(part: object) -> object:
        scored = score_frame(model, bundle, "s", part)
        return scored[part[SPLIT].to_numpy()[scored["target_row"].to_numpy()] == "test"].reset_index(drop=True)

    whole, alone = test_windows(frame), test_windows(block)
    assert len(alone) == len(whole) == 150  # one window per target row of the block
    assert list(alone["timestamp"]) == list(whole["timestamp"])
    np.testing.assert_allclose(alone["predicted"], whole["predicted"], rtol=1e-5)
    np.testing.assert_allclose(alone["actual"], whole["actual"])


@pytest.mark.slow
def test_the_backtest_writes_one_result_per_fold(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    data = tmp_path / "data"
    write_csv(synthetic_series(600, seed=2).assign(series_id="s"), data / "incoming", "s.csv")
    ingest_files(data, tiny_config.ingest)
    normalized = normalize_and_save(data / "raw", "s", ["value"], tiny_config.normalize, tmp_path / "n")
    windows = build_windows(normalized, tiny_config.window, tmp_path / "w")
    backtest = run_backtest(windows, normalized, tiny_config.train, 2, tmp_path / "b")
    assert len(backtest.folds) == 2 and not backtest.note
    for fold in backtest.folds:
        assert fold.windows > 0 and np.isfinite(fold.mae) and fold.baseline_mae > 0
    assert json.loads((tmp_path / "b" / "backtest.json").read_text())["series"] == "s"
    # every fold window's residual, sorted, for calibrating intervals
    assert len(backtest.residuals) == sum(fold.windows for fold in backtest.folds)
    assert backtest.residuals == sorted(backtest.residuals) and np.isfinite(backtest.residuals).all()


def test_a_long_backtest_keeps_an_even_sample_of_its_residuals() -> None:
    residuals = np.random.default_rng(0).normal(size=50_000)
    kept = residual_sample(np.concatenate([residuals, [np.nan, np.inf]]))
    assert len(kept) == RESIDUAL_SAMPLE and kept[0] == residuals.min() and kept[-1] == residuals.max()
    assert abs(np.quantile(kept, 0.95) - np.quantile(residuals, 0.95)) < 0.01
    assert residual_sample(np.array([2.0, np.nan, 1.0])) == [1.0, 2.0]


@pytest.mark.slow
def test_warm_folds_start_from_the_fold_before_and_the_first_from_its_seed() -> None:
    """Stacked (the default); how each training path starts from given weights is tested below."""
    config, series = located_series([150, 900], ["train.epochs=4"])
    per_series = [series_folds(s, 6) for s in series]
    assert 1 < len(per_series[0]) < len(per_series[1])  # the shorter series' oldest folds have too few rows
    cold = train_folds(per_series, config.train.model_copy(update={"warm_start_folds": False}))
    warm_config = config.train.model_copy(update={"warm_start_folds": True})
    warm = train_folds(per_series, warm_config)
    for folds, cold_models, warm_models in zip(per_series, cold, warm, strict=True):
        assert [m.result.warm_start for m in warm_models] == [False] + [True] * (len(warm_models) - 1)
        assert not any(m.result.warm_start for m in cold_models)
        for a, b in zip(cold_models[0].final_weights(), warm_models[0].final_weights(), strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6)  # the oldest fold trains as before
        last = train_models([folds[-1:]], warm_config, starts=[warm_models[-2].final_weights()])[0]
        for a, b in zip(last.final_weights(), warm_models[-1].final_weights(), strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6)  # the newest fold: from the weights of the one before


@pytest.mark.slow
@pytest.mark.parametrize("stack", [1, 16])
def test_a_model_given_start_weights_trains_from_them(stack: int) -> None:
    config, series = located_series([300], ["train.epochs=1", "train.learning_rate=1e-9", f"train.stack={stack}"])
    seeded = train_models([series], config.train)[0].final_weights()
    start = [w + 0.25 for w in seeded]
    started = train_models([series], config.train, starts=[start])[0]
    assert started.result.warm_start
    for a, b in zip(started.final_weights(), start, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
