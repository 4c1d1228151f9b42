"""Timestamp text to UTC timestamps, one convention per file: never a guess per row.

Numeric dates with the year last (`07/01/2024`, `7.1.24`, `07-01-2024 10:00`) do not say whether the day or the
month comes first. The file decides: a row whose first field is over 12 (`13/01/2024`) shows the day comes
first, one whose second field is (`01/13/2024`) that the month does. Such a row is read the one way it can be.
A row that fits both (`07/01/2024`) is read by the file's order when its rows show one order and only one, and
the file writes its dates that way alone; otherwise it is a bad row with a reason (a file mixing `2024-01-01`
with `07/01/2024`, or showing both orders). `ingest.timestamp_format` (a `strftime` format such as `%d/%m/%Y`,
or `ISO8601`) reads every row with that one format instead.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import pandas as pd

YEAR_LAST = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?=$|[ T])(.*)$")
Order = Literal["day-first", "month-first"]
SET_FORMAT = "set ingest.timestamp_format (e.g. %d/%m/%Y)"


def parse_dates(text: pd.Series, timestamp_format: str | None = None) -> tuple[pd.Series, pd.Series, list[str]]:
    """(UTC timestamps, per-row problem '' when none, notes for the file's report) of stripped texts; a row
    that is not a timestamp is NaT with no problem here (the caller names it)."""
    if timestamp_format:
        parsed = pd.to_datetime(text, errors="coerce", utc=True, format=timestamp_format)
        problem = np.where(
            parsed.isna() & text.ne(""), f"does not match ingest.timestamp_format {timestamp_format!r}", ""
        )
        return parsed, pd.Series(problem, index=text.index, dtype=object), []
    parts = text.str.extract(YEAR_LAST)
    year_last = parts[0].notna()
    if not year_last.any():
        return pd.to_datetime(text, errors="coerce", utc=True, format="mixed"), pd.Series("", index=text.index), []
    first, second = parts[0][year_last].astype(int), parts[2][year_last].astype(int)
    others = text[~year_last & text.ne("")]
    mixed = bool(len(others)) and bool(pd.to_datetime(others, errors="coerce", utc=True, format="mixed").notna().any())
    order, notes = file_order(first, second, mixed, text)
    day_first = (first > 12) | ((first <= 12) & (second <= 12) & (order == "day-first"))
    day = np.where(day_first, first, second)
    month = np.where(day_first, second, first)
    years = parts[3][year_last].map(_full_year)
    rewritten = [
        f"{y}-{m:02d}-{d:02d}{rest}" for y, m, d, rest in zip(years, month, day, parts[4][year_last], strict=True)
    ]
    iso = text.copy()
    iso[year_last] = rewritten
    parsed = pd.to_datetime(iso, errors="coerce", utc=True, format="mixed")
    problem = pd.Series("", index=text.index, dtype=object)
    ambiguous = year_last.copy()
    ambiguous[year_last] = ((first <= 12) & (second <= 12) & (first != second)).to_numpy() & (order is None)
    problem[ambiguous] = [f"ambiguous date {value!r}: day or month first? {SET_FORMAT}" for value in text[ambiguous]]
    parsed[ambiguous] = pd.NaT
    if mixed and ambiguous.any():
        notes.append("dates written in more than one format: a date that fits day-first and month-first is not read")
    return parsed, problem, notes


def file_order(first: pd.Series, second: pd.Series, mixed: bool, text: pd.Series) -> tuple[Order | None, list[str]]:
    """The order of a file's year-last dates, when its rows show one order only and it writes no date another
    way (`mixed`); and a note saying which rows showed it, or that they show both."""
    days = first[(first > 12) & (second <= 12)]
    months = first[(second > 12) & (first <= 12)]
    if len(days) and len(months):
        example = f"{text[days.index[0]]!r} and {text[months.index[0]]!r}"
        return None, [f"dates written day-first and month-first ({example}): {SET_FORMAT}"]
    if mixed:
        return None, []
    if len(days):
        return "day-first", [f"dates read day-first, as {text[days.index[0]]!r} shows"]
    if len(months):
        return "month-first", [f"dates read month-first, as {text[months.index[0]]!r} shows"]
    return None, []


def _full_year(year: str) -> int:
    """`24` as 2024 and `85` as 1985 (strptime's %y), four digits as they are."""
    value = int(year)
    return value if len(year) == 4 else value + (2000 if value < 69 else 1900)
