"""Naive forecasts as small models: typed specs that round-trip through their record names, and fit/predict."""

from __future__ import annotations

import numpy as np
import pytest

from movavg.naive import NaiveForecast, NaiveSpec, describe_naive, naive_forecasts, naive_names
from movavg.schema import WindowSpec

WINDOW = WindowSpec(lookback=4, ma_window=3, horizon=2, seasons=[10])


def test_every_spec_round_trips_through_its_record_name() -> None:
    assert naive_names(WINDOW) == ["naive_last", "naive_ma", "seasonal_10", "seasonal_change_10"]
    for name in naive_names(WINDOW):
        assert NaiveSpec.parse(name).name == name
    assert NaiveSpec.parse("seasonal_change_336") == NaiveSpec(kind="seasonal_change", season=336)
    assert describe_naive("seasonal_change_336") == "seasonal change (336 steps)"
    assert describe_naive("naive_ma") == "current MA"
    for bad in ("seasonal_x", "naive_mean", "seasonal_change_"):
        with pytest.raises(ValueError, match="not a naive forecast"):
            NaiveSpec.parse(bad)


def test_a_naive_model_predicts_what_the_table_of_forecasts_holds_and_refuses_short_history() -> None:
    target = np.arange(40.0) ** 1.5
    ends = np.arange(12, 30)
    table = naive_forecasts(target, ends, WINDOW)
    for name, expected in table.items():
        spec = NaiveSpec.parse(name)
        model = NaiveForecast(spec, WINDOW).fit(target, ends)
        np.testing.assert_array_equal(model.predict(target, ends), expected)
        assert spec.history(WINDOW) <= WINDOW.history
    np.testing.assert_array_equal(table["naive_last"], target[ends])
    with pytest.raises(ValueError, match="reads 10 rows before each window"):
        NaiveForecast(NaiveSpec(kind="seasonal_change", season=10), WINDOW).fit(target, np.arange(5, 9))
