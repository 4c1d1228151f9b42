"""Seasonal profiles (window.deseasonalize): phases from the calendar, profiles from the train slice only, and
windows whose targets plus their offsets give back the target's moving average exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from movavg.config import WindowConfig
from movavg.frequency import fixed_frequency
from movavg.naive import moving_average
from movavg.schema import SPLIT, SPLITS, SeasonProfile
from movavg.seasons import fit_profile, season_phases, seasonal_component
from movavg.series import z_columns
from movavg.windowing import offsets, seasonal_offsets, series_windows, split_bounds, window_spec
from tests.helpers import located_series

HALF_HOUR = fixed_frequency(1800)


def test_phases_follow_the_calendar_through_gaps() -> None:
    times = pd.date_range("2024-01-01", periods=48 * 14, freq="30min")  # a Monday
    day, week = season_phases(times, 48, HALF_HOUR), season_phases(times, 336, HALF_HOUR)
    np.testing.assert_array_equal(day, np.arange(len(times)) % 48)
    np.testing.assert_array_equal(week, np.arange(len(times)) % 336)
    gapped = times.delete(np.s_[100:130])  # rows missing: the phases of the rows after them do not move
    np.testing.assert_array_equal(season_phases(gapped, 336, HALF_HOUR), np.delete(week, np.s_[100:130]))


def test_business_weeks_years_and_other_seasons() -> None:
    weekdays = pd.bdate_range("2024-01-01", periods=10)
    np.testing.assert_array_equal(season_phases(weekdays, 5, fixed_frequency(86400)), np.arange(10) % 5)
    weekly = pd.date_range("2001-01-07", periods=53 * 30, freq="W")  # 30 years of weeks: the year phase never drifts
    phases = season_phases(weekly, 52, fixed_frequency(7 * 86400))
    assert set(phases[weekly.month == 1]) <= {0, 1, 2, 3, 4, 5, 51}
    hourly = pd.date_range("2024-01-01", periods=30, freq="h")
    assert sorted(set(season_phases(hourly, 10, fixed_frequency(3600)))) == list(range(10))


def seasonal_frame(rows: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Half-hourly rows of a known daily profile on a trend with noise; and that profile (48,)."""
    rng = np.random.default_rng(seed)
    profile = np.sin(2 * np.pi * np.arange(48) / 48) + 0.5 * np.cos(4 * np.pi * np.arange(48) / 48)
    times = pd.date_range("2024-01-01", periods=rows, freq="30min")
    values = 0.001 * np.arange(rows) + profile[np.arange(rows) % 48] + rng.normal(0, 0.3, rows)
    return pd.DataFrame({"timestamp": times, "value": values}), profile


def test_a_known_profile_is_recovered_and_centred() -> None:
    frame, truth = seasonal_frame(48 * 40)
    profile = fit_profile(frame["value"].to_numpy(), frame["timestamp"], [48], HALF_HOUR)
    fitted = np.asarray(profile.values[0])
    assert abs(fitted.mean()) < 1e-9
    assert np.max(np.abs(fitted - (truth - truth.mean()))) < 0.15
    component = seasonal_component(profile, frame["timestamp"][:5], np.arange(3))  # (5, 3): phases move on by step
    np.testing.assert_allclose(component[:, 1], fitted[1:6])


def test_a_cycle_that_is_no_season_gives_no_profile() -> None:
    """A 41-hour swing under hourly data's day and week: its weekly phase means drift from week to week, so the
    older half of the train rows does not predict the newer one and the profile is left at zero; a real weekly
    cycle on the same rows is kept."""
    rng = np.random.default_rng(3)
    times = pd.date_range("2024-01-01", periods=700, freq="h")
    steps, noise = np.arange(700), rng.normal(0, 0.5, 700)
    swing = fit_profile(3 * np.sin(2 * np.pi * steps / 41) + noise, times, [24, 168], fixed_frequency(3600))
    assert all(not np.any(values) for values in swing.values)
    weekly = fit_profile(3 * np.sin(2 * np.pi * steps / 168) + noise, times, [24, 168], fixed_frequency(3600))
    assert np.abs(weekly.values[1]).max() > 1.5


def test_sparse_phases_pool_their_neighbours() -> None:
    """Three years of daily rows: each phase of a 365-day season holds ~3 rows, so neighbours are pooled and the
    noise of a single day does not become the profile (unpooled phase means of 3 rows miss by ~0.46 here)."""
    rng = np.random.default_rng(1)
    times = pd.date_range("2020-01-01", periods=3 * 365, freq="D")
    values = np.sin(2 * np.pi * times.dayofyear.to_numpy() / 365.25) + rng.normal(0, 1.0, len(times))
    profile = np.asarray(fit_profile(values, times, [365], fixed_frequency(86400)).values[0])
    truth = np.sin(2 * np.pi * (np.arange(365) + 1) / 365.25)
    assert np.abs(profile - truth).mean() < 0.35


def test_the_profile_is_fitted_on_the_train_slice_only() -> None:
    _config, (series,) = located_series([2000], ["window.deseasonalize=true"])
    config = WindowConfig(lookback=12, seasons=[24], deseasonalize=True)
    target = z_columns(series.columns)[0]
    spec = window_spec(series.frame, target, config)
    changed = series.frame.copy()
    later = changed[SPLIT] != "train"
    changed.loc[later, target] = changed.loc[later, target] * 5 + 3
    assert spec.profile is not None and window_spec(changed, target, config).profile == spec.profile
    assert (
        window_spec(series.frame, target, WindowConfig(lookback=12, seasons=[24], deseasonalize=False)).profile is None
    )


@pytest.mark.parametrize("per_window", [True, False])
def test_deseasonalized_targets_plus_offsets_are_the_moving_average(per_window: bool) -> None:
    """The model learns MA(target - profile) minus its offset; adding back the offset and the profile over the
    averaged span (as every forecast does) gives the target's own moving average."""
    _config, (series,) = located_series([1500], ["window.deseasonalize=true"])
    spec = series.spec
    assert spec is not None and spec.profile is not None
    bounds = split_bounds(series.frame, spec)
    rows, per_split = series_windows(series.frame, series.columns, spec, bounds, per_window, SPLITS)
    target = series.frame[z_columns(series.columns)[0]].to_numpy()
    actual = moving_average(target, spec.ma_window)
    for starts, goals in per_split.values():
        ends = starts + spec.lookback - 1
        back = goals + offsets(rows[:, 0].astype("float64"), ends, spec, per_window)
        back += seasonal_offsets(spec, series.frame["timestamp"], ends)
        np.testing.assert_allclose(back, actual[ends + spec.horizon], atol=1e-5)


@pytest.mark.parametrize(
    "damage",
    [{"values": [[0.0] * 3]}, {"seasons": [24, 168]}, {"step_seconds": 0.0}],
    ids=["too-few-phases", "season-without-values", "no-step"],
)
def test_a_damaged_profile_is_refused_where_it_is_read(damage: dict[str, object]) -> None:
    """A bundle's profile must hold one value per phase of each season: a damaged one fails when the bundle is
    read (the champion is then reported unreadable), never with an IndexError in the middle of a forecast."""
    good = {"step_seconds": 3600.0, "seasons": [24], "values": [[0.0] * 24]}
    assert SeasonProfile.model_validate(good).seasons == [24]
    with pytest.raises(ValueError, match="one value per phase"):
        SeasonProfile.model_validate({**good, **damage})
