"""Seasons and calendars: the step of a series, the natural seasons it implies, and cyclic calendar inputs.

A season is a length in steps after which the series tends to repeat: a day and a week for hourly and
sub-hourly data, a week and a year for daily data, a year for weekly data.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

Calendar = Literal["hour", "day", "week", "none"]

DAY, WEEK = pd.Timedelta(days=1), pd.Timedelta(days=7)
YEAR_DAYS, BUSINESS_WEEK, BUSINESS_YEAR, YEAR_WEEKS = 365, 5, 252, 52
MIN_SEASONS_IN_TRAIN = 2  # a season is used only when the train slice holds it at least this often


def natural_seasons(step: pd.Timedelta, business_days: bool = False) -> list[int]:
    """Season lengths in steps implied by a series' usual step; [] when its step has no natural cycle.

    Hourly or finer (dividing a day): a day and a week. Daily: a week and a year (5 and 252 for business
    days). Weekly: a year (52).
    """
    if step <= pd.Timedelta(0):
        return []
    if step <= pd.Timedelta(hours=1) and DAY % step == pd.Timedelta(0):
        return [DAY // step, WEEK // step]
    if step == DAY:
        return [BUSINESS_WEEK, BUSINESS_YEAR] if business_days else [7, YEAR_DAYS]
    if step == WEEK:
        return [YEAR_WEEKS]
    return []


def usable_seasons(seasons: list[int], train_rows: int, lookback: int, horizon: int) -> list[int]:
    """The seasons a train slice of `train_rows` rows can learn from: longer than the horizon (a season-ago
    span ending after the forecast time would not be known yet) and seen MIN_SEASONS_IN_TRAIN times."""
    return sorted({s for s in seasons if s > horizon and train_rows >= MIN_SEASONS_IN_TRAIN * s + lookback + horizon})


def calendar_kind(step: pd.Timedelta) -> Calendar:
    """Which calendar cycles suit a step: time of day + day of week below a day, day of week + day of year
    for daily data, week of year for weekly data, none otherwise."""
    if pd.Timedelta(0) < step < DAY:
        return "hour"
    if step == DAY:
        return "day"
    if step == WEEK:
        return "week"
    return "none"


CALENDAR_WIDTH = {"hour": 4, "day": 4, "week": 2, "none": 0}


def calendar_features(timestamps: pd.Series | pd.DatetimeIndex, kind: Calendar) -> np.ndarray:
    """Cyclic (sin, cos) encodings of the calendar position of each timestamp, shape (n, 4), (n, 2) or (n, 0).

    "hour": time of day and day of week; "day": day of week and day of year; "week": day of year.
    """
    times = pd.DatetimeIndex(timestamps)
    day_fraction = (times.hour * 3600 + times.minute * 60 + times.second).to_numpy() / 86400.0
    week_fraction = (times.dayofweek.to_numpy() + day_fraction) / 7.0
    year_fraction = (times.dayofyear.to_numpy() - 1) / 365.25
    cycles = {
        "hour": [day_fraction, week_fraction],
        "day": [week_fraction, year_fraction],
        "week": [year_fraction],
        "none": [],
    }[kind]  # CALENDAR_WIDTH columns
    columns = [f(2 * np.pi * c) for c in cycles for f in (np.sin, np.cos)]
    return np.stack(columns, axis=1).astype("float32") if columns else np.empty((len(times), 0), dtype="float32")
