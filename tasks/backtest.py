"""Backtest stage, one task run per batch of series: rolling-origin folds before the test slice, each a model
trained on the rows before its origin and scored with the naive forecasts on the next block."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import State, get_run_logger

from movavg.backtest import run_backtest, run_backtests
from movavg.config import TrainConfig
from movavg.report import backtest_line
from movavg.schema import Backtest, BacktestInput, Batch, Skipped
from movavg.tasks.policies import each_member, stage_task


@stage_task("backtest", task_run_name="backtest-{batch.label}")
def backtest(
    cache_dir: str, batch: Batch[BacktestInput], config: TrainConfig, folds: int
) -> State[list[Backtest | Skipped]]:
    """Each series cached on its windows, its data, the training config, the fold count and the library code."""
    members = [(m.normalized.series, {**dict(m), "config": config, "folds": folds}) for m in batch.members]
    if config.stack > 1:
        return each_member("backtest", run_backtest, cache_dir, members, run_many=backtest_together)
    return each_member("backtest", run_backtest, cache_dir, members, backtest_one)


def backtest_together(items: list[tuple[dict[str, Any], Path]]) -> list[Backtest]:
    """The folds of every series of a batch trained together, `train.stack` at a time."""
    first = items[0][0]
    results = run_backtests([(p["windows"], p["normalized"], out) for p, out in items], first["config"], first["folds"])
    for result in results:
        log_backtest(result)
    return results


def log_backtest(result: Backtest) -> None:
    get_run_logger().info(
        "%s: backtest, model / best naive MAE per fold: %s", result.series, backtest_line(result) or "no folds"
    )


def backtest_one(member: dict[str, Any], out_dir: Path) -> Backtest:
    result = run_backtest(member["windows"], member["normalized"], member["config"], member["folds"], out_dir)
    log_backtest(result)
    return result
