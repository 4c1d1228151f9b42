"""Window stage, one task run per batch of series: where each split's windows lie in the normalized series;
a series too short for one window in every split is skipped with its reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import State, get_run_logger

from movavg.config import WindowConfig
from movavg.frequency import describe_frequency
from movavg.schema import Batch, NormalizeResult, Skipped, UnusableSeries, WindowResult
from movavg.tasks.policies import each_member, stage_task
from movavg.windowing import build_windows


@stage_task("window", retries=1, task_run_name="window-{batch.label}")
def window(cache_dir: str, batch: Batch[NormalizeResult], config: WindowConfig) -> State[list[WindowResult | Skipped]]:
    """Each series cached on its normalized data's content, this config and the library code."""
    members = [(n.series, {"normalized": n, "config": config}) for n in batch.members]
    return each_member("window", build_windows, cache_dir, members, window_one)


def window_one(member: dict[str, Any], out_dir: Path) -> WindowResult | Skipped:
    logger, normalized, config = get_run_logger(), member["normalized"], member["config"]
    try:
        result = build_windows(normalized, config, out_dir)
    except UnusableSeries as reason:
        logger.info("series %r skipped: %s", normalized.series, reason)  # counted in the run's line
        return Skipped(series=normalized.series, stage="window", reason=str(reason))
    frequency = result.spec.frequency
    logger.info(
        "series %r: step %s, seasons %s; windows per split %s (lookback %d, horizon %d, MA %d)",
        normalized.series,
        describe_frequency(frequency) if frequency else "unknown",
        result.spec.seasons or "none",
        result.counts,
        config.lookback,
        config.horizon,
        config.ma_window,
    )
    for note in result.notes:
        logger.warning("series %r: %s", normalized.series, note)
    return result
