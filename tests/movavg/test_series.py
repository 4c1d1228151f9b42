"""One series: selection, chronological split, statistics from the train slice only, gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from movavg.config import NormalizeConfig
from movavg.schema import UnusableSeries
from movavg.series import (
    check_usable,
    choose_series,
    fill_gaps,
    find_gaps,
    normalize_series,
    select_series,
    split_labels,
    z_columns,
)


def raw_frame(values: np.ndarray, series: str = "default") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "series_id": series,
            "timestamp": pd.date_range("2024", periods=len(values), freq="h", tz="UTC"),
            "value": values,
        }
    )


def test_split_is_chronological_with_configured_fractions() -> None:
    labels = split_labels(100, NormalizeConfig(train_fraction=0.6, val_fraction=0.2, test_fraction=0.2))
    assert list(labels[:60]) == ["train"] * 60
    assert list(labels[60:80]) == ["val"] * 20
    assert list(labels[80:]) == ["test"] * 20


def test_scaler_is_fitted_on_the_train_slice_only() -> None:
    values = np.random.default_rng(0).normal(5, 2, 200)
    frame, stats = normalize_series(raw_frame(values), ["value"], NormalizeConfig())
    changed = values.copy()
    changed[140:] += 1000.0  # val and test slices only
    _, stats_changed = normalize_series(raw_frame(changed), ["value"], NormalizeConfig())
    assert stats == stats_changed
    assert stats.fitted_rows == 140
    assert stats.mean[0] == pytest.approx(values[:140].mean())
    assert z_columns(["value"]) == ["value__z"]
    train = frame[frame["split"] == "train"]["value__z"]
    assert train.mean() == pytest.approx(0, abs=1e-9) and train.std(ddof=0) == pytest.approx(1)


def test_every_series_is_chosen_unless_filtered() -> None:
    available = {"b": "fp-b", "a": "fp-a", "c": "fp-c"}
    assert choose_series(available, None) == (["a", "b", "c"], [])
    assert choose_series(available, "b") == (["b"], [])
    assert choose_series(available, ["c", "a", "zz"]) == (["c", "a"], ["zz"])
    with pytest.raises(ValueError, match="matches no ingested series \\(zz\\); available: a, b, c"):
        choose_series(available, "zz")
    with pytest.raises(ValueError, match="no data ingested yet"):
        choose_series({}, None)


def test_rows_of_one_series_sorted_by_time() -> None:
    two = pd.concat([raw_frame(np.arange(5.0), "a"), raw_frame(np.arange(5.0), "b")]).iloc[::-1]
    chosen = select_series(two, "b")
    assert chosen["series_id"].unique().tolist() == ["b"] and chosen["timestamp"].is_monotonic_increasing


def test_series_that_hold_nothing_to_forecast_are_unusable() -> None:
    with pytest.raises(UnusableSeries, match="constant \\(value is always 5\\)"):
        check_usable(raw_frame(np.full(10, 5.0)), "flat", "value")
    with pytest.raises(UnusableSeries, match="no rows of series 'gone'"):
        check_usable(raw_frame(np.arange(0.0)), "gone", "value")
    check_usable(raw_frame(np.arange(3.0)), "ok", "value")


def test_fractions_must_sum_to_one() -> None:
    with pytest.raises(ValueError, match="must be 1"):
        NormalizeConfig(train_fraction=0.5, val_fraction=0.2, test_fraction=0.2)


def test_gaps_are_found_and_filled_per_policy() -> None:
    times = pd.date_range("2024", periods=10, freq="h", tz="UTC").delete([3, 4, 7])
    raw = pd.DataFrame({"series_id": "s", "timestamp": times, "value": np.arange(7, dtype=float)})
    frequency, gaps, largest = find_gaps(raw["timestamp"])
    assert (frequency.alias, frequency.step_seconds, gaps, largest) == ("h", 3600.0, 2, pd.Timedelta("3h"))
    assert fill_gaps(raw, ["value"], "none") is raw
    filled = fill_gaps(raw, ["value"], "interpolate")
    assert len(filled) == 10 and filled["timestamp"].diff().dropna().eq(pd.Timedelta("1h")).all()
    assert filled["value"].iloc[3:5].tolist() == pytest.approx([2 + 1 / 3, 2 + 2 / 3])
    assert filled["value"].iloc[3] == pytest.approx(2.333333333)
    assert fill_gaps(raw, ["value"], "ffill")["value"].iloc[3:5].tolist() == [2.0, 2.0]
    assert set(filled["series_id"]) == {"s"}


def test_weekends_and_holidays_of_business_day_data_are_not_gaps() -> None:
    days = pd.bdate_range("2024-01-01", periods=300, tz="UTC")
    holidays = days.delete([20, 100, 101])  # one holiday, then a two-day one
    assert find_gaps(pd.Series(holidays))[1] == 0
    outage = holidays.delete(range(150, 155))  # five weekdays missing: a real gap
    assert find_gaps(pd.Series(outage))[1] == 1
    raw = pd.DataFrame({"series_id": "s", "timestamp": outage, "value": np.arange(len(outage), dtype=float)})
    filled = fill_gaps(raw, ["value"], "ffill")
    assert len(filled) == len(days) and (pd.DatetimeIndex(filled["timestamp"]).dayofweek < 5).all()  # every weekday
    calendar = pd.Series(pd.date_range("2024-01-01", periods=300, freq="D", tz="UTC")).drop([10, 11, 12])
    assert find_gaps(calendar.reset_index(drop=True))[1] == 1  # daily data with weekends is not business days


@pytest.mark.parametrize(
    ("duration", "written"),
    [
        ("1h", "1 h"),
        ("2h", "2 h"),
        ("1D", "1 d"),
        ("7D12h", "7 d 12 h"),
        ("30min", "30 min"),
        ("90s", "1 min 30 s"),
        ("250ms", "250 ms"),
    ],
)
def test_durations_are_written_as_people_write_them(duration: str, written: str) -> None:
    from movavg.series import human_duration

    assert human_duration(pd.Timedelta(duration)) == written
