"""Seasons and calendars: the natural seasons a series' frequency implies, the phases of a season, seasonal
profiles, and cyclic calendar inputs.

A season is a length in steps after which the series tends to repeat: a day and a week for hourly and
sub-hourly data, a week and a year for daily data, a year for weekly data, 12 months for monthly data and
4 quarters for quarterly data; yearly and irregular series have none.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from movavg.frequency import DAY, WEEK, fixed_frequency, step_ordinals
from movavg.schema import Frequency, SeasonProfile

Calendar = Literal["hour", "day", "week", "month", "quarter", "none"]

YEAR_DAYS, BUSINESS_WEEK, BUSINESS_YEAR, YEAR_WEEKS, YEAR_MONTHS, YEAR_QUARTERS = 365, 5, 252, 52, 12, 4
MIN_SEASONS_IN_TRAIN = 2  # a season is used only when the train slice holds it at least this often
MIN_PHASE_ROWS = 8  # a phase mean averages at least this many train rows (neighbouring phases pooled if need be)


def natural_seasons(frequency: Frequency) -> list[int]:
    """Season lengths in steps implied by a series' frequency; [] when it has no natural cycle.

    Sub-daily steps dividing a day: a day and a week. Daily: a week and a year (5 and 252 for business days).
    Weekly: a year (52). Monthly: a year (12). Quarterly: a year (4). Yearly, other fixed steps, irregular: none.
    """
    step = pd.Timedelta(seconds=frequency.step_seconds)
    if frequency.kind == "sub-daily" and step > pd.Timedelta(0) and DAY % step == pd.Timedelta(0):
        return [DAY // step, WEEK // step]
    return {
        "daily": [7, YEAR_DAYS],
        "business-daily": [BUSINESS_WEEK, BUSINESS_YEAR],
        "weekly": [YEAR_WEEKS],
        "monthly": [YEAR_MONTHS],
        "quarterly": [YEAR_QUARTERS],
    }.get(frequency.kind, [])


def past_horizon(season: int, horizon: int) -> int:
    """The smallest multiple of `season` longer than `horizon` (a quarterly season of 4 with horizon 5 is 8): the
    span one such season before a target ends at or before the forecast's origin, so it is known there."""
    return season * (horizon // season + 1)


def usable_seasons(seasons: list[int], train_rows: int, lookback: int, horizon: int) -> tuple[list[int], list[str]]:
    """(the seasons a train slice of `train_rows` rows can learn from, a note per season changed or left out).

    A season no longer than the horizon becomes its smallest multiple that is (`past_horizon`); a season is
    used when the train slice holds it MIN_SEASONS_IN_TRAIN times besides one window."""
    used, notes = set(), []
    for season in sorted(set(seasons)):
        length = past_horizon(season, horizon)
        if length != season:
            notes.append(f"season {season} is no longer than the horizon {horizon}: using {length}")
        if train_rows >= MIN_SEASONS_IN_TRAIN * length + lookback + horizon:
            used.add(length)
        else:
            notes.append(
                f"season {length} left out: the train slice ({train_rows} rows) holds it fewer than "
                f"{MIN_SEASONS_IN_TRAIN} times besides one window"
            )
    return sorted(used), notes


def calendar_kind(frequency: Frequency) -> Calendar:
    """Which calendar cycles suit a frequency: time of day + day of week below a day, day of week + day of year
    for daily data, day of year for weekly data, month of year for monthly and quarter of year for quarterly
    data; none otherwise (yearly, other fixed steps, irregular)."""
    return {
        "sub-daily": "hour",
        "daily": "day",
        "business-daily": "day",
        "weekly": "week",
        "monthly": "month",
        "quarterly": "quarter",
    }.get(frequency.kind, "none")  # type: ignore[return-value]


CALENDAR_WIDTH = {"hour": 4, "day": 4, "week": 2, "month": 2, "quarter": 2, "none": 0}


def calendar_features(timestamps: pd.Series | pd.DatetimeIndex, kind: str) -> np.ndarray:
    """Cyclic (sin, cos) encodings of the calendar position of each timestamp, shape (n, CALENDAR_WIDTH[kind]).

    "hour": time of day and day of week; "day": day of week and day of year; "week": day of year; "month":
    month of year; "quarter": quarter of year.
    """
    times = pd.DatetimeIndex(timestamps)
    day_fraction, week_fraction, year_fraction = _fractions(times)
    month_fraction = (times.month.to_numpy() - 1) / 12.0
    cycles = {
        "hour": [day_fraction, week_fraction],
        "day": [week_fraction, year_fraction],
        "week": [year_fraction],
        "month": [month_fraction],
        "quarter": [((times.month.to_numpy() - 1) // 3) / 4.0],
        "none": [],
    }[kind]  # CALENDAR_WIDTH columns
    columns = [f(2 * np.pi * c) for c in cycles for f in (np.sin, np.cos)]
    return np.stack(columns, axis=1).astype("float32") if columns else np.empty((len(times), 0), dtype="float32")


def _fractions(times: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(day, week, year) fraction in [0, 1) of each timestamp: time of day, of the week from Monday, and the day
    of the year (its start: the calendar inputs' year cycle)."""
    day = (times.hour * 3600 + times.minute * 60 + times.second).to_numpy() / 86400.0
    week = (times.dayofweek.to_numpy() + day) / 7.0
    year = (times.dayofyear.to_numpy() - 1) / 365.25
    return day, week, year


def season_phases(timestamps: pd.Series | pd.DatetimeIndex, season: int, frequency: Frequency) -> np.ndarray:
    """The phase (0..season-1) of each timestamp in a season of `season` steps of the series' `frequency`,
    (n,) int64.

    Monthly, quarterly and yearly series: the calendar period's ordinal modulo the season (month of the year
    for 12 months, quarter of the year for 4). Other seasons that are a calendar cycle (a day, a week, a year of
    52 weeks or ~365 days or 252 business days) take their phase from the calendar, so gaps and leap years
    never shift it; business-day weeks from the weekday; any other from the steps since 1970.
    """
    times = pd.DatetimeIndex(timestamps)
    if frequency.months:
        return step_ordinals(times, frequency) % season
    step = pd.Timedelta(seconds=frequency.step_seconds)
    if step == DAY and season == BUSINESS_WEEK:
        return np.minimum(times.dayofweek.to_numpy(), season - 1).astype("int64")
    day, week, year = _fractions(times)
    cycle = season * step
    if cycle == DAY:
        fraction = day
    elif cycle == WEEK:
        fraction = week
    elif pd.Timedelta(days=360) <= cycle <= pd.Timedelta(days=370) or (step == DAY and season == BUSINESS_YEAR):
        fraction = year + day / 365.25
    else:
        return step_ordinals(times, frequency) % season
    return np.rint(fraction * season).astype("int64") % season


def profile_frequency(profile: SeasonProfile) -> Frequency:
    """The frequency a profile's phases are counted on (a format-4 bundle's profile: its fixed step)."""
    return profile.frequency or fixed_frequency(profile.step_seconds)


def _phase_means(residual: np.ndarray, phases: np.ndarray, season: int) -> np.ndarray:
    """Mean of `residual` per phase, (season,), centred on 0; where phases hold fewer than MIN_PHASE_ROWS rows on
    average, neighbouring phases are pooled (a circular window just wide enough)."""
    known = np.isfinite(residual)
    sums = np.bincount(phases[known], residual[known], minlength=season)
    counts = np.bincount(phases[known], minlength=season).astype("float64")
    width = min(int(np.ceil(MIN_PHASE_ROWS / max(counts.mean(), 1e-9))) | 1, (season - 1) | 1)  # odd, < season
    if width > 1:
        sums, counts = _circular_sum(sums, width), _circular_sum(counts, width)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    return means - np.average(means, weights=np.maximum(counts, 1e-9))


def _profile_helps(residual: np.ndarray, phases: np.ndarray, season: int) -> bool:
    """Whether a season's profile carries forward: fitted on the older half of the train rows (whole cycles), it
    must lower the squared residual of the newer half. A cycle the series does not follow (a 41-hour swing under
    a weekly profile) yields phase means that drift or are noise, which fail here."""
    cycles = np.arange(len(residual)) // season
    known = np.isfinite(residual)
    older, newer = known & (cycles < (cycles[-1] + 1) // 2), known & (cycles >= (cycles[-1] + 1) // 2)
    if not older.any() or not newer.any():
        return False
    profile = _phase_means(np.where(older, residual, np.nan), phases, season)
    centred = residual[newer] - residual[newer].mean()
    return float(np.sum((centred - profile[phases[newer]]) ** 2)) < float(np.sum(centred**2))


def _circular_sum(values: np.ndarray, width: int) -> np.ndarray:
    """Sum over a centred circular window of odd `width` (> 1) of each element of `values` (season,)."""
    pad = width // 2
    return np.convolve(np.concatenate([values[-pad:], values, values[:pad]]), np.ones(width), "valid")


def fit_profile(
    target: np.ndarray, timestamps: pd.Series | pd.DatetimeIndex, seasons: list[int], frequency: Frequency
) -> SeasonProfile:
    """Additive seasonal profiles of a train slice's target (n,), shortest season first: detrend with a centred
    moving average as long as the longest season, then per season take each phase's mean of what the shorter
    seasons left (`_phase_means`), or zeros where such a profile does not generalise across the train slice's
    cycles (`_profile_helps`). Fit on the train rows only."""
    values = np.asarray(target, dtype="float64")
    longest = max(seasons)
    trend = pd.Series(values).rolling(longest, center=True, min_periods=max(1, longest // 2)).mean().to_numpy()
    residual, profiles = values - trend, []
    for season in sorted(seasons):
        phases = season_phases(timestamps, season, frequency)
        profile = _phase_means(residual, phases, season) if _profile_helps(residual, phases, season) else None
        profile = np.zeros(season) if profile is None else profile
        residual = residual - profile[phases]
        profiles.append(profile.tolist())
    step_seconds = frequency.step_seconds or DAY.total_seconds()
    return SeasonProfile(step_seconds=step_seconds, seasons=sorted(seasons), values=profiles, frequency=frequency)


def seasonal_component(
    profile: SeasonProfile, timestamps: pd.Series | pd.DatetimeIndex, ahead: np.ndarray | None = None
) -> np.ndarray:
    """The profiles' sum at each timestamp (n,), or with `ahead` (k,) offsets in steps, at each timestamp plus
    each offset (n, k): phases move on one per step."""
    frequency = profile_frequency(profile)
    shifts = np.zeros(1, dtype="int64") if ahead is None else np.asarray(ahead, dtype="int64")
    total = np.zeros((len(timestamps), len(shifts)))
    for season, values in zip(profile.seasons, profile.values, strict=True):
        phases = season_phases(timestamps, season, frequency)
        total += np.asarray(values)[(phases[:, None] + shifts[None, :]) % season]
    return total[:, 0] if ahead is None else total
