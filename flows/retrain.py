"""The retraining flow: ingest -> normalize -> window -> train -> evaluate -> publish.

Wiring only. Every stage after ingest is cached on the content of its inputs, so a run with no new
data hits the cache all the way and a run with new data redoes only what changed.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from movavg.config import PipelineConfig
from movavg.lock import run_lock
from movavg.registry import current_champion
from movavg.schema import RunSummary
from tasks.evaluate import evaluate
from tasks.ingest import ingest
from tasks.normalize import normalize
from tasks.publish import publish
from tasks.train import train
from tasks.window import window


@flow(name="movavg-retrain", description="Retrain the moving-average LSTM on new data and publish it if it is better.")
def retrain(
    config: PipelineConfig = PipelineConfig(),
    data_dir: str = "data",
    artifacts_dir: str = "artifacts",
    lock_wait_seconds: float = 0.0,
) -> RunSummary:
    """One retraining pass over `data_dir` publishing into `artifacts_dir`.

    Args:
        config: the pipeline's settings, one section per stage.
        data_dir: holds incoming/, raw/, processed/, quarantine/ and the stage cache.
        artifacts_dir: holds the published models, the champion pointer and forecasts.
        lock_wait_seconds: how long to wait when another run holds the folders' lock before failing.
    """
    cache_dir = str(Path(data_dir) / "cache")
    with run_lock([data_dir, artifacts_dir], lock_wait_seconds):
        ingested = ingest(data_dir, config.ingest)
        normalized = normalize(cache_dir, ingested.fingerprint, ingested.raw_dir, config.ingest.model_columns,
                               config.normalize)
        windows = window(cache_dir, normalized, config.window)
        trained = train(cache_dir, windows, normalized, config.train)
        evaluation = evaluate(cache_dir, trained, normalized, current_champion(artifacts_dir), config.evaluate)
        return publish(artifacts_dir, ingested, normalized, trained, evaluation, config.model_dump(mode="json"),
                       config.publish)
