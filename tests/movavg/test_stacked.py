"""Stacked training (`movavg.stacked`): each model of a stack trains as it would alone, exports to a standard
Keras model that reproduces its slice, and stops on its own."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from movavg.config import LayerSpec, TrainConfig
from movavg.model import architecture, build_model, initial_weights, plan_model, stack_member, stacks, train_models
from movavg.session import keras_session
from tests.helpers import located_series

TWO_LAYERS = TrainConfig(layers=[LayerSpec(units=8), LayerSpec(kind="dropout", rate=0.2), LayerSpec(units=4)])


@pytest.mark.parametrize("config", [TrainConfig(), TWO_LAYERS], ids=["default", "two-lstm-dropout"])
def test_initial_weights_are_what_build_model_starts_from(config: TrainConfig) -> None:
    with keras_session():
        for seed in (0, 987654):
            built = build_model(config, 12, 5, seed=seed).get_weights()
            drawn = initial_weights(config, 5, seed)
            assert [w.shape for w in built] == [w.shape for w in drawn]
            assert all(np.array_equal(a, b) for a, b in zip(built, drawn, strict=True))


def test_stacked_models_equal_one_at_a_time_models_across_lengths_and_early_stopping() -> None:
    """Series of different lengths (different batch sizes and steps per epoch, so padding and masking) and
    early stopping at different epochs: every member ends with the weights and history it gets alone."""
    config, series = located_series([400, 700, 2600], ["train.epochs=12", "train.early_stopping_patience=2"])
    alone = train_models([[s] for s in series], config.train.model_copy(update={"stack": 1}))
    together = train_models([[s] for s in series], config.train.model_copy(update={"stack": 4}))
    assert len({t.result.batch_size for t in together}) > 1  # a stack of different batch sizes
    assert len({t.result.epochs_run for t in alone}) > 1  # and of models stopping at different epochs
    for one, stacked in zip(alone, together, strict=True):
        assert stacked.result.stack == 3 and one.result.stack == 1
        assert stacked.result.epochs_run == one.result.epochs_run
        assert stacked.result.stop_reason == one.result.stop_reason
        np.testing.assert_allclose(stacked.history["val_loss"], one.history["val_loss"], rtol=1e-4)
        for a, b in zip(stacked.model.get_weights(), one.model.get_weights(), strict=True):
            np.testing.assert_allclose(a, b, atol=1e-5)


def test_an_exported_member_reproduces_its_slice_of_the_stack() -> None:
    from movavg.stacked import fit_stack, predict_stack, stacked

    _config, series = located_series([500, 600], ["train.epochs=2"])
    train = TWO_LAYERS.model_copy(update={"epochs": 2, "stack": 2})
    with keras_session():
        plans = [plan_model([s], train) for s in series]
        members = [stack_member(plan, train) for plan in plans]
        lookback, per_window = plans[0].spec.window.lookback, plans[0].per_window
        fits = fit_stack(architecture(train), members, lookback, per_window, 2, 1e-3, None)
        params = stacked([fit.weights for fit in fits])
        starts = [m.val[0] for m in members]
        from_stack = predict_stack(architecture(train), params, members, starts, lookback, per_window)
        for plan, member, fit, expected in zip(plans, members, fits, from_stack, strict=True):
            model = build_model(train, lookback, plan.features, seed=plan.seed)
            model.set_weights(fit.weights)
            exported = model.predict_on_batch(member.windows(member.val[0], lookback, per_window)).reshape(-1)
            np.testing.assert_allclose(exported, expected, atol=1e-5)
            assert not np.allclose(fit.weights[0], member.weights[0])  # it did train


def test_a_member_with_a_non_finite_loss_stops_alone() -> None:
    config, series = located_series([400, 400], ["train.epochs=3"])
    broken = series[1].frame.copy()
    column = next(c for c in broken.columns if c.endswith("_z"))
    broken.loc[broken.index[100:110], column] = np.nan
    series[1] = replace(series[1], frame=broken)
    good, bad = train_models([[s] for s in series], config.train)
    assert bad.result.stop_reason == "non-finite loss" and not bad.result.finite and bad.result.epochs_run == 1
    assert good.result.finite and good.result.epochs_run == 3 and good.result.stack == 2


def test_stacks_group_by_input_shape_and_split_evenly() -> None:
    config, series = located_series([300, 350, 400, 450, 500], [])
    with keras_session():
        plans = [plan_model([s], config.train) for s in series]
    assert sorted(map(len, stacks(plans, 2))) == [1, 2, 2]
    assert sorted(map(len, stacks(plans, 4))) == [2, 3]  # near-equal, not 4 + 1
    assert sorted(i for chunk in stacks(plans, 4) for i in chunk) == list(range(5))
    assert math.ceil(5 / 16) == len(stacks(plans, 16))
