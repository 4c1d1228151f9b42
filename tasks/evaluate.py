"""Evaluate stage: the candidate, both naive baselines and the champion on the same test windows."""

from __future__ import annotations

from prefect import get_run_logger

from movavg.config import EvaluateConfig
from movavg.evaluation import evaluate_candidate
from movavg.schema import ChampionRef, Evaluation, NormalizeResult, TrainResult
from tasks.policies import cached_stage, output_dir


@cached_stage("evaluate", evaluate_candidate, task_run_name="evaluate-{normalized.series}")
def evaluate(
    cache_dir: str, candidate: TrainResult, normalized: NormalizeResult, champion: ChampionRef | None,
    config: EvaluateConfig,
) -> Evaluation:
    """One series: cached on the candidate, the series' data, its champion, this config and the library code."""
    result = evaluate_candidate(candidate, normalized, champion, config, output_dir(cache_dir, "evaluate"))
    champion_mae = f"{result.champion.mae:.4g}" if result.champion else "none"
    get_run_logger().info("%s: test MAE model %.4g | last value %.4g | current MA %.4g | champion %s -> %s",
                          result.series, result.model.mae, result.baseline_last.mae, result.baseline_ma.mae, champion_mae,
                          result.reason)
    return result
