"""Window stage, one task run per series: supervised (X, y) windows of each split; a series too short
for one window in every split is skipped with its reason.

`make_windows` lives in `movavg.windowing`; it is re-exported here for callers of the earlier layout.
"""

from __future__ import annotations

from prefect import get_run_logger

from movavg.config import WindowConfig
from movavg.schema import NormalizeResult, Skipped, UnusableSeries, WindowResult
from movavg.windowing import build_windows, make_windows
from tasks.policies import cached_stage, output_dir

__all__ = ["make_windows", "window"]


@cached_stage("window", build_windows, retries=1, task_run_name="window-{normalized.series}")
def window(cache_dir: str, normalized: NormalizeResult, config: WindowConfig) -> WindowResult | Skipped:
    """Cached on the normalized data's content, this config and the library code."""
    logger = get_run_logger()
    try:
        result = build_windows(normalized, config, output_dir(cache_dir, "window"))
    except UnusableSeries as reason:
        logger.warning("series %r skipped: %s", normalized.series, reason)
        return Skipped(series=normalized.series, stage="window", reason=str(reason))
    logger.info("series %r: windows per split %s (lookback %d, horizon %d, MA %d)", normalized.series,
                result.counts, config.lookback, config.horizon, config.ma_window)
    return result
