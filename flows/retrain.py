"""The retraining flow: ingest -> normalize -> (monitor) -> window -> train (and backtest) -> evaluate -> publish
-> health.

Before retraining, `monitor` scores each series' champion on the rows that came true since (its live log);
after publishing, `health` records each series' state for the champion serving it then, emits the alerts and
shows both in the UI.

Wiring only. Each stage after ingest is mapped over typed per-series records (`NormalizeInput`, the windows,
`TrainInput`, `BacktestInput`, `EvaluateInput`), one task run per batch of them (`run.series_per_task`; one
series per task up to 100 series; the train and backtest stages hold up to `train.stack` series per task run,
whose models train together), each series cached on its own inputs, so new rows for one series redo only
that series' stages. A series that cannot be modelled is skipped with its reason; a failure on one series
never stops the others. The mapped tasks run on the task runner `config.run` names (threads, or Dask); a flow
run started with another one (a deployment whose parameters ask for Dask) runs itself again as a subflow on
the right one.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from prefect import State, flow
from prefect.context import FlowRunContext
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from movavg.config import PipelineConfig
from movavg.flows.fanout import models_per_task, per_series, series_per_task, submit
from movavg.flows.runners import runs_on, task_runner_for
from movavg.ingest import folder_problem
from movavg.lock import RunLockedError, run_lock
from movavg.model import model_groups
from movavg.monitor import fall_back, project_slug
from movavg.publishing import RunIncomplete, run_problem
from movavg.registry import current_champion
from movavg.runtime import bound_stop_on_signal
from movavg.schema import (
    BacktestInput,
    ChampionRef,
    EvaluateInput,
    ModelledSeries,
    NormalizeInput,
    NormalizeResult,
    RunSummary,
    Skipped,
    TrainInput,
    WindowResult,
)
from movavg.series import choose_series
from movavg.tasks.backtest import backtest
from movavg.tasks.evaluate import evaluate
from movavg.tasks.ingest import ingest
from movavg.tasks.monitor import health, monitor
from movavg.tasks.normalize import normalize
from movavg.tasks.publish import publish
from movavg.tasks.train import train
from movavg.tasks.window import window

RUN_TAG = "movavg"  # every flow run of the project carries it (CLI runs and both deployments)


def run_name() -> str:
    """A flow run's name: its project, data folder and start, e.g. `demand-3fa2c1-data-20261201-094512`, so runs
    of projects sharing a server are told apart."""
    data = Path(str(flow_run.parameters.get("data_dir", "data"))).resolve().name
    project = project_slug(str(flow_run.parameters.get("artifacts_dir", "artifacts")))
    return f"{project}-{data}-{datetime.now(UTC):%Y%m%d-%H%M%S}"


def project_tag(artifacts_dir: str | Path) -> str:
    """The tag every flow run of a project carries besides RUN_TAG: `project:<slug>` (`project_slug`)."""
    return f"project:{project_slug(artifacts_dir)}"


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
    retrain_series: list[str] | None = None,
) -> RunSummary:
    """One retraining pass over every series in `data_dir`, publishing into `artifacts_dir`.

    Args:
        config: the pipeline's settings, one section per stage.
        data_dir: holds incoming/, raw/, processed/, quarantine/ and the stage cache.
        artifacts_dir: holds the published models, the champions per series and the forecasts.
        lock_wait_seconds: how long to wait when another run holds the folders' lock before failing.
        retrain_series: series to retrain cold (not from their champion's weights), new rows or not: what the
            automation for degraded series passes.
    """
    if not runs_on(FlowRunContext.get().task_runner, config.run):  # e.g. a deployment whose parameters ask for Dask
        state = retrain.with_options(task_runner=task_runner_for(config.run))(
            config, data_dir, artifacts_dir, lock_wait_seconds, retrain_series, return_state=True
        )
        if not state.is_completed():
            return incomplete(state.message or "the subflow failed")
        return Completed(message=state.message, data=state.result(), name=state.name)  # its name says its health
    bound_stop_on_signal()  # a CLI run stops soon after Ctrl-C or SIGTERM, over Prefect's own handler
    # every location resolved once: cache keys and records never depend on how a path was spelled
    data_dir, artifacts_dir = str(Path(data_dir).resolve()), str(Path(artifacts_dir).resolve())
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
        to_normalize = {name: NormalizeInput(series=name, fingerprint=ingested.series[name]) for name in series}
        normalized = submit(
            normalize,
            to_normalize,
            size,
            cache_dir=cache_dir,
            raw_dir=ingested.raw_dir,
            columns=config.ingest.model_columns,
            config=config.normalize,
        ).results(skipped)
        monitoring = submit(
            monitor, normalized, size, artifacts_dir=artifacts_dir, raw_dir=ingested.raw_dir, config=config.monitor
        )
        windows = submit(window, normalized, size, cache_dir=cache_dir, config=config.window).results(skipped)
        healths = monitoring.results([])  # a series that could not be monitored is still retrained

        champions = {name: current_champion(artifacts_dir, name) for name in windows}  # for warm starts and the gate
        groups = model_groups(list(windows), config.train.scope)
        cold = set(retrain_series or []) if config.train.scope == "per-series" else set(champions)
        warm_from = {name: champion for name, champion in champions.items() if name not in cold}  # global: cold
        to_train = {
            group: training_input(group, members, windows, normalized, warm_from) for group, members in groups.items()
        }
        stacked = models_per_task(len(to_train), size, config.train, config.run)  # a stack's models in one task
        training = submit(train, to_train, stacked, cache_dir=cache_dir, config=config.train)
        backtesting = None
        if folds := config.evaluate.backtest_folds:
            to_backtest = {name: BacktestInput(windows=windows[name], normalized=normalized[name]) for name in windows}
            backtesting = submit(backtest, to_backtest, stacked, cache_dir=cache_dir, config=config.train, folds=folds)
        trained = per_series(groups, training.results(skipped), skipped)
        backtests = backtesting.results([]) if backtesting else {}  # a failed backtest: "no backtest", not a skip

        to_evaluate = {
            name: EvaluateInput(
                trained=trained[name],
                normalized=normalized[name],
                champion=champions[name],
                backtest=backtests.get(name),
            )
            for name in trained
        }
        evaluations = submit(evaluate, to_evaluate, size, cache_dir=cache_dir, config=config.evaluate).results(skipped)

        modelled = [
            ModelledSeries(
                normalized=normalized[name],
                trained=trained[name],
                evaluation=fall_back(evaluations[name], healths.get(name), config.monitor.on_degraded),
            )
            for name in evaluations
        ]
        margins = {name: (h.version, h.interval_margin) for name, h in healths.items() if h.version}
        summary = publish(
            artifacts_dir, ingested, modelled, skipped, config.model_dump(mode="json"), config.publish, margins
        )
        watched = health(artifacts_dir, list(healths.values()), summary, config.monitor, return_state=True)
        if problem := run_problem(modelled, skipped):
            return incomplete(problem)
        return completed(summary, watched.result() if watched.is_completed() else None)  # health never fails a run


def training_input(
    group: str,
    members: list[str],
    windows: dict[str, WindowResult],
    normalized: dict[str, NormalizeResult],
    warm_from: dict[str, ChampionRef | None],
) -> TrainInput:
    """What one model of `group` trains on, and the champion in `warm_from` it may warm-start from."""
    champion = warm_from.get(group)
    return TrainInput(
        group=group,
        windows=[windows[name] for name in members],
        normalized=[normalized[name] for name in members],
        warm_from=champion.path if champion else None,
    )


def completed(summary: RunSummary, health_counts: dict[str, int] | None = None) -> State:
    """The run's final state: Completed, its message the run's one line; named "Completed with skips" when a
    series could not be modelled (the run still did all it could), and naming the series whose health needs a
    look after it: "Completed, 1 degraded", "Completed with skips, 2 stale"."""
    skipped = any(outcome.status == "skipped" for outcome in summary.series)
    name = "Completed with skips" if skipped else "Completed"
    flagged = [f"{count} {state}" for state in ("degraded", "stale") if (count := (health_counts or {}).get(state))]
    return Completed(message=summary.message, data=summary, name=", ".join([name, *flagged]))


def incomplete(problem: str) -> State:
    """The run's final state when it cannot do (all) its work: Failed with the one-line reason, without a
    traceback in the logs (it is about data or config, not code); calling the flow raises RunIncomplete."""
    return Failed(message=problem, data=RunIncomplete(problem))
