"""Bundles: a versioned spec independent of the config classes, bundles of the earlier format still load
and forecast exactly as before, and Keras safe mode on every load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movavg.bundle import BUNDLE_FILE, BUNDLE_FORMAT, MODEL_FILE, BundleSpec, bundle_intact, read_spec, upgrade
from movavg.scaling import ScalerStats
from movavg.schema import WindowSpec
from tests.helpers import FIXTURES

LEGACY = FIXTURES / "legacy_artifacts"


STATS = ScalerStats(columns=["value"], mean=[0.0], std=[1.0], fitted_rows=1, per_window=True)


def spec(**window: int) -> BundleSpec:
    return BundleSpec(
        series=["s"],
        columns=["value"],
        window=WindowSpec(**{"lookback": 4, "ma_window": 2, "horizon": 1, **window}),
        train={"epochs": 1},
        stats={"s": STATS},
    )


def test_a_format_1_bundle_is_read_and_upgraded() -> None:
    record = json.loads((LEGACY / "models" / "v1" / BUNDLE_FILE).read_text())
    assert "format" not in record  # written before the spec had a version
    loaded = read_spec(LEGACY / "models" / "v1")
    assert loaded.format == BUNDLE_FORMAT and loaded.window == WindowSpec(lookback=8, ma_window=4, horizon=2)
    assert loaded.series == ["default"] and loaded.stats_for("default").fitted_rows == 3500
    assert loaded.train["layers"][0]["units"] == 8


@pytest.mark.slow
@pytest.mark.parametrize("reused", [False, True], ids=["load_bundle", "load_reused"])
def test_a_format_1_bundle_forecasts_exactly_as_when_it_was_published(reused: bool) -> None:
    from movavg.bundle import load_bundle
    from movavg.forecast import forecast_frame
    from movavg.model import load_reused

    model, loaded = (load_reused if reused else load_bundle)(LEGACY / "models" / "v1")
    rows = pd.read_csv(FIXTURES / "legacy_input.csv").assign(series_id="default")
    rows["timestamp"] = pd.to_datetime(rows["timestamp"], utc=True)
    expected = pd.read_csv(FIXTURES / "legacy_expected_forecasts.csv")
    got = forecast_frame(model, loaded, "default", rows)
    assert len(got) == len(expected) == 40 - 8 + 1
    np.testing.assert_allclose(got["predicted_ma"], expected["predicted_ma"], rtol=1e-6)


def test_renamed_or_extra_config_fields_do_not_make_a_bundle_unreadable(tmp_path: Path) -> None:
    record = {
        **spec().model_dump(mode="json"),
        "train": {"a_field_renamed_later": 3},
        "window": {"lookback": 4, "ma_window": 2, "horizon": 1, "seasons": [24]},
        "something_new": True,
    }
    (tmp_path / BUNDLE_FILE).write_text(json.dumps(record))
    assert read_spec(tmp_path).window.lookback == 4


def test_a_bundle_from_a_newer_movavg_is_refused_with_what_to_do() -> None:
    with pytest.raises(ValueError, match=r"newer than this movavg reads .* upgrade movavg"):
        upgrade({**spec().model_dump(mode="json"), "format": BUNDLE_FORMAT + 1})


def test_a_model_has_statistics_only_for_the_series_it_was_trained_for() -> None:
    assert spec().stats_for("s") == STATS
    with pytest.raises(ValueError, match="not trained for series 'other'"):
        spec().stats_for("other")


def test_same_target_compares_column_ma_and_horizon() -> None:
    assert spec().same_target(spec(lookback=9))
    assert not spec().same_target(spec(horizon=2)) and not spec().same_target(spec(ma_window=3))


def test_bundle_intact_needs_a_zip_model_and_a_spec(tmp_path: Path) -> None:
    shutil.copytree(LEGACY / "models" / "v1", tmp_path / "v1")
    assert bundle_intact(tmp_path / "v1")
    (tmp_path / "v1" / MODEL_FILE).write_bytes(b"not a zip")
    assert not bundle_intact(tmp_path / "v1")


@pytest.mark.slow
def test_reused_models_hold_their_own_weights_per_slot_and_others_load_whole(tmp_path: Path) -> None:
    """`load_reused` reads weights into one model per architecture, shape and slot; a bundle whose model is not
    what its recorded settings build (here: recorded as the default LSTM, saved as LSTM 3) is loaded whole."""
    from movavg.bundle import load_bundle, save_bundle
    from movavg.config import LayerSpec, TrainConfig
    from movavg.model import build_model, load_reused

    inputs = np.random.default_rng(0).normal(size=(5, 4, 1)).astype("float32")
    default, other = TrainConfig(), TrainConfig(layers=[LayerSpec(units=3)])
    for name, built, recorded in [("a", default, default), ("b", default, default), ("odd", other, default)]:
        seed = {"a": 1, "b": 2, "odd": 3}[name]
        (tmp_path / name).mkdir()
        save_bundle(
            build_model(built, 4, 1, seed=seed),
            spec().model_copy(update={"train": recorded.model_dump()}),
            tmp_path / name,
        )
    expected = {name: load_bundle(tmp_path / name)[0].predict_on_batch(inputs) for name in ("a", "b", "odd")}
    first, _ = load_reused(tmp_path / "a", "candidate")
    second, _ = load_reused(tmp_path / "b", "champion")
    odd, _ = load_reused(tmp_path / "odd", "candidate")
    assert first is not second and odd is not first and len(odd.layers[0].get_weights()[1]) == 3
    np.testing.assert_array_equal(first.predict_on_batch(inputs), expected["a"])
    np.testing.assert_array_equal(second.predict_on_batch(inputs), expected["b"])
    np.testing.assert_array_equal(odd.predict_on_batch(inputs), expected["odd"])
    assert load_reused(tmp_path / "b", "candidate")[0] is first  # the slot's model, now with b's weights
    np.testing.assert_array_equal(first.predict_on_batch(inputs), expected["b"])


@pytest.mark.slow
@pytest.mark.parametrize("reused", [False, True], ids=["load_bundle", "load_reused"])
def test_models_load_in_keras_safe_mode(tmp_path: Path, reused: bool) -> None:
    """A .keras file holding a Python lambda is refused: loading a model never runs code from it."""
    import keras

    from movavg.bundle import load_bundle, save_bundle
    from movavg.model import load_reused

    model = keras.Sequential(
        [keras.Input(shape=(4, 1)), keras.layers.Lambda(lambda x: x * 2), keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    save_bundle(model, spec(), tmp_path)
    with pytest.raises(ValueError, match=r"(?i)unsafe|safe_mode"):
        (load_reused if reused else load_bundle)(tmp_path)
