"""Evaluate stage, one task run per batch of series: the candidate, every naive forecast and the champion on
the same test windows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger

from movavg.config import EvaluateConfig
from movavg.evaluation import evaluate_candidate
from movavg.naive import describe_naive
from movavg.schema import Backtest, ChampionRef, Evaluation, NormalizeResult, Skipped, TrainResult
from tasks.policies import cached_stage, each_member


@cached_stage("evaluate", evaluate_candidate, task_run_name="evaluate-{label}")
def evaluate(
    cache_dir: str,
    label: str,
    candidates: list[TrainResult],
    normalized: list[NormalizeResult],
    champions: list[ChampionRef | None],
    config: EvaluateConfig,
    backtests: list[Backtest | None],
) -> list[Evaluation | Skipped]:
    """Each series cached on its candidate, its data, its champion, its backtest, this config and the library code."""
    members = [
        (n.series, {"candidate": c, "normalized": n, "champion": champion, "config": config, "backtest": b})
        for c, n, champion, b in zip(candidates, normalized, champions, backtests, strict=True)
    ]
    return each_member("evaluate", evaluate_candidate, cache_dir, members, evaluate_one)


def evaluate_one(member: dict[str, Any], out_dir: Path) -> Evaluation:
    result = evaluate_candidate(
        member["candidate"], member["normalized"], member["champion"], member["config"], out_dir, member["backtest"]
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
