"""Normalize stage, one task run per batch of series (one series unless `run.series_per_task` groups them):
each series split chronologically and z-scored with its train-slice statistics; a series that cannot be
modelled is skipped with its reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import State, get_run_logger

from movavg.config import NormalizeConfig
from movavg.schema import Batch, NormalizeInput, NormalizeResult, Skipped, UnusableSeries
from movavg.series import normalize_and_save
from movavg.tasks.policies import each_member, stage_task


@stage_task("normalize", retries=1, task_run_name="normalize-{batch.label}")
def normalize(
    cache_dir: str, batch: Batch[NormalizeInput], raw_dir: str, columns: list[str], config: NormalizeConfig
) -> State[list[NormalizeResult | Skipped]]:
    """Each series cached on its data fingerprint, the column choice, this config and the library code."""
    members = [(m.series, {**dict(m), "raw_dir": raw_dir, "columns": columns, "config": config}) for m in batch.members]
    return each_member("normalize", normalize_and_save, cache_dir, members, normalize_one)


def normalize_one(member: dict[str, Any], out_dir: Path) -> NormalizeResult | Skipped:
    logger, series, config = get_run_logger(), member["series"], member["config"]
    try:
        result = normalize_and_save(Path(member["raw_dir"]), series, member["columns"], config, out_dir)
    except UnusableSeries as reason:
        logger.info("series %r skipped: %s", series, reason)  # the run's line counts them, the report lists them
        return Skipped(series=series, stage="normalize", reason=str(reason))
    logger.info("normalized series %r: %s rows, step %s", result.series, result.rows, result.gaps.step)
    if result.gaps.frequency is not None and result.gaps.frequency.kind == "irregular":
        logger.warning(
            "series %r: its steps follow no calendar (%s): no seasons, and forecasts are dated by its median step",
            series,
            result.gaps.step,
        )
    if result.gaps.gaps:
        filled = (
            f"filled {result.gaps.filled_rows} row(s) ({config.fill_gaps})"
            if config.fill_gaps != "none"
            else "not filled: set normalize.fill_gaps=ffill or interpolate to fill them"
        )
        logger.warning(
            "series %r: %d gap(s) in the time index (usual step %s, largest %s); %s",
            series,
            result.gaps.gaps,
            result.gaps.step,
            result.gaps.largest,
            filled,
        )
    return result
