"""The `movavg` command line: run the pipeline, inspect and roll back models, predict."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from movavg.cli.tables import Col, cell, print_table
from movavg.runtime import configure_environment


class FlagsWithoutType:
    """Help that shows a flag as a flag: no `<bool>` type beside `--json`, `--yes` or `--help`."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class Command(FlagsWithoutType, typer.core.TyperCommand):
    """A command whose help reads whole at 80 columns (`FlagsWithoutType`)."""


class Group(FlagsWithoutType, typer.core.TyperGroup):
    """The `movavg` group, `FlagsWithoutType`."""


app = typer.Typer(
    cls=Group,
    help="Keep a Keras LSTM moving-average forecaster fresh as time-series files arrive.\n\n"
    "Drop CSV or Parquet files (columns: timestamp, value[, series_id, features...]) into "
    "DATA_DIR/incoming/ and run `movavg run`. Without PREFECT_API_URL each run uses Prefect's "
    "local ephemeral API; with it, runs show up on that server's UI.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
console = Console()
err = Console(stderr=True)


@app.callback()
def options(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Show Prefect's run logs (every stage, every epoch) and TensorFlow's start-up lines on the terminal.",
        ),
    ] = False,
) -> None:
    """Quiet by default: the terminal shows a progress bar, warnings and the outcome; the full run logs
    always reach the Prefect API (and its UI)."""
    configure_environment(verbose)
    library = logging.getLogger("movavg")
    if not any(isinstance(handler, OnceHandler) for handler in library.handlers):
        library.addHandler(OnceHandler())
        library.propagate = False


class OnceHandler(logging.Handler):
    """The library's warnings on the terminal: `movavg: warning: ...`, each message once per command."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message not in self.seen:
            self.seen.add(message)
            err.print(f"movavg: warning: {cell(message)}", highlight=False, soft_wrap=True)


DataDir = Annotated[
    Path, typer.Option("--data-dir", "-d", help="Folder with incoming/, raw/, processed/, quarantine/, cache/.")
]
ArtifactsDir = Annotated[
    Path, typer.Option("--artifacts-dir", "-a", help="Folder with the published models and each series' champion.")
]
# Every command takes both folders, so one command line works for all; these commands do not read the other one.
UnusedDataDir = Annotated[
    Path, typer.Option("--data-dir", "-d", help="Accepted on every command; not read by this one.")
]
UnusedArtifactsDir = Annotated[
    Path, typer.Option("--artifacts-dir", "-a", help="Accepted on every command; not read by this one.")
]
ConfigFile = Annotated[
    Path | None, typer.Option("--config", "-c", help="JSON, TOML or YAML file with config sections.")
]
Preset = Annotated[
    str, typer.Option("--preset", "-p", metavar="NAME", help="default, seed-basic, seed-multifeature or seed-stacked.")
]
Overrides = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", metavar="KEY=VALUE", help="Dotted override, e.g. window.horizon=5 (repeatable)."),
]
TaskRunnerOption = Annotated[
    str | None,
    typer.Option(
        "--task-runner",
        metavar="threads|dask",
        help="threads (default: in this process) or dask (a local cluster of worker processes, or the "
        "one at --dask-address); same as --set run.task_runner=...",
    ),
]
DaskAddress = Annotated[
    str | None,
    typer.Option(
        "--dask-address",
        metavar="ADDRESS",
        help="Scheduler of an existing Dask cluster, e.g. tcp://scheduler:8786 (implies --task-runner dask).",
    ),
]
SeriesOption = Annotated[
    str | None, typer.Option("--series", help="Only this series (its id as in the data's series_id column).")
]


SHOWN_CHAMPIONS = 5  # `demo` ends with the champion line of its first few series


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line reason to stderr and exit non-zero."""
    err.print(f"[bold red]movavg:[/] {cell(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def os_error_line(error: OSError) -> str:
    """`No space left on device: /data/cache/...: free some space there and run again`, from an OSError."""
    import errno

    words = error.strerror or str(error)
    where = f": {error.filename}" if error.filename else ""
    advice = {
        errno.ENOSPC: ": free some space on that disk and run again",
        errno.EDQUOT: ": free some space on that disk and run again",
        errno.EACCES: ": give this user write access there",
        errno.EROFS: ": that file system is read-only; point --data-dir / --artifacts-dir elsewhere",
    }
    return f"{words}{where}{advice.get(error.errno or 0, '')}"


def load_config(
    preset: str,
    config_file: Path | None,
    overrides: list[str] | None,
    task_runner: str | None = None,
    dask_address: str | None = None,
) -> Any:
    """Build and validate the pipeline config (the task-runner options last); invalid values exit with the
    field named."""
    from pydantic import ValidationError

    from movavg.config import build_config

    runner = [f"run.task_runner={task_runner or 'dask'}"] if task_runner or dask_address else []
    runner += [f"run.dask_address={dask_address}"] if dask_address else []
    try:
        return build_config(preset, config_file, [*(overrides or []), *runner])
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in error.errors())
        fail(f"invalid config: {problems}", 2)
    except (ValueError, OSError) as error:
        fail(f"invalid config: {error}", 2)


def run_pipeline(config: Any, data_dir: Path, artifacts_dir: Path) -> Any:
    """Run the retraining flow once, print its one-line outcome and return its summary (None when nothing ran).

    Without a Prefect server, a run that could change nothing (no new file; config, code, data and champions
    as the last complete run left them) ends at once with that run's outcome, never starting Prefect. With
    PREFECT_API_URL set the flow always runs, so the server records every run.
    """
    import os

    configure_environment()
    from movavg.lock import RunLockedError, run_lock
    from movavg.status import nothing_to_do

    try:  # a run already holding the folders ends this one here, before Prefect starts (the flow checks again)
        with run_lock([data_dir, artifacts_dir]):
            pass
    except RunLockedError as busy:
        fail(str(busy))
    ephemeral = not os.environ.get("PREFECT_API_URL")
    if ephemeral:
        from movavg.localserver import stop_orphaned_servers

        home = Path(os.environ.get("PREFECT_HOME", "~/.prefect")).expanduser()
        if stopped := stop_orphaned_servers(home):
            err.print(
                f"movavg: stopped {len(stopped)} local Prefect API server(s) left running by a killed run",
                highlight=False,
            )
    if ephemeral and (
        line := nothing_to_do(config.model_dump(mode="json"), data_dir, artifacts_dir, config.ingest.settle_seconds)
    ):
        console.print(f"[bold green]movavg:[/] {cell(line)}", highlight=False, soft_wrap=True)
        return None
    err.print(
        f"movavg: running ingest, normalize, monitor, window, train, evaluate, publish on {cell(data_dir)} "
        + (
            "(starting Prefect's local API first: about 20 s)"
            if ephemeral
            else f"(Prefect API {cell(os.environ['PREFECT_API_URL'])})"
        ),
        highlight=False,
        soft_wrap=True,
    )
    from prefect import tags

    from movavg.flows.retrain import RUN_TAG, project_tag, retrain
    from movavg.publishing import RunIncomplete

    try:
        with stops_on_signal(), tags(RUN_TAG, project_tag(artifacts_dir)), task_runner_of(config.run) as runner:
            summary = retrain.with_options(task_runner=runner)(
                config=config, data_dir=str(data_dir), artifacts_dir=str(artifacts_dir)
            )
    except RunIncomplete as error:  # what could be published was; the report names every series
        fail(f"run incomplete: {error}")
    except OSError as error:  # a full disk, no permission: the path and what to do
        fail(f"run failed: {os_error_line(error)}")
    except Exception as error:  # the flow already logged the traceback
        fail(f"run failed: {type(error).__name__}: {error}")
    console.print(f"[bold green]movavg:[/] {cell(summary.message)}", highlight=False, soft_wrap=True)
    return summary


STOP_GRACE_SECONDS = 5  # after Ctrl-C or SIGTERM, how long a run may take to stop before it is ended


@contextmanager
def stops_on_signal() -> Iterator[None]:
    """A run this command starts stops within STOP_GRACE_SECONDS of Ctrl-C or SIGTERM
    (`movavg.runtime.bound_stop_on_signal`, armed here and again inside the flow run, over Prefect's handler)."""
    import os
    import signal

    from movavg.runtime import STOP_GRACE_ENV, bound_stop_on_signal

    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    os.environ.setdefault(STOP_GRACE_ENV, str(STOP_GRACE_SECONDS))
    bound_stop_on_signal()
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def champion_line(artifacts_dir: Path, series: str) -> str | None:
    """`series 'default' is served by v1 (LSTM): test MAE 0.291 vs 0.439 for the best naive forecast (...), 0.66x;
    plot: ...`, from the registry (None without a readable champion)."""
    from movavg.labels import naive_label
    from movavg.registry import DamagedState, current_champion, metrics_of, series_files, version_label
    from movavg.report import PLOT_FILE

    champion = current_champion(artifacts_dir, series)
    if champion is None:
        return None
    try:
        metrics = metrics_of(Path(champion.path))[series]
        kind = version_label(Path(champion.path), series)
    except (DamagedState, KeyError):
        return None
    plot = series_files(Path(champion.path), series) / PLOT_FILE
    ratio = f", {metrics['mae'] / metrics['baseline_mae']:.2f}x" if metrics.get("baseline_mae") else ""
    naive = naive_label(metrics.get("best_baseline", "")) or "best naive"
    return (
        f"series {series!r} is served by {champion.version} ({kind}): test MAE "
        f"{metrics['mae']:.4g} vs {metrics['baseline_mae']:.4g} for the best naive forecast ({naive}){ratio}"
        + (f"; plot: {plot}" if plot.exists() else "")
    )


@contextmanager
def task_runner_of(run: Any) -> Iterator[Any]:
    """The task runner a command-line run uses: for a local Dask cluster, one this command starts and names
    (address, workers, dashboard) before the run; for an address, that cluster, named."""
    from movavg.flows.runners import local_dask_cluster, task_runner_for

    if run.task_runner != "dask" or run.dask_address:
        if run.task_runner == "dask":
            console.print(f"movavg: the series' stages run on the Dask cluster at {run.dask_address}", highlight=False)
        yield task_runner_for(run)
        return
    with local_dask_cluster(run) as (runner, line):
        console.print(f"movavg: {line}", highlight=False)
        yield runner


@app.command(cls=Command)
def run(
    data_dir: DataDir = Path("data"),
    artifacts_dir: ArtifactsDir = Path("artifacts"),
    config_file: ConfigFile = None,
    preset: Preset = "default",
    overrides: Overrides = None,
    task_runner: TaskRunnerOption = None,
    dask_address: DaskAddress = None,
) -> None:
    """Run the pipeline once: ingest new files, retrain what changed, publish if better."""
    config = load_config(preset, config_file, overrides, task_runner, dask_address)
    require_data_dir(data_dir)
    require_artifacts_dir(artifacts_dir)
    run_pipeline(config, data_dir, artifacts_dir)


def require_data_dir(data_dir: Path) -> None:
    """A mistyped --data-dir ends here, naming the folder; it is never created silently."""
    if data_dir.exists() and not data_dir.is_dir():
        fail(f"--data-dir {data_dir} is a file, not a folder: pass the folder that holds incoming/")
    if not data_dir.is_dir():
        fail(
            f"data folder {data_dir} does not exist: check --data-dir, or create it with "
            f"`mkdir -p {data_dir}/incoming` and put CSV or Parquet files there (or run `movavg demo`)"
        )
    from movavg.ingest import folder_problem

    if problem := folder_problem(data_dir):
        fail(problem)


def require_artifacts_dir(artifacts_dir: Path) -> None:
    """--artifacts-dir may be missing (a first run creates it) but must not be a file."""
    if artifacts_dir.exists() and not artifacts_dir.is_dir():
        fail(f"--artifacts-dir {artifacts_dir} is a file, not a folder: pass the folder for models and champions")


@app.command(cls=Command)
def demo(
    data_dir: DataDir = Path("data"),
    artifacts_dir: ArtifactsDir = Path("artifacts"),
    sample: Annotated[str, typer.Option(help="co2 (bundled Mauna Loa weekly CO2) or synthetic (3 features).")] = "co2",
    config_file: ConfigFile = None,
    preset: Preset = "default",
    overrides: Overrides = None,
) -> None:
    """Copy a sample into incoming/ (when it is empty and nothing was ingested yet) and run the pipeline."""
    from movavg.ingest import has_data
    from movavg.samples import SAMPLES, write_sample

    config = load_config(preset, config_file, overrides)
    if sample not in SAMPLES:
        fail(f"unknown sample {sample!r}: use {' or '.join(SAMPLES)}", 2)
    if data_dir.exists() and not data_dir.is_dir():
        fail(f"--data-dir {data_dir} is a file, not a folder: pass the folder the sample goes into")
    if data_dir.is_dir():
        require_data_dir(data_dir)
    require_artifacts_dir(artifacts_dir)
    incoming = data_dir / "incoming"
    if not (incoming.exists() and any(incoming.iterdir())) and not has_data(data_dir):
        try:
            written = write_sample(sample, incoming)
        except ValueError as error:
            fail(str(error), 2)
        err.print(f"movavg: demo: copied the {sample} sample to {cell(written)}", highlight=False, soft_wrap=True)
    summary = run_pipeline(config, data_dir, artifacts_dir)
    for outcome in (summary.series if summary is not None else [])[:SHOWN_CHAMPIONS]:
        if line := champion_line(artifacts_dir, outcome.series):
            console.print(f"movavg: {cell(line)}", highlight=False, soft_wrap=True)


@app.command(cls=Command)
def models(
    artifacts_dir: ArtifactsDir = Path("artifacts"),
    data_dir: UnusedDataDir = Path("data"),
    series: SeriesOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
) -> None:
    """List published models, one row per (version, series), with test metrics; each series' champion is marked."""
    from movavg.labels import naive_label
    from movavg.registry import champion_problem, damaged_versions, listing, registry_rows
    from movavg.registry import list_versions as listing_rows

    require_artifacts_dir(artifacts_dir)
    for problem in damaged_versions(artifacts_dir):
        err.print(f"movavg: {cell(problem)}", highlight=False, soft_wrap=True)
    for name in sorted({row["series"] for row in listing_rows(artifacts_dir, series)}):
        if problem := champion_problem(artifacts_dir, name):
            err.print(f"movavg: series {cell(repr(name))}: {cell(problem)}", highlight=False, soft_wrap=True)
    if as_json:
        sys.stdout.write(json.dumps(listing(artifacts_dir, series), indent=2) + "\n")
        return
    rows = registry_rows(artifacts_dir, series)
    if not rows:
        where = f"for series {series!r} " if series is not None else ""
        console.print(
            cell(f"no published models {where}in {artifacts_dir}/models yet: run `movavg run` or `movavg demo`")
        )
        return
    columns = [
        Col("series", key=True),
        Col("version", key=True),
        Col("champion", key=True),
        Col("kind", key=True),
        Col("MAE", key=True, right=True),
        Col("best naive MAE", right=True),
        Col("naive", key=True),
        Col("RMSE", right=True),
        Col("created"),
    ]
    print_table(
        console,
        columns,
        [
            [
                r["series"],
                r["version"],
                "*" if r["champion"] else "",
                r["label"],
                _number(r["mae"]),
                _number(r["baseline_mae"]),
                naive_label(r["best_naive"]) or "-",
                _number(r["rmse"]),
                str(r["created"])[:16].replace("T", " "),
            ]
            for r in rows
        ],
    )


@app.command(cls=Command)
def status(
    data_dir: DataDir = Path("data"),
    artifacts_dir: ArtifactsDir = Path("artifacts"),
    series: SeriesOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
) -> None:
    """Where every series stands, worst health first: its health (ok, stale, degraded, no champion) and why,
    what serves it, its live MAE vs the naive forecast's on the origins served since, its test MAE vs naive at
    publish, what the last run did with it, its data's age, champion, rows and newest data."""
    from movavg.labels import naive_label
    from movavg.monitor import read_health
    from movavg.status import series_status

    if data_dir.exists() and not data_dir.is_dir():
        fail(f"--data-dir {data_dir} is a file, not a folder: pass the folder that holds raw/")
    require_artifacts_dir(artifacts_dir)
    rows = series_status(data_dir, artifacts_dir, series)
    if problem := read_health(artifacts_dir)[1]:
        err.print(f"movavg: {cell(problem)}: health is shown again after the next run", highlight=False, soft_wrap=True)
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    if not rows:
        console.print(
            f"nothing ingested into {data_dir} and nothing published in {artifacts_dir} yet: "
            "run `movavg run` or `movavg demo`"
        )
        return
    columns = [
        Col("series", key=True),
        Col("health", key=True),
        Col("served by", key=True),
        Col("live", key=True, right=True),
        Col("test", key=True, right=True),
        Col("naive", key=True),
        Col("MAE", right=True),
        Col("last run"),
        Col("age", right=True),
        Col("champion"),
        Col("rows", right=True),
        Col("newest data"),
        Col("why"),
    ]
    print_table(
        console,
        columns,
        [
            [
                r["series"],
                r["health"]["state"],
                served_label(r),
                _ratio(r["health"]["live_mae"], r["health"]["live_baseline_mae"]),
                _ratio(r["mae"], r["baseline_mae"]),
                naive_label(r["best_naive"] or "") or "-",
                _number(r["mae"]),
                (r["last_run"] if isinstance(r["last_run"], dict) else {}).get("status", "-"),
                "-" if r["health"]["age_steps"] is None else f"{r['health']['age_steps']:.0f}",
                r["champion"] or "-",
                str(r["rows"]),
                (r["newest"] or "-")[:16].replace("T", " "),
                "; ".join(r["health"]["reasons"]),
            ]
            for r in rows
        ],
    )
    if console.is_terminal:
        console.print(
            "live, test: MAE / naive MAE on the origins served, at publish; age: steps", style="dim", highlight=False
        )
    for r in rows:
        if r["problem"]:
            err.print(
                f"movavg: series {cell(repr(r['series']))}: {cell(r['problem'])}", highlight=False, soft_wrap=True
            )


def served_label(row: dict[str, Any]) -> str:
    """What serves a series (`status`' `kind`: `movavg.labels.serving_label`); `-` without a champion."""
    return str(row["kind"]) if row["served_by"] and row["kind"] else "-"


def _ratio(mae: Any, baseline: Any) -> str:
    """`0.87x`: the champion's test MAE over the best naive forecast's."""
    return (
        f"{mae / baseline:.2f}x"
        if isinstance(mae, int | float) and isinstance(baseline, int | float) and baseline
        else "-"
    )


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else "-" if value is None else cell(value)


@app.command(cls=Command)
def clean(
    data_dir: DataDir = Path("data"),
    artifacts_dir: ArtifactsDir = Path("artifacts"),
    yes: Annotated[bool, typer.Option("--yes", help="Do it; without it, only say what would be done.")] = False,
    keep_models: Annotated[
        bool, typer.Option("--keep-models", help="Keep the registry: published models and champions.")
    ] = False,
) -> None:
    """Remove what the pipeline wrote (the raw store, caches, forecasts, live logs, run records and, unless
    --keep-models, the models and champions) and move the input files it moved back to incoming/. A dry run
    unless --yes."""
    from movavg.cleanup import clean as clean_project
    from movavg.cleanup import clean_plan
    from movavg.lock import RunLockedError

    for folder, flag in ((data_dir, "--data-dir"), (artifacts_dir, "--artifacts-dir")):
        if folder.exists() and not folder.is_dir():
            fail(f"{flag} {folder} is a file, not a folder")
    plan = clean_plan(data_dir, artifacts_dir, keep_models)
    if plan.empty:
        console.print(f"movavg: nothing to clean in {cell(data_dir)} and {cell(artifacts_dir)}", highlight=False)
        return
    if yes:
        try:
            plan = clean_project(data_dir, artifacts_dir, keep_models)
        except RunLockedError as busy:
            fail(str(busy))
    verb = ("removed", "moved back") if yes else ("would remove", "would move back")
    for path in plan.remove:
        console.print(f"{verb[0]} {cell(path)}", highlight=False, soft_wrap=True)
    for source, target in plan.restore:
        console.print(f"{verb[1]} {cell(source)} -> {cell(target)}", highlight=False, soft_wrap=True)
    if not yes:
        console.print("movavg: a dry run; pass --yes to do it", highlight=False)


@app.command(cls=Command)
def promote(
    version: Annotated[str, typer.Argument(help="Version to make champion, e.g. v1.")],
    artifacts_dir: ArtifactsDir = Path("artifacts"),
    data_dir: DataDir = Path("data"),
    series: SeriesOption = None,
) -> None:
    """Make a published version champion again (a rollback, or forward) of one series (--series) or of every
    series it was published for; recorded in that series' history, its live scores starting at the newest row
    in --data-dir. Waits for a running run to finish."""
    from movavg.lock import RunLockedError
    from movavg.promotion import serve_promoted
    from movavg.rawstore import index_summary
    from movavg.registry import ChampionChangedError
    from movavg.registry import promote as promote_version

    require_artifacts_dir(artifacts_dir)
    try:
        newest = {name: last for name, (_, last) in index_summary(data_dir / "raw").items()}
    except Exception:  # no data folder here: the promoted version's live scores start where the next run finds
        newest = {}
    served: list[Any] = []

    def serve(switched: list[str]) -> None:  # under the run lock: latest.parquet and health.json name it now
        try:
            served.extend(serve_promoted(artifacts_dir, data_dir / "raw", switched))
        except Exception as error:  # the promotion holds; the next run writes these outputs
            problem = f"latest forecast and health not refreshed ({type(error).__name__}: {error}): the next run does"
            served.extend(([], [problem]))

    try:
        switched = promote_version(artifacts_dir, version, series, newest=newest, then=serve)
    except (ValueError, RunLockedError, ChampionChangedError) as error:
        fail(str(error))
    if not switched:
        which = f"series {series!r}" if series is not None else "every series it was published for"
        console.print(f"movavg: {version} already serves {cell(which)}: nothing changed", highlight=False)
        return
    healths, notes = served
    for note in notes:
        err.print(f"movavg: {cell(note)}", highlight=False, soft_wrap=True)
    show_promoted_health(artifacts_dir, healths)
    console.print(
        f"[bold green]movavg:[/] champion is now {version}"
        + (f" for {cell(', '.join(switched))}" if series is not None or len(switched) > 1 else "")
        + "; it serves until newer rows arrive and a model trained on them beats it",
        highlight=False,
    )


def show_promoted_health(artifacts_dir: Path, healths: list[Any]) -> None:
    """With a Prefect server (PREFECT_API_URL), the project's health and latest-forecast artifacts again, so the
    UI names the promoted champion; without one there is no UI to update."""
    import logging
    import os

    if not os.environ.get("PREFECT_API_URL") or not healths:
        return
    configure_environment()
    from movavg.config import MonitorConfig
    from movavg.tasks.monitor import show_health

    show_health(artifacts_dir, healths, MonitorConfig(), logging.getLogger("movavg.cli"))


@app.command(cls=Command)
def predict(
    input_file: Annotated[Path, typer.Option("--input", "-i", help="CSV or Parquet with the model's columns.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write .csv or .parquet here (default: stdout CSV).")
    ] = None,
    latest: Annotated[
        bool, typer.Option("--latest", help="Only the forecast now: one row per series, from its newest row.")
    ] = False,
    artifacts_dir: ArtifactsDir = Path("artifacts"),
    data_dir: UnusedDataDir = Path("data"),
    config_file: ConfigFile = None,
    preset: Preset = "default",
    overrides: Overrides = None,
) -> None:
    """Forecast each series of the input with that series' own champion: one predicted MA per window (or, with
    --latest, the forecast now), with the central prediction interval (`lower`, `upper`) calibrated for that
    champion (evaluate.interval_level).

    The input is read with the same column names as `run`, so pass the same --config, --preset and --set. Each
    series needs at least the newest rows its champion reads per forecast (its lookback plus its seasonal lags;
    a naive champion only what its naive forecast reads); a series with fewer, or without a champion, is left
    out and named on stderr, and the command fails only when no series could be forecast.
    """
    configure_environment()
    from movavg.forecast import forecast_with_champions
    from movavg.monitor import served_margins
    from movavg.validation import ValidationError, read_valid

    config = load_config(preset, config_file, overrides)
    require_artifacts_dir(artifacts_dir)
    if out is not None:
        check_output(out)
    try:
        rows = read_valid(input_file, config.ingest)
    except (ValidationError, OSError) as error:
        fail(f"cannot use {input_file}: {error}")
    margins, problem = served_margins(artifacts_dir)
    result, left_out = forecast_with_champions(artifacts_dir, rows, margins)
    if result.empty and all("no champion" in note for note in left_out):
        fail(f"no series of {input_file} has a champion in {artifacts_dir}: run `movavg run` first")
    if result.empty:  # one line: the first series' reason (the rows it needs, or its damaged champion)
        reason = left_out[0] + (f" (and {len(left_out) - 1} more series)" if len(left_out) > 1 else "")
        fail(f"no series of {input_file} could be forecast: {reason}")
    if problem:
        err.print(
            f"movavg: {cell(problem)}: intervals without the adaptive margin until the next run",
            highlight=False,
            soft_wrap=True,
        )
    for note in left_out:
        err.print(f"movavg: left out {cell(note)}", highlight=False, soft_wrap=True)
    if latest:
        result = result.groupby("series_id", sort=False).tail(1).reset_index(drop=True)
    write_forecasts(result, out)


def write_forecasts(result: Any, out: Path | None) -> None:
    """The forecasts as CSV on standard output (a reader that closes the pipe early, such as `head`, ends it
    quietly) or into `out` (.csv or .parquet), then a line saying what was written."""
    import os

    try:
        if out is None:
            result.to_csv(sys.stdout, index=False)
            sys.stdout.flush()
        elif out.suffix == ".parquet":
            result.to_parquet(out, index=False)
        else:
            result.to_csv(out, index=False)
    except BrokenPipeError:  # `movavg predict ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None
    except OSError as error:  # a full disk, no permission
        fail(f"cannot write the forecasts to {out or 'standard output'}: {os_error_line(error)}")
    if out is not None:
        versions = ", ".join(sorted(set(result["model_version"])))
        err.print(
            f"movavg: wrote {len(result)} forecast(s) of {result['series_id'].nunique()} series "
            f"(champions {versions}) to {out}"
        )


@app.command(cls=Command)
def ingest(
    data_dir: DataDir = Path("data"),
    artifacts_dir: UnusedArtifactsDir = Path("artifacts"),
    config_file: ConfigFile = None,
    preset: Preset = "default",
    overrides: Overrides = None,
    report: Annotated[bool, typer.Option("--report", help="Print a table of every file handled.")] = False,
) -> None:
    """Validate and ingest the files in incoming/ now, then emit `movavg.data.arrived` so a served
    `on-data` deployment retrains right away (needs PREFECT_API_URL)."""
    config = load_config(preset, config_file, overrides)
    require_data_dir(data_dir)
    configure_environment()
    from movavg.ingest import ingest_files
    from movavg.lock import RunLockedError, run_lock

    try:
        with run_lock([data_dir], wait_seconds=60):
            result = ingest_files(data_dir, config.ingest)
    except RunLockedError as error:
        fail(str(error))
    if report and not result.files and not result.waiting:
        console.print(f"movavg: nothing in {data_dir / 'incoming'}", highlight=False)
    elif report:
        rows = [
            [
                entry["file"],
                entry["outcome"],
                "-" if entry["rows_in"] is None else str(entry["rows_in"]),
                str(entry["rows_ingested"]),
                str(entry["rows_quarantined"]),
                "; ".join(filter(None, [entry["reason"], *entry["notes"]])),
            ]
            for entry in result.files
        ]
        rows += [[name, "waiting", "-", "-", "-", result.waiting_why.get(name, "")] for name in result.waiting]
        print_table(
            console,
            [
                Col("file", key=True),
                Col("outcome", key=True),
                Col("rows in", right=True),
                Col("ingested", right=True),
                Col("quarantined", right=True),
                Col("reason / notes"),
            ],
            rows,
        )
    for warning in result.warnings:
        err.print(f"movavg: raw store: {cell(warning)}", highlight=False, soft_wrap=True)
    console.print(f"movavg: {result.headline()}; {result.total_rows} rows in raw/", highlight=False, soft_wrap=True)
    if result.new_files:
        announce_new_data(data_dir, result.new_files, result.new_rows, result.fingerprint)


def check_output(out: Path) -> None:
    """--out must name a file in an existing folder (checked before any work)."""
    if out.is_dir():
        fail(f"--out {out} is a folder: name a file, e.g. {out / 'forecasts.csv'}")
    if not out.parent.is_dir():
        fail(f"--out {out}: folder {out.parent} does not exist; create it first")


def announce_new_data(data_dir: Path, files: list[str], rows: int, fingerprint: str) -> None:
    """Emit the data-arrived event for this data folder on the configured Prefect server."""
    import os

    if not os.environ.get("PREFECT_API_URL"):
        console.print("movavg: PREFECT_API_URL is not set, so no event was sent; `movavg run` retrains now.")
        return
    import logging

    from prefect.events import emit_event
    from prefect.events.worker import EventsWorker

    from movavg.flows.deployments import DATA_ARRIVED, data_resource_id

    emit_event(
        event=DATA_ARRIVED,
        resource={"prefect.resource.id": data_resource_id(data_dir)},
        payload={"files": files, "rows": rows, "fingerprint": fingerprint},
    )
    logging.getLogger("EventsWorker").setLevel(logging.ERROR)  # its "still processing" progress while it sends
    EventsWorker.drain_all(timeout=30)
    console.print(f"movavg: sent {DATA_ARRIVED} for {data_dir.resolve()}", highlight=False)


@app.command(cls=Command)
def serve(
    interval: Annotated[float | None, typer.Option(help="Seconds between scheduled runs (default 3600).")] = None,
    cron: Annotated[str | None, typer.Option(help="Cron schedule instead of an interval, e.g. '0 * * * *'.")] = None,
    data_dir: DataDir = Path("data"),
    artifacts_dir: ArtifactsDir = Path("artifacts"),
    config_file: ConfigFile = None,
    preset: Preset = "default",
    overrides: Overrides = None,
    task_runner: TaskRunnerOption = None,
    dask_address: DaskAddress = None,
    automations: Annotated[
        bool,
        typer.Option(
            "--automations/--no-automations",
            help="Create (once) the automation that retrains a series cold when it turns degraded "
            "(with monitor.on_degraded=retrain, the default).",
        ),
    ] = True,
) -> None:
    """Serve the `scheduled` and `on-data` retraining deployments until SIGTERM or Ctrl-C.

    Start a server first (`movavg ui`) and export PREFECT_API_URL so the runs show in its UI. The config
    (task runner included) becomes the deployments' default parameters, editable per run in the UI. With
    monitor.on_degraded=retrain, a `movavg.series.degraded` event starts an on-data run retraining that series.
    """
    import os

    if interval is not None and cron is not None:
        fail("choose --interval or --cron, not both", 2)
    if interval is not None and interval <= 0:
        fail("--interval must be positive", 2)
    config = load_config(preset, config_file, overrides, task_runner, dask_address)
    configure_environment()
    if not os.environ.get("PREFECT_API_URL"):
        err.print(
            "movavg: PREFECT_API_URL is not set: serving on a temporary local API that has no UI and no "
            "scheduler; start `movavg ui` and export PREFECT_API_URL first."
        )
    from movavg.flows.deployments import (
        DEGRADED,
        build_deployments,
        degraded_automation_name,
        ensure_degraded_automation,
        next_run,
        serve_until_stopped,
        set_degraded_automation,
    )

    deployments = build_deployments(config, data_dir, artifacts_dir, None if cron else (interval or 3600.0), cron)
    schedule = f"cron {cron!r}" if cron else f"every {interval or 3600:g} s"
    first = next((when for deployment in deployments if (when := next_run(deployment))), None)
    console.print(
        f"movavg: serving deployments movavg-retrain/scheduled ({schedule}"
        + (f"; first run at {first:%Y-%m-%d %H:%M:%S} UTC" if first else "")
        + ") and movavg-retrain/on-data (a run when new files arrive); stop with Ctrl-C or SIGTERM",
        highlight=False,
        soft_wrap=True,
    )

    def registered(ids: dict[str, Any]) -> None:
        if not automations or config.monitor.on_degraded != "retrain":
            return
        try:
            done = ensure_degraded_automation(artifacts_dir, ids["on-data"])
        except Exception as error:  # serving goes on; degraded series still raise their events
            err.print(f"movavg: automation not set up ({type(error).__name__}: {cell(error)})", highlight=False)
            return
        console.print(
            f"movavg: automation {degraded_automation_name(artifacts_dir)} {done}: a {DEGRADED} event of this "
            "project starts an on-data run retraining that series",
            highlight=False,
            soft_wrap=True,
        )

    serve_until_stopped(
        deployments,
        report=lambda line: console.print(f"movavg: {cell(line)}", highlight=False, soft_wrap=True),
        registered=registered,
    )
    try:
        paused = set_degraded_automation(artifacts_dir, enabled=False)
    except Exception as error:  # the schedules are paused; the automation stays as it was
        err.print(f"movavg: automation not paused ({type(error).__name__}: {cell(error)})", highlight=False)
        paused = False
    console.print(
        "movavg: stopped; schedules paused"
        + (f", automation {degraded_automation_name(artifacts_dir)} paused" if paused else ""),
        highlight=False,
        soft_wrap=True,
    )


@app.command(cls=Command)
def ui(
    port: Annotated[int, typer.Option(help="Port for the API and the UI.")] = 4200,
    host: Annotated[
        str, typer.Option(help="Address to bind; keep 127.0.0.1 unless others must reach it.")
    ] = "127.0.0.1",
) -> None:
    """Start a Prefect server with its UI (foreground), bound to 127.0.0.1 by default."""
    import os

    # No prompt: in a terminal, `prefect server start` offers to pin PREFECT_API_URL in the user's profile, after
    # which every later run (the ephemeral ones too) would try this server, also once it is stopped.
    env = {
        **os.environ,
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_API_URL": f"http://{host}:{port}/api",
        "PREFECT_CLI_PROMPT": "false",
    }
    console.print(f"movavg: Prefect UI on http://{host}:{port}; in other shells:", highlight=False, soft_wrap=True)
    console.print(f"export PREFECT_API_URL=http://{host}:{port}/api", highlight=False, soft_wrap=True)
    prefect = str(Path(sys.executable).with_name("prefect"))
    os.execve(prefect, [prefect, "--no-prompt", "server", "start"], env)


def main() -> None:
    """Console-script entry point."""
    app()
