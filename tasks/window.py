"""Window stage: supervised (X, y) windows of each split of the normalized series.

`make_windows` lives in `movavg.windowing`; it is re-exported here for callers of the earlier layout.
"""

from __future__ import annotations

from prefect import get_run_logger

from movavg.config import WindowConfig
from movavg.schema import NormalizeResult, WindowResult
from movavg.windowing import build_windows, make_windows
from tasks.policies import cached_stage, output_dir

__all__ = ["make_windows", "window"]


@cached_stage("window", build_windows, retries=1)
def window(cache_dir: str, normalized: NormalizeResult, config: WindowConfig) -> WindowResult:
    """Cached on the normalized data's content, this config and the library code."""
    result = build_windows(normalized, config, output_dir(cache_dir, "window"))
    get_run_logger().info("windows per split: %s (lookback %d, horizon %d, MA %d)", result.counts, config.lookback,
                          config.horizon, config.ma_window)
    return result
