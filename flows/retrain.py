"""The retraining flow: ingest -> normalize -> window -> train (and backtest) -> evaluate -> publish.

Wiring only. Normalize, window, train (per-series scope) and evaluate run one task per batch of series
(`run.series_per_task`; one series per task up to 100 series), mapped, each series cached on its own data,
so new rows for one series redo only that series' stages. A series
that cannot be modelled is skipped with its reason; a failure on one series never stops the others. The
mapped tasks run on the task runner `config.run` names (threads, or Dask); a flow run started with another
one (a deployment whose parameters ask for Dask) runs itself again as a subflow on the right one.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from prefect import State, flow, unmapped
from prefect.context import FlowRunContext
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from flows.fanout import batches, gather, model_groups, per_series, series_per_task
from flows.runners import runs_on, task_runner_for
from movavg.config import PipelineConfig
from movavg.ingest import folder_problem
from movavg.lock import RunLockedError, run_lock
from movavg.publishing import RunIncomplete, run_problem
from movavg.registry import current_champion
from movavg.schema import ModelledSeries, RunSummary, Skipped
from movavg.series import choose_series
from tasks.backtest import backtest
from tasks.evaluate import evaluate
from tasks.ingest import ingest
from tasks.normalize import normalize
from tasks.publish import publish
from tasks.train import train
from tasks.window import window

RUN_TAG = "movavg"  # every flow run of the project carries it (CLI runs and both deployments)


def run_name() -> str:
    """A flow run's name: what it works on and when, e.g. `data-20261201-094512`."""
    return f"{Path(str(flow_run.parameters.get('data_dir', 'data'))).resolve().name}-{datetime.now(UTC):%Y%m%d-%H%M%S}"


@flow(
    name="movavg-retrain",
    flow_run_name=run_name,
    description="Retrain the moving-average LSTMs on new data and publish the better ones.",
)
def retrain(
    config: PipelineConfig = PipelineConfig(),
    data_dir: str = "data",
    artifacts_dir: str = "artifacts",
    lock_wait_seconds: float = 0.0,
) -> RunSummary:
    """One retraining pass over every series in `data_dir`, publishing into `artifacts_dir`.

    Args:
        config: the pipeline's settings, one section per stage.
        data_dir: holds incoming/, raw/, processed/, quarantine/ and the stage cache.
        artifacts_dir: holds the published models, the champions per series and the forecasts.
        lock_wait_seconds: how long to wait when another run holds the folders' lock before failing.
    """
    if not runs_on(FlowRunContext.get().task_runner, config.run):  # e.g. a deployment whose parameters ask for Dask
        state = retrain.with_options(task_runner=task_runner_for(config.run))(
            config, data_dir, artifacts_dir, lock_wait_seconds, return_state=True
        )
        return completed(state.result()) if state.is_completed() else incomplete(state.message or "the subflow failed")
    if not Path(data_dir).is_dir():
        return incomplete(
            f"data folder {data_dir} does not exist: check data_dir, or create it with an incoming/ "
            "folder inside for your CSV or Parquet files"
        )
    if problem := folder_problem(Path(data_dir)):
        return incomplete(problem)
    cache_dir = str(Path(data_dir) / "cache")
    with ExitStack() as held:
        try:
            held.enter_context(run_lock([data_dir, artifacts_dir], lock_wait_seconds))
        except RunLockedError as busy:
            return incomplete(str(busy))
        ingested = ingest(data_dir, config.ingest)
        try:
            series, missing = choose_series(ingested.series, config.normalize.series, Path(data_dir) / "incoming")
        except ValueError as problem:
            return incomplete(str(problem))
        skipped = [Skipped(series=name, stage="normalize", reason="not in the ingested data") for name in missing]

        size = series_per_task(len(series), config.run.series_per_task)
        by_series = batches(series, size)
        normalized = gather(
            by_series,
            normalize.map(
                cache_dir,
                list(by_series),
                list(by_series.values()),
                [[ingested.series[name] for name in batch] for batch in by_series.values()],
                ingested.raw_dir,
                unmapped(config.ingest.model_columns),
                unmapped(config.normalize),
            ),
            "normalize",
            skipped,
        )
        by_series = batches(list(normalized), size)
        windows = gather(
            by_series,
            window.map(
                cache_dir,
                list(by_series),
                [[normalized[name] for name in batch] for batch in by_series.values()],
                unmapped(config.window),
            ),
            "window",
            skipped,
        )

        groups = model_groups(list(windows), config.train.scope)
        by_group = batches(list(groups), size)
        champions = {name: current_champion(artifacts_dir, name) for name in windows}  # for warm starts and the gate
        warm_from = [
            [champions.get(group) if config.train.scope == "per-series" else None for group in batch]
            for batch in by_group.values()
        ]
        training = train.map(
            cache_dir,
            list(by_group),
            list(by_group.values()),
            [[[windows[name] for name in groups[group]] for group in batch] for batch in by_group.values()],
            [[[normalized[name] for name in groups[group]] for group in batch] for batch in by_group.values()],
            unmapped(config.train),
            warm_from,
        )
        by_series = batches(list(windows), size)
        backtesting = (
            backtest.map(
                cache_dir,
                list(by_series),
                [[windows[name] for name in batch] for batch in by_series.values()],
                [[normalized[name] for name in batch] for batch in by_series.values()],
                unmapped(config.train),
                unmapped(config.evaluate.backtest_folds),
            )
            if config.evaluate.backtest_folds
            else []
        )
        trained = per_series(groups, gather(by_group, training, "train", skipped), skipped)
        backtests = gather(by_series, backtesting, "backtest", []) if backtesting else {}  # none: "no backtest"

        by_series = batches(list(trained), size)
        evaluations = gather(
            by_series,
            evaluate.map(
                cache_dir,
                list(by_series),
                [[trained[name] for name in batch] for batch in by_series.values()],
                [[normalized[name] for name in batch] for batch in by_series.values()],
                [[champions[name] for name in batch] for batch in by_series.values()],
                unmapped(config.evaluate),
                [[backtests.get(name) for name in batch] for batch in by_series.values()],
            ),
            "evaluate",
            skipped,
        )

        candidates = [
            ModelledSeries(normalized=normalized[name], trained=trained[name], evaluation=evaluations[name])
            for name in evaluations
        ]
        summary = publish(artifacts_dir, ingested, candidates, skipped, config.model_dump(mode="json"), config.publish)
        if problem := run_problem(candidates, skipped):
            return incomplete(problem)
        return completed(summary)


def completed(summary: RunSummary) -> State:
    """The run's final state: Completed, its message the run's one line; named "Completed with skips" when a
    series could not be modelled (the run still did all it could)."""
    skipped = any(outcome.status == "skipped" for outcome in summary.series)
    return Completed(message=summary.message, data=summary, name="Completed with skips" if skipped else "Completed")


def incomplete(problem: str) -> State:
    """The run's final state when it cannot do (all) its work: Failed with the one-line reason, without a
    traceback in the logs (it is about data or config, not code); calling the flow raises RunIncomplete."""
    return Failed(message=problem, data=RunIncomplete(problem))
