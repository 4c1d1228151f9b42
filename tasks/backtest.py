"""Backtest stage, one task run per batch of series: rolling-origin folds before the test slice, each a model
trained on the rows before its origin and scored with the naive forecasts on the next block."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger

from movavg.backtest import run_backtest
from movavg.config import TrainConfig
from movavg.report import backtest_line
from movavg.schema import Backtest, NormalizeResult, Skipped, WindowResult
from tasks.policies import cached_stage, each_member


@cached_stage("backtest", run_backtest, task_run_name="backtest-{label}")
def backtest(
    cache_dir: str,
    label: str,
    windows: list[WindowResult],
    normalized: list[NormalizeResult],
    config: TrainConfig,
    folds: int,
) -> list[Backtest | Skipped]:
    """Each series cached on its windows, its data, the training config, the fold count and the library code."""
    members = [
        (n.series, {"windows": w, "normalized": n, "config": config, "folds": folds})
        for w, n in zip(windows, normalized, strict=True)
    ]
    return each_member("backtest", run_backtest, cache_dir, members, backtest_one)


def backtest_one(member: dict[str, Any], out_dir: Path) -> Backtest:
    result = run_backtest(member["windows"], member["normalized"], member["config"], member["folds"], out_dir)
    get_run_logger().info(
        "%s: backtest, model / best naive MAE per fold: %s", result.series, backtest_line(result) or "no folds"
    )
    return result
