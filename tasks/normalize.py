"""Normalize stage: one series, split chronologically and z-scored with train-slice statistics."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger

from movavg.config import NormalizeConfig
from movavg.schema import NormalizeResult
from movavg.series import normalize_and_save
from tasks.policies import cached_stage, output_dir


@cached_stage("normalize", normalize_and_save, retries=1)
def normalize(
    cache_dir: str, fingerprint: str, raw_dir: str, columns: list[str], config: NormalizeConfig
) -> NormalizeResult:
    """Cached on the data fingerprint, the column choice, this config and the library code."""
    result = normalize_and_save(Path(raw_dir), columns, config, output_dir(cache_dir, "normalize"))
    logger = get_run_logger()
    logger.info("normalized series %r: %s rows", result.series, result.rows)
    if result.gaps.gaps:
        filled = (f"filled {result.gaps.filled_rows} row(s) ({config.fill_gaps})" if config.fill_gaps != "none"
                  else "not filled: set normalize.fill_gaps=ffill or interpolate to fill them")
        logger.warning("%d gap(s) in the time index (usual step %s, largest %s); %s", result.gaps.gaps,
                       result.gaps.step, result.gaps.largest, filled)
    return result
