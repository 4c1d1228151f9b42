"""Train stage, one task run per batch of models: one model per series (per-series scope) or one on all series
(global scope); a progress bar in the terminal, one log line and a progress-artifact update per epoch."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any

from prefect import State, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from movavg.config import TrainConfig
from movavg.model import best_epoch, train_and_save, train_and_save_many
from movavg.report import batch_label, progress_reporter, stack_note, stop_note, trained_line
from movavg.schema import Batch, Skipped, TrainInput, TrainResult
from movavg.storage import sha256_bytes
from movavg.tasks.policies import each_member, stage_task


@stage_task("train", task_run_name="train-{batch.label}")
def train(cache_dir: str, batch: Batch[TrainInput], config: TrainConfig) -> State[list[TrainResult | Skipped]]:
    """One model per group (a series, or "global"), each cached on its windows' content, the scalers, this
    config and the library code; a per-series model may warm-start from its series' champion (not part of
    the key: on unchanged data the cached model is reused whoever is champion)."""
    members = [(m.group, {**dict(m), "config": config}) for m in batch.members]
    if config.stack > 1 and config.scope == "per-series":
        together = partial(train_together, config)
        return each_member("train", train_and_save, cache_dir, members, unkeyed=("warm_from",), run_many=together)
    return each_member("train", train_and_save, cache_dir, members, train_one, unkeyed=("warm_from",))


def progress_key(label: str) -> str:
    """The training-progress artifact's key, which names the series in the UI: `movavg-training-<id>-<hash>`."""
    readable = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:40]
    return f"movavg-training-{readable}-{sha256_bytes(label.encode())[:8]}"


def train_together(config: TrainConfig, items: list[tuple[dict[str, Any], Path]]) -> list[TrainResult]:
    """The models of a batch that missed the cache trained in stacks of `train.stack`: one progress bar, line
    and artifact update per epoch of a stack, named after the series trained (`east and 2 more`)."""
    label = batch_label([parameters["group"] for parameters, _ in items])
    on_epoch, results = progress(label, label if len(items) > 1 else f"series {label!r}"), []
    try:
        models = [(p["windows"], p["normalized"], p["warm_from"], out) for p, out in items]
        results = train_and_save_many(models, config, on_epoch)
    finally:
        best = [best_epoch(items[0][1])] if len(results) == 1 else []  # only a lone model's note names its best epoch
        on_epoch.close(stack_note(results, best) if results else "", results)
    for result in results:
        get_run_logger().info("%s: %s", result.series[0], trained_line(result))
    return results


def train_one(member: dict[str, Any], out_dir: Path) -> TrainResult:
    label, config, result = member["group"], member["config"], None
    on_epoch = progress(label, f"series {label!r}")
    try:
        result = train_and_save(member["windows"], member["normalized"], config, out_dir, on_epoch, member["warm_from"])
    finally:
        on_epoch.close(stop_note(result, best_epoch(out_dir)) if result is not None else "", [result] if result else [])
    get_run_logger().info("%s: %s", label, trained_line(result))
    return result


def progress(label: str, shown: str) -> Any:
    """An epoch hook showing a training's progress: a bar (or a line) in the terminal naming it `shown`, a log
    line and the progress artifact `progress_key(label)`; its `close(note, results)` ends both."""
    show, end = progress_reporter(shown, get_run_logger().info)
    artifact = create_progress_artifact(0.0, key=progress_key(label), description=f"training {label}: epochs done")

    def on_epoch(epoch: int, epochs: int, logs: dict[str, float]) -> None:
        show(epoch, epochs, logs)
        update_progress_artifact(artifact, 100.0 * epoch / epochs)

    def close(note: str, results: list[TrainResult]) -> None:
        end(note)
        done = f"{results[0].epochs_run} epochs ({results[0].stop_reason})" if len(results) == 1 else note
        update_progress_artifact(artifact, 100.0, description=f"done: {done}")

    on_epoch.close = close  # type: ignore[attr-defined]
    return on_epoch
