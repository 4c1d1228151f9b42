"""Normalize stage, one task run per series: the series split chronologically and z-scored with its
train-slice statistics; a series that cannot be modelled is skipped with its reason."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger

from movavg.config import NormalizeConfig
from movavg.schema import NormalizeResult, Skipped, UnusableSeries
from movavg.series import normalize_and_save
from tasks.policies import cached_stage, output_dir


@cached_stage("normalize", normalize_and_save, retries=1, task_run_name="normalize-{series}")
def normalize(
    cache_dir: str, series: str, fingerprint: str, raw_dir: str, columns: list[str], config: NormalizeConfig
) -> NormalizeResult | Skipped:
    """Cached on this series' data fingerprint, the column choice, this config and the library code."""
    logger = get_run_logger()
    try:
        result = normalize_and_save(Path(raw_dir), series, columns, config, output_dir(cache_dir, "normalize"))
    except UnusableSeries as reason:
        logger.warning("series %r skipped: %s", series, reason)
        return Skipped(series=series, stage="normalize", reason=str(reason))
    logger.info("normalized series %r: %s rows", result.series, result.rows)
    if result.gaps.gaps:
        filled = (f"filled {result.gaps.filled_rows} row(s) ({config.fill_gaps})" if config.fill_gaps != "none"
                  else "not filled: set normalize.fill_gaps=ffill or interpolate to fill them")
        logger.warning("series %r: %d gap(s) in the time index (usual step %s, largest %s); %s", series,
                       result.gaps.gaps, result.gaps.step, result.gaps.largest, filled)
    return result
