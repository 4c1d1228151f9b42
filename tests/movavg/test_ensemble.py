"""Seed ensembles (train.ensemble) and the blend with the best naive forecast (train.combine_naive): what is
trained is what is saved, loaded and served."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from movavg.blend import best_weight
from movavg.bundle import save_bundle
from movavg.config import TrainConfig
from movavg.forecast import forecast_frame
from movavg.labels import serving_label
from movavg.model import build_model, load_reused, member_seed, train_models
from movavg.naive import NaiveForecast, NaiveSpec
from movavg.report import outcome_kind
from movavg.schema import SeriesOutcome
from movavg.session import keras_session
from tests.helpers import located_series


def test_an_ensemble_model_is_the_mean_of_its_members_each_seeded_on_its_own() -> None:
    x = np.random.default_rng(0).normal(size=(6, 10, 4)).astype("float32")
    with keras_session():
        ensemble = build_model(TrainConfig(ensemble=3), 10, 4, seed=5)
        members = [build_model(TrainConfig(), 10, 4, seed=member_seed(5, i)) for i in range(3)]
        weights = [w for member in members for w in member.get_weights()]
        assert all(np.array_equal(a, b) for a, b in zip(ensemble.get_weights(), weights, strict=True))
        mean = np.mean([member.predict_on_batch(x) for member in members], axis=0)
        np.testing.assert_allclose(ensemble.predict_on_batch(x), mean, atol=1e-6)
    assert member_seed(5, 0) == 5 and len({member_seed(5, i) for i in range(8)}) == 8


@pytest.mark.slow
@pytest.mark.parametrize("stack", [1, 8])
def test_ensemble_members_train_as_single_models_and_load_reused(tmp_path: Path, stack: int) -> None:
    """Member 0 is the model `train.ensemble=1` trains; the saved ensemble loads into the reused model (no
    whole load) and forecasts the mean of its members."""
    config, (series,) = located_series([700], ["train.epochs=3", f"train.stack={stack}"])
    single = train_models([[series]], config.train)[0]
    ensemble = train_models([[series]], config.train.model_copy(update={"ensemble": 3}))[0]
    assert ensemble.result.ensemble == 3 and single.result.ensemble == 1
    assert ensemble.result.epochs_run == 3 and len(ensemble.history["val_loss"]) == 3
    share = len(single.final_weights())
    assert len(ensemble.final_weights()) == 3 * share
    for mine, theirs in zip(ensemble.final_weights()[:share], single.final_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, atol=1e-5)
    assert not np.allclose(ensemble.final_weights()[0], ensemble.final_weights()[share])  # members differ
    with keras_session():
        save_bundle(ensemble.in_shared_model(), ensemble.spec, tmp_path)
        model, spec = load_reused(tmp_path, "test")
        assert len(model.layers) == 5  # input, three members, their mean: reused, not loaded whole
        rows = series.frame
        served = forecast_frame(model, spec, series.series, rows)["predicted_ma"].to_numpy()
        np.testing.assert_allclose(
            served, forecast_frame(ensemble.model, ensemble.spec, series.series, rows)["predicted_ma"], atol=1e-5
        )


@pytest.mark.slow
def test_an_ensemble_warm_starts_member_by_member() -> None:
    """Started from an ensemble's weights with a learning rate too small to move them, each member ends where
    its own share of the start was (not another member's, not its seeded initial weights)."""
    config, (series,) = located_series([500], ["train.epochs=1", "train.ensemble=2"])
    first = train_models([[series]], config.train)[0]
    still = config.train.model_copy(update={"learning_rate": 1e-12})
    again = train_models([[series]], still, starts=[first.final_weights()])[0]
    assert again.result.warm_start and not first.result.warm_start
    for mine, start in zip(again.final_weights(), first.final_weights(), strict=True):
        np.testing.assert_allclose(mine, start, atol=1e-6)
    share = len(first.final_weights()) // 2
    assert not np.allclose(first.final_weights()[0], first.final_weights()[share])


def test_the_blend_weight_is_the_best_on_the_windows_it_is_fitted_on() -> None:
    rng = np.random.default_rng(0)
    actual = rng.normal(size=200)
    assert best_weight(actual, actual, actual + 1) == 1.0
    assert best_weight(actual, actual + 1, actual) == 0.0
    noise = rng.normal(size=200)
    assert 0.3 <= best_weight(actual, actual + noise, actual - noise) <= 0.7  # opposite errors: about half each


@pytest.mark.slow
def test_a_blended_model_serves_its_weighted_mean_with_the_naive_forecast() -> None:
    config, (series,) = located_series([900], ["train.epochs=2", "train.combine_naive=true"])
    trained = train_models([[series]], config.train)[0]
    blend = trained.spec.blends[series.series]
    assert trained.result.blends == {series.series: blend} and 0.0 <= blend.weight <= 1.0
    spec = trained.spec.window_for(series.series)
    with keras_session():
        blended = forecast_frame(trained.model, trained.spec, series.series, series.frame)
        plain_spec = trained.spec.model_copy(update={"blends": {}})
        plain = forecast_frame(trained.model, plain_spec, series.series, series.frame)
    ends = np.arange(len(series.frame) - len(blended), len(series.frame))
    naive = NaiveForecast(NaiveSpec.parse(blend.naive), spec).predict(series.frame["value"].to_numpy(), ends)
    expected = blend.weight * plain["predicted_ma"].to_numpy() + (1 - blend.weight) * naive
    np.testing.assert_allclose(blended["predicted_ma"], expected, atol=1e-9)


@pytest.mark.slow
def test_the_blend_never_sees_the_test_slice() -> None:
    config, (series,) = located_series([900], ["train.epochs=1", "train.combine_naive=true"])
    changed = series.frame.copy()
    test = changed["split"] == "test"
    changed.loc[test, ["value", "value__z"]] *= -3.0
    first, second = (train_models([[s]], config.train)[0] for s in (series, replace(series, frame=changed)))
    assert first.result.blends == second.result.blends and first.result.blends


def test_what_serves_says_its_members_and_its_blend() -> None:
    blend = {"naive": "seasonal_change_336", "weight": 0.8}
    assert (
        serving_label("lstm") == "LSTM" and serving_label("lstm", 1, {"naive": "naive_last", "weight": 1.0}) == "LSTM"
    )
    assert serving_label("lstm", 5, blend) == "LSTM x5 + 0.20 naive"
    assert serving_label("lstm", 1, blend, trained_for=3) == "global LSTM (3 series) + 0.20 naive"
    assert serving_label("baseline:naive_last", 5, blend) == "naive: last value" and serving_label("") == ""
    published = SeriesOutcome(series="s", status="published", message="", served_by="lstm", label="LSTM x5")
    assert outcome_kind(published) == "LSTM x5"  # the champion's own label, whatever the run did
    assert outcome_kind(published.model_copy(update={"served_by": "", "label": ""})) == ""
