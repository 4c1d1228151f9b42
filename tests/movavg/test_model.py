"""Training: the presets rebuild the seed's three models; tiny fits are seeded and finite."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from movavg.config import TrainConfig, build_config
from movavg.model import build_model, fit_model, series_seed, summarize_history, training_settings
from movavg.schema import WindowSpec
from movavg.windowing import WindowArrays


def layer_summary(model: object) -> list[tuple[str, object]]:
    rows = []
    for layer in model.layers:  # type: ignore[attr-defined]
        config = layer.get_config()
        name = type(layer).__name__
        if name == "LSTM":
            rows.append((name, (config["units"], config["activation"], config["return_sequences"])))
        elif name == "Dropout":
            rows.append((name, config["rate"]))
        else:
            rows.append((name, config["units"]))
    return rows


@pytest.mark.parametrize(
    ("preset", "features", "expected"),
    [
        ("seed-basic", 1, [("LSTM", (50, "relu", False)), ("Dense", 1)]),
        ("seed-multifeature", 3, [("LSTM", (100, "tanh", False)), ("Dense", 1)]),
        (
            "seed-stacked",
            1,
            [("LSTM", (100, "relu", True)), ("Dropout", 0.2), ("LSTM", (50, "relu", False)), ("Dense", 1)],
        ),
    ],
)
def test_presets_rebuild_the_seed_models(preset: str, features: int, expected: list[tuple[str, object]]) -> None:
    config = build_config(preset)
    model = build_model(config.train, config.window.lookback, features)
    assert layer_summary(model) == expected
    assert model.input_shape == (None, config.window.lookback, features)
    assert model.loss == "mse" and type(model.optimizer).__name__ == "Adam"


def test_initial_weights_come_from_the_seed_alone() -> None:
    """Python's process-wide `random` (which other threads of a Dask worker draw from) has no say."""
    import random

    train = build_config("seed-stacked").train
    random.seed(1)
    first = build_model(train, 10, 1, seed=7).get_weights()
    random.seed(2)
    again, other = build_model(train, 10, 1, seed=7).get_weights(), build_model(train, 10, 1, seed=8).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other[0])


def test_seed_training_settings() -> None:
    basic, stacked = build_config("seed-basic").train, build_config("seed-stacked").train
    assert (basic.epochs, basic.batch_size, basic.early_stopping_patience) == (100, 32, None)
    assert (stacked.epochs, stacked.batch_size) == (200, 64)


def test_batch_size_and_xla_are_chosen_by_train_slice_size() -> None:
    config = TrainConfig()
    assert training_settings(config, 1_544) == (64, False)  # the CO2 sample: at least 24 steps per epoch
    assert training_settings(config, 300) == (32, False)
    assert training_settings(config, 1_000_000) == (256, True)
    assert training_settings(TrainConfig(batch_size=16, jit_compile=False), 1_000_000) == (16, False)


@pytest.mark.slow
def test_tiny_fit_is_seeded_and_reports_every_epoch(tiny_config: object) -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(207, 1)).astype("float32")
    train = WindowArrays(values, np.arange(200), rng.normal(size=200).astype("float32"))
    val = WindowArrays(values, np.arange(50), train.targets[:50])
    epochs: list[int] = []
    spec = WindowSpec(lookback=8, ma_window=2, horizon=0)
    model_a, history_a = fit_model(
        tiny_config.train,
        train,
        val,
        spec,
        True,  # type: ignore[attr-defined]
        lambda epoch, total, logs: epochs.append(epoch),
    )
    model_b, history_b = fit_model(tiny_config.train, train, val, spec, True)  # type: ignore[attr-defined]
    assert epochs == [1, 2]
    assert history_a == history_b
    for a, b in zip(model_a.get_weights(), model_b.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_non_finite_history_is_flagged(tmp_path: Path) -> None:
    result = summarize_history({"loss": [1.0, math.nan], "val_loss": [1.0, math.nan]}, 10, 1.0, ["s"], 100)
    assert not result.finite and result.stop_reason == "non-finite loss" and result.epochs_run == 2
    ok = summarize_history({"loss": [1.0, 0.5], "val_loss": [0.9, 0.7]}, 5, 1.0, ["s"], 100)
    assert ok.finite and ok.stop_reason == "early stopping" and ok.best_val_loss == 0.7
    assert (ok.series, ok.train_windows, ok.model_dir) == (["s"], 100, "")  # in memory until saved


def test_each_series_model_has_its_own_seed_and_a_global_one_the_configs() -> None:
    assert series_seed(0, ["a"]) == series_seed(0, ["a"]) != series_seed(0, ["b"])
    assert series_seed(7, ["a", "b"]) == 7 and series_seed(7, []) == 7
