"""Train stage: fit the LSTM on the train windows of one series (per-series scope, one task run per series)
or of all series (global scope, one task run); a progress bar in the terminal, one log line and a
progress-artifact update per epoch."""

from __future__ import annotations

from prefect import get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from movavg.config import TrainConfig
from movavg.model import train_and_save
from movavg.report import progress_reporter
from movavg.schema import NormalizeResult, TrainResult, WindowResult
from tasks.policies import cached_stage, output_dir


@cached_stage("train", train_and_save, task_run_name="train-{label}")
def train(
    cache_dir: str, label: str, windows: list[WindowResult], normalized: list[NormalizeResult], config: TrainConfig
) -> TrainResult:
    """Cached on the windows' content, the scalers, this config and the library code (`label` names the
    task run: the series, or "global")."""
    logger = get_run_logger()
    show, close = progress_reporter(label, logger.info)
    artifact = create_progress_artifact(0.0, key="movavg-training-progress", description="Training epochs done")

    def on_epoch(epoch: int, epochs: int, logs: dict[str, float]) -> None:
        show(epoch, epochs, logs)
        update_progress_artifact(artifact, 100.0 * epoch / epochs)

    try:
        result = train_and_save(windows, normalized, config, output_dir(cache_dir, "train"), on_epoch)
    finally:
        close()
    update_progress_artifact(artifact, 100.0, description=f"done: {result.epochs_run} epochs ({result.stop_reason})")
    logger.info("%s: trained %d epoch(s) in %.1f s (%s); best val_loss %.4g", label, result.epochs_run,
                result.train_seconds, result.stop_reason, result.best_val_loss)
    return result
