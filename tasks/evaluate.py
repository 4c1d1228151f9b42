"""Evaluate stage, one task run per batch of series: the candidate, every naive forecast and the champion on
the same test windows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import State, get_run_logger

from movavg.config import EvaluateConfig
from movavg.evaluation import evaluate_candidate
from movavg.naive import describe_naive
from movavg.schema import Batch, EvaluateInput, Evaluation, Skipped
from movavg.tasks.policies import each_member, stage_task


@stage_task("evaluate", task_run_name="evaluate-{batch.label}")
def evaluate(cache_dir: str, batch: Batch[EvaluateInput], config: EvaluateConfig) -> State[list[Evaluation | Skipped]]:
    """Each series cached on its candidate, its data, its champion, its backtest, this config and the library code."""
    members = [(m.normalized.series, {**dict(m), "config": config}) for m in batch.members]
    return each_member("evaluate", evaluate_candidate, cache_dir, members, evaluate_one)


def evaluate_one(member: dict[str, Any], out_dir: Path) -> Evaluation:
    result = evaluate_candidate(
        member["trained"], member["normalized"], member["champion"], member["config"], out_dir, member["backtest"]
    )
    champion_mae = f"{result.champion.mae:.4g}" if result.champion else "none"
    get_run_logger().info(
        "%s: test MAE model %.4g | best naive (%s) %.4g | champion %s -> %s",
        result.series,
        result.model.mae,
        describe_naive(result.best_baseline),
        result.baseline_mae,
        champion_mae,
        result.reason,
    )
    return result
