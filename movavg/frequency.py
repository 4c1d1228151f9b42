"""A series' step as a calendar frequency: one inference for the whole library (`infer_frequency`), the offset
that moves a timestamp on by whole steps (`step_offset`), and each timestamp's ordinal on that calendar
(`step_ordinals`), from which seasons take their phases.

Calendar steps (months, quarters, years) have no fixed length: a month start plus five months is a month start,
never "plus 5 x 31 days". Fixed steps (sub-daily, daily, weekly, any other fixed length) are a Timedelta;
business days skip weekends. A series whose steps follow no such rule is `irregular`: it is reported, gets
no seasons, and its forecasts are dated by its median step.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from movavg.schema import Frequency

DAY, WEEK = pd.Timedelta(days=1), pd.Timedelta(days=7)
REGULAR_SHARE = 0.9  # a step rule must hold for at least this share of a series' steps
MIN_BUSINESS_ROWS = 10  # fewer weekday rows cannot tell business days from daily data
MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
# Median step in days -> months per step for the calendar frequencies.
CALENDAR_MONTHS = (((27.0, 32.0), 1), ((88.0, 93.0), 3), ((364.0, 367.0), 12))
CALENDAR_KIND = {1: "monthly", 3: "quarterly", 12: "yearly"}


def infer_frequency(timestamps: pd.Series | pd.DatetimeIndex) -> Frequency:
    """The calendar frequency of a sorted time index (gaps allowed: a rule holds when at least REGULAR_SHARE
    of the steps are whole multiples of it). Fewer than two timestamps: irregular with no step."""
    times = pd.DatetimeIndex(timestamps)
    if len(times) < 2:
        return Frequency(kind="irregular", alias="", step_seconds=0.0)
    steps = pd.Series(times[1:] - times[:-1])
    median = pd.Timedelta(steps.median())
    if median <= pd.Timedelta(0):
        return Frequency(kind="irregular", alias="", step_seconds=0.0)
    for (low, high), months in CALENDAR_MONTHS:
        if low <= median / DAY <= high:
            return _calendar_frequency(times, months, median)
    if _business_days(times, median):
        return Frequency(kind="business-daily", alias="B", step_seconds=DAY.total_seconds())
    if _share(np.asarray(steps % median == pd.Timedelta(0))) < REGULAR_SHARE:
        return Frequency(kind="irregular", alias="", step_seconds=median.total_seconds())
    if median == WEEK:
        return Frequency(kind="weekly", alias=f"W-{times[0].day_name()[:3].upper()}", step_seconds=WEEK.total_seconds())
    kind = "sub-daily" if median < DAY else "daily" if median == DAY else "fixed"
    days = median // DAY
    alias = ("D" if days == 1 else f"{days}D") if median % DAY == pd.Timedelta(0) else to_offset(median).freqstr
    return Frequency(kind=kind, alias=alias, step_seconds=median.total_seconds())


def _share(flags: np.ndarray) -> float:
    return float(np.mean(flags)) if len(flags) else 0.0


def _business_days(times: pd.DatetimeIndex, median: pd.Timedelta) -> bool:
    """Daily data on weekdays only (prices, business metrics): weekends are its calendar, not gaps."""
    return (
        len(times) >= MIN_BUSINESS_ROWS
        and median == DAY
        and bool((times.dayofweek < 5).all())
        and bool((times == times.normalize()).all())
    )


def _calendar_frequency(times: pd.DatetimeIndex, months: int, median: pd.Timedelta) -> Frequency:
    """Monthly, quarterly or yearly: every step a whole number of `months`-month periods, all timestamps on one
    anchor (period starts, period ends, or one day of the month); otherwise irregular."""
    ordinal = month_ordinals(times)
    moves = np.diff(ordinal)
    if _share((moves > 0) & (moves % months == 0)) < REGULAR_SHARE or len(set(ordinal % months)) != 1:
        return Frequency(kind="irregular", alias="", step_seconds=median.total_seconds())
    calendar = {"kind": CALENDAR_KIND[months], "months": months, "step_seconds": median.total_seconds()}
    if bool((times.day == 1).all()):
        return Frequency(**calendar, alias=_anchored("S", months, times[0].month), anchor="start")
    if bool(times.is_month_end.all()):
        return Frequency(**calendar, alias=_anchored("E", months, times[0].month), anchor="end")
    if times.day.nunique() == 1:
        return Frequency(**calendar, alias="", anchor="day")
    return Frequency(kind="irregular", alias="", step_seconds=median.total_seconds())


def _anchored(edge: str, months: int, month: int) -> str:
    """The pandas alias of a period start or end (`MS`, `ME`, `QS-JAN`, `QE-DEC`, `YS-JUL`, ...) for a series
    whose first timestamp falls in `month` (1..12)."""
    if months == 1:
        return f"M{edge}"
    if months == 3:
        # QS-JAN starts quarters in Jan, Apr, Jul and Oct; QE-OCT ends them there.
        anchor = (month - 1) % 3 + (1 if edge == "S" else 10)
        return f"Q{edge}-{MONTH_NAMES[anchor - 1]}"
    return f"Y{edge}-{MONTH_NAMES[month - 1]}"


def step_offset(frequency: Frequency) -> pd.DateOffset | pd.Timedelta:
    """What moves a timestamp of the series on by one step: a calendar offset (`MonthBegin`, `QuarterEnd`,
    `BDay`, `DateOffset(months=1)`, ...) or a fixed Timedelta."""
    if frequency.alias:
        return to_offset(frequency.alias)
    if frequency.months:
        return pd.DateOffset(months=frequency.months)
    return pd.Timedelta(seconds=frequency.step_seconds)


def steps_after(last: pd.Timestamp, steps: int, frequency: Frequency) -> list[pd.Timestamp]:
    """The timestamps 1..`steps` steps after `last` on the series' calendar (a month start plus k months is a
    month start); [] for a frequency without a step."""
    if not frequency.alias and not frequency.months and frequency.step_seconds <= 0:
        return []
    offset = step_offset(frequency)
    return [last + k * offset for k in range(1, steps + 1)]


def month_ordinals(times: pd.DatetimeIndex) -> np.ndarray:
    """Months since January of year 0 of each timestamp, (n,) int64."""
    return times.year.to_numpy().astype("int64") * 12 + times.month.to_numpy() - 1


def step_ordinals(timestamps: pd.Series | pd.DatetimeIndex, frequency: Frequency) -> np.ndarray:
    """Each timestamp's position on the series' calendar in whole steps, (n,) int64: calendar periods since
    year 0 for monthly, quarterly and yearly series (so `ordinal % 12` of a monthly series is its month, `% 4` of
    a quarterly one its quarter), else steps since 1970 (rounded)."""
    times = pd.DatetimeIndex(timestamps)
    if frequency.months:
        return month_ordinals(times) // frequency.months
    step = pd.Timedelta(seconds=frequency.step_seconds or DAY.total_seconds())
    steps = (times - pd.Timestamp("1970-01-01", tz=times.tz)) / step
    return np.rint(np.asarray(steps, dtype="float64")).astype("int64")


def gap_steps(timestamps: pd.Series | pd.DatetimeIndex, frequency: Frequency) -> np.ndarray:
    """Steps missing between consecutive timestamps (n - 1,) int64: 0 where the next row is one step on.
    Business days count weekdays (weekends are the calendar); a fixed step counts a step over 1.5x as a gap."""
    times = pd.DatetimeIndex(timestamps)
    if len(times) < 2:
        return np.zeros(0, dtype="int64")
    if frequency.kind == "business-daily":
        days = times.tz_localize(None).values.astype("datetime64[D]")
        return (np.busday_count(days[:-1], days[1:]) - 1).astype("int64")
    if frequency.months:
        return (np.diff(step_ordinals(times, frequency)) - 1).astype("int64")
    step = pd.Timedelta(seconds=frequency.step_seconds)
    if step <= pd.Timedelta(0):
        return np.zeros(len(times) - 1, dtype="int64")
    ratios = np.asarray((times[1:] - times[:-1]) / step, dtype="float64")
    return np.where(ratios > 1.5, np.maximum(np.rint(ratios) - 1, 1), 0).astype("int64")


PERIOD_WORDS = {"monthly": "month", "quarterly": "quarter", "yearly": "year"}


def describe_frequency(frequency: Frequency) -> str:
    """In words: `30 min`, `1 d`, `business day`, `week (W-SUN)`, `month start`, `quarter end (QE-DEC)`,
    `month (same day)`, `irregular (median 17 h)`."""
    median = pd.Timedelta(seconds=frequency.step_seconds)
    if frequency.kind == "irregular":
        return f"irregular (median {human_duration(median)})" if frequency.step_seconds else "irregular"
    if frequency.kind == "business-daily":
        return "business day"
    if frequency.kind == "weekly":
        return f"week ({frequency.alias})"
    if frequency.kind in PERIOD_WORDS:
        word = PERIOD_WORDS[frequency.kind]
        if frequency.anchor == "day":
            return f"{word} (same day)"
        return f"{word} {frequency.anchor}" + ("" if frequency.kind == "monthly" else f" ({frequency.alias})")
    return human_duration(median)


DURATION_UNITS = (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1))


def human_duration(duration: pd.Timedelta) -> str:
    """A duration as people write it: `1 h`, `2 h 30 min`, `1 d`, `7 d 12 h`, `15 s`, `250 ms` (two units at most)."""
    seconds = duration.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    parts = []
    for unit, size in DURATION_UNITS:
        if seconds >= size and len(parts) < 2:
            count, seconds = divmod(seconds, size)
            parts.append(f"{count:.0f} {unit}")
        elif parts:
            break
    return " ".join(parts)


def fixed_frequency(step_seconds: float) -> Frequency:
    """The frequency a bundle written before frequencies were recorded (format 4 and older) implies: its
    fixed step, daily or weekly when it is one."""
    step = pd.Timedelta(seconds=step_seconds)
    kind = "sub-daily" if step < DAY else "daily" if step == DAY else "weekly" if step == WEEK else "fixed"
    return Frequency(kind=kind, alias="", step_seconds=step_seconds)
