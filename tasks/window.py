"""Window stage, one task run per batch of series: where each split's windows lie in the normalized series;
a series too short for one window in every split is skipped with its reason.

`make_windows` lives in `movavg.windowing`; it is re-exported here for callers of the earlier layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger

from movavg.config import WindowConfig
from movavg.schema import NormalizeResult, Skipped, UnusableSeries, WindowResult
from movavg.windowing import build_windows, make_windows
from tasks.policies import cached_stage, each_member

__all__ = ["make_windows", "window"]


@cached_stage("window", build_windows, retries=1, task_run_name="window-{label}")
def window(
    cache_dir: str, label: str, normalized: list[NormalizeResult], config: WindowConfig
) -> list[WindowResult | Skipped]:
    """Each series cached on its normalized data's content, this config and the library code."""
    members = [(n.series, {"normalized": n, "config": config}) for n in normalized]
    return each_member("window", build_windows, cache_dir, members, window_one)


def window_one(member: dict[str, Any], out_dir: Path) -> WindowResult | Skipped:
    logger, normalized, config = get_run_logger(), member["normalized"], member["config"]
    try:
        result = build_windows(normalized, config, out_dir)
    except UnusableSeries as reason:
        logger.info("series %r skipped: %s", normalized.series, reason)  # counted in the run's line
        return Skipped(series=normalized.series, stage="window", reason=str(reason))
    logger.info(
        "series %r: windows per split %s (lookback %d, horizon %d, MA %d)",
        normalized.series,
        result.counts,
        config.lookback,
        config.horizon,
        config.ma_window,
    )
    return result
