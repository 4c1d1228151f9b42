"""After `movavg promote`: every output names what serves now. The promoted series' row of
`forecasts/latest.parquet` is the promoted champion's forecast from the series' stored rows, and its health
record names that champion (its live window, scored for the one before, is kept and marked as such by `status`).

The promotion itself is `movavg.registry.promote`; the gate keeps a champion promoted by hand until rows newer
than those it was promoted on arrive (`movavg.publishing.hold_promoted`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from movavg.forecast import newest_forecast
from movavg.model import load_reused
from movavg.monitor import previous_health, read_latest, record_health, with_champion
from movavg.publishing import LATEST
from movavg.rawstore import read_raw
from movavg.registry import current_champion, metrics_of
from movavg.schema import SERIES, SeriesHealth
from movavg.session import keras_session
from movavg.storage import atomic_write_parquet

log = logging.getLogger("movavg.promotion")


def serve_promoted(artifacts_dir: Path, raw_dir: Path, names: list[str]) -> tuple[list[SeriesHealth], list[str]]:
    """Refresh `latest.parquet` and `health.json` for the series in `names`, just promoted. Returns every
    series' health as recorded now (for the UI's health table) and one note per series whose forecast could
    not be made (its stale row is removed rather than left naming the old champion)."""
    fresh, notes = [], []
    for name in names:
        try:
            fresh.append(promoted_forecast(artifacts_dir, raw_dir, name))
        except Exception as error:  # no stored rows, or a champion that cannot be loaded
            notes.append(f"{name}: no forecast from the promoted champion ({type(error).__name__}: {error})")
    replace_latest(artifacts_dir, names, fresh)
    forward = {str(frame[SERIES].iloc[0]): frame.iloc[0].to_dict() for frame in fresh}
    records = {name: r for name, r in previous_health(artifacts_dir).items() if isinstance(r, dict)}
    healths = [SeriesHealth.model_validate(records[name]) for name in names if name in records]
    fresh_healths, _ = record_health(
        artifacts_dir, healths, lambda h: with_champion(artifacts_dir, h, forward.get(h.series))
    )
    refreshed = {h.series: h for h in fresh_healths}
    return [refreshed.get(name) or SeriesHealth.model_validate(record) for name, record in records.items()], notes


def promoted_forecast(artifacts_dir: Path, raw_dir: Path, series: str) -> pd.DataFrame:
    """The forecast now (from the series' newest stored row) of the champion serving `series`, at its
    calibrated interval (margin 0: its adaptive margin starts with its own live scores)."""
    champion = current_champion(artifacts_dir, series)
    if champion is None:
        raise ValueError("no champion")
    rows = read_raw(raw_dir, series)
    if rows.empty:
        raise ValueError(f"no stored rows in {raw_dir}")
    with keras_session():
        model, bundle = load_reused(Path(champion.path))
        metrics = metrics_of(Path(champion.path)).get(series, {})
        latest = newest_forecast(model, bundle, series, rows, metrics)
    return latest.assign(model_version=champion.version, margin=0.0)


def replace_latest(artifacts_dir: Path, names: list[str], fresh: list[pd.DataFrame]) -> None:
    """`latest.parquet` with the rows of `names` replaced by `fresh` (a series without one loses its row)."""
    earlier = read_latest(artifacts_dir)
    if earlier is None and not fresh:
        return
    kept = [] if earlier is None else [earlier[~earlier[SERIES].isin(names)]]
    frame = pd.concat([*kept, *fresh], ignore_index=True)
    path = artifacts_dir / "forecasts" / LATEST
    atomic_write_parquet(path, frame.sort_values(SERIES, kind="stable").reset_index(drop=True))
