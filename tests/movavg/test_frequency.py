"""A series' step as a calendar frequency: inferred per series (gaps allowed), forecasts dated on its calendar,
the seasons it implies, and seasonal naive forecasts that never read past their origin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movavg.config import IngestConfig, NormalizeConfig, WindowConfig, build_config
from movavg.forecast import target_times
from movavg.forecaster import Forecaster
from movavg.frequency import describe_frequency, gap_steps, infer_frequency, step_ordinals
from movavg.ingest import ingest_files
from movavg.naive import naive_errors, naive_forecasts, naive_names
from movavg.rawstore import read_raw
from movavg.samples import calendar_series
from movavg.schema import WindowSpec
from movavg.seasons import calendar_features, natural_seasons, season_phases, usable_seasons
from movavg.series import split_labels
from tests.helpers import write_csv


@pytest.mark.parametrize(
    ("times", "kind", "alias", "seasons"),
    [
        (pd.date_range("2024-01-01", periods=300, freq="30min", tz="UTC"), "sub-daily", "30min", [48, 336]),
        (pd.date_range("2024-01-01", periods=300, freq="3h"), "sub-daily", "3h", [8, 56]),
        (pd.date_range("2024-01-01", periods=300, freq="D"), "daily", "D", [7, 365]),
        (pd.bdate_range("2024-01-01", periods=300), "business-daily", "B", [5, 252]),
        (pd.date_range("2024-01-03", periods=300, freq="W-WED"), "weekly", "W-WED", [52]),
        (pd.date_range("1990-01-01", periods=300, freq="MS"), "monthly", "MS", [12]),
        (pd.date_range("1990-01-31", periods=300, freq="ME"), "monthly", "ME", [12]),
        (pd.date_range("1990-02-01", periods=100, freq="QS-FEB"), "quarterly", "QS-FEB", [4]),
        (pd.date_range("1990-03-31", periods=100, freq="QE-DEC"), "quarterly", "QE-DEC", [4]),
        (pd.date_range("1700-01-01", periods=300, freq="YS"), "yearly", "YS-JAN", []),
        (pd.date_range("1990-06-30", periods=30, freq="YE-JUN"), "yearly", "YE-JUN", []),
        (pd.date_range("2024-01-01", periods=100, freq="2D"), "fixed", "2D", []),
    ],
)
def test_each_calendar_is_inferred_with_its_seasons(
    times: pd.DatetimeIndex, kind: str, alias: str, seasons: list
) -> None:
    gapped = times.delete([10, 11, 20])  # missing rows are gaps, not another calendar
    frequency = infer_frequency(gapped)
    assert (frequency.kind, frequency.alias, natural_seasons(frequency)) == (kind, alias, seasons)
    assert gap_steps(gapped, frequency).sum() == 3 or kind == "business-daily"
    steps = target_times(pd.Series(times[:20]), 5, frequency)[-5:]
    assert list(pd.DatetimeIndex(steps)) == list(times[20:25])  # forecasts dated on the calendar


def test_a_month_on_a_fixed_day_and_irregular_steps() -> None:
    fifteenth = pd.date_range("2020-01-01", periods=40, freq="MS") + pd.Timedelta(days=14)
    frequency = infer_frequency(fifteenth)
    assert (frequency.kind, frequency.anchor, natural_seasons(frequency)) == ("monthly", "day", [12])
    assert pd.Timestamp(target_times(pd.Series(fifteenth), 3, frequency)[-1]) == pd.Timestamp("2023-07-15")
    rng = np.random.default_rng(0)
    events = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.cumsum(rng.exponential(3600, 200)), unit="s")
    irregular = infer_frequency(pd.DatetimeIndex(events).round("s"))
    assert irregular.kind == "irregular" and natural_seasons(irregular) == []
    assert describe_frequency(irregular).startswith("irregular (median")
    assert infer_frequency(pd.DatetimeIndex([pd.Timestamp("2024-01-01")])).kind == "irregular"


def test_month_start_plus_five_months_is_a_month_start() -> None:
    starts = pd.Series(pd.date_range("2026-06-01", periods=24, freq="MS"))
    ahead = pd.DatetimeIndex(target_times(starts, 5))  # inferred when a bundle predates frequencies
    assert ahead[-1] == pd.Timestamp("2028-10-01") and (ahead.day == 1).all()
    ends = pd.Series(pd.date_range("2026-01-31", periods=24, freq="ME"))
    assert pd.DatetimeIndex(target_times(ends, 5)).is_month_end.all()
    quarters = pd.Series(pd.date_range("2020-01-01", periods=24, freq="QS"))
    assert pd.Timestamp(target_times(quarters, 4)[-1]) == pd.Timestamp("2026-10-01")  # 2025-10-01 + 4 quarters


def test_calendar_phases_and_inputs_of_months_and_quarters() -> None:
    months = pd.date_range("1880-01-01", periods=120, freq="MS")
    monthly = infer_frequency(months)
    np.testing.assert_array_equal(season_phases(months, 12, monthly), months.month - 1)
    np.testing.assert_array_equal(np.diff(step_ordinals(months, monthly)), 1)
    quarters = pd.date_range("2000-01-01", periods=40, freq="QS")
    quarterly = infer_frequency(quarters)
    np.testing.assert_array_equal(season_phases(quarters, 4, quarterly), quarters.quarter - 1)
    np.testing.assert_array_equal(season_phases(quarters, 8, quarterly), np.arange(40) % 8)
    month_inputs = calendar_features(months, "month")
    assert month_inputs.shape == (120, 2) and np.allclose(month_inputs[0], month_inputs[12])
    assert not np.allclose(month_inputs[0], month_inputs[6])
    assert calendar_features(quarters, "quarter").shape == (40, 2)


def test_a_season_no_longer_than_the_horizon_becomes_its_smallest_multiple_that_is() -> None:
    seasons, notes = usable_seasons([4], train_rows=200, lookback=8, horizon=5)
    assert seasons == [8] and notes == ["season 4 is no longer than the horizon 5: using 8"]
    assert usable_seasons([4], train_rows=200, lookback=8, horizon=4)[0] == [8]
    assert usable_seasons([12, 24], train_rows=40, lookback=8, horizon=2) == (
        [12],
        ["season 24 left out: the train slice (40 rows) holds it fewer than 2 times besides one window"],
    )


@pytest.mark.parametrize(("horizon", "ma_window", "season"), [(0, 1, 4), (4, 4, 8), (5, 5, 8), (11, 5, 12), (3, 6, 4)])
def test_no_naive_forecast_reads_past_its_origin(horizon: int, ma_window: int, season: int) -> None:
    """Every naive forecast from origin t is the same whatever the rows after t hold."""
    seasons, _ = usable_seasons([season], train_rows=10_000, lookback=8, horizon=horizon)
    spec = WindowSpec(lookback=8, ma_window=ma_window, horizon=horizon, seasons=seasons)
    target = np.random.default_rng(horizon).normal(size=120)
    ends = np.arange(spec.history, 120 - horizon)
    before = naive_forecasts(target, ends, spec)
    for origin in ends[::7]:
        changed = target.copy()
        changed[origin + 1 :] += 1000.0
        after = naive_forecasts(changed, np.array([origin]), spec)
        for name, forecasts in after.items():
            assert forecasts[0] == before[name][origin - ends[0]], (name, origin)


def test_seasons_can_be_given_per_series_and_must_be_real_lengths() -> None:
    config = WindowConfig(seasons={"meter": [24, 168], "store": [7]})
    assert config.seasons_for("meter") == [24, 168] and config.seasons_for("other") is None
    assert WindowConfig(seasons=[12]).seasons_for("any") == [12] and WindowConfig().seasons_for("any") is None
    for bad in ([0], [-5], {"meter": [1]}):
        with pytest.raises(ValueError, match="at least 2 steps"):
            WindowConfig(seasons=bad)


GATE = [
    "window.lookback=8",
    "window.ma_window=4",
    "window.horizon=5",
    'train.layers=[{"units": 8}]',
    "train.epochs=3",
    "evaluate.backtest_folds=0",
]


def gated(frame: pd.DataFrame, *overrides: str) -> tuple[Forecaster, dict]:
    """A Forecaster fitted on `frame` under the default gate with small windows, and its evaluation row."""
    forecaster = Forecaster(build_config("default", None, [*GATE, *overrides])).fit(frame)
    return forecaster, forecaster.evaluate().iloc[0].to_dict()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("freq", "rows", "season", "kind"),
    [("MS", 240, 12, "seasonal"), ("QS", 160, 8, "seasonal"), ("ME", 240, 12, "walk")],
)
def test_a_calendar_series_is_gated_against_its_seasonal_naive(freq: str, rows: int, season: int, kind: str) -> None:
    forecaster, row = gated(calendar_series(rows, freq, seed=3, kind=kind, start="1980-01-01"))
    fitted = forecaster.series_["default"]
    spec = fitted.bundle.window_for("default")
    assert spec.seasons == [season] and spec.frequency is not None and spec.frequency.alias.startswith(freq[0])
    assert set(naive_names(spec)) >= {f"seasonal_{season}", f"seasonal_change_{season}"}  # compared on the gate
    target = fitted.frame["value"].to_numpy()
    test_ends = np.flatnonzero(split_labels(len(target), NormalizeConfig()) == "test") - spec.horizon  # target rows
    expected = min(naive_errors(target, test_ends, spec).values())
    assert row["baseline_mae"] == pytest.approx(expected, rel=1e-6)  # the best naive, seasonal ones included
    assert row["ratio"] == pytest.approx(row["mae"] / row["baseline_mae"])
    times = pd.DatetimeIndex(forecaster.predict()["target_time"])
    assert list(times) == list(pd.date_range(times[0], periods=1, freq=spec.frequency.alias))  # on the calendar


@pytest.mark.slow
def test_where_the_seasonal_naive_is_exact_it_serves() -> None:
    """Trend plus a repeating yearly shape: last value plus the change over the same span a year before is exact,
    so no model can beat it and that naive forecast serves."""
    _, row = gated(calendar_series(200, "MS", seed=4, kind="repeating"))
    assert row["served_by"] == "baseline:seasonal_change_12" and row["mae"] == pytest.approx(0.0, abs=1e-9)
    assert row["lstm_mae"] > 0


@pytest.mark.slow
def test_a_yearly_series_from_1700_ingests_whole_trains_and_predicts(tmp_path: Path) -> None:
    years = calendar_series(300, "YS", seed=5, start="1700-01-01")
    years["timestamp"] = years["timestamp"].dt.year  # written as people write years: 1700, 1701, ...
    write_csv(years, tmp_path / "incoming", "sunspots.csv")
    report = ingest_files(tmp_path, IngestConfig()).files[0]
    assert (report["outcome"], report["rows_ingested"]) == ("ingested", 300)
    raw = read_raw(tmp_path / "raw")
    assert raw["timestamp"].min() == pd.Timestamp("1700-01-01", tz="UTC")
    forecaster, _ = gated(raw[["timestamp", "value"]])
    spec = forecaster.series_["default"].bundle.window_for("default")
    assert spec.frequency is not None and spec.frequency.kind == "yearly" and spec.seasons == []
    forecast = forecaster.predict().iloc[0]
    assert forecast["target_time"] == pd.Timestamp("2004-01-01", tz="UTC") and np.isfinite(forecast["predicted_ma"])
