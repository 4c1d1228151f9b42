"""A user's mistake, or damaged state, ends with one line saying what to fix: never a traceback, never a folder
created on the way, never another series' table lost."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from movavg.cli import app
from movavg.config import IngestConfig
from movavg.ingest import ingest_files
from movavg.lock import run_lock
from movavg.registry import champion_dir, set_champion
from movavg.samples import synthetic_series
from tests.helpers import FIXTURES, client_env, movavg_command, stand_in_bundle, tiny_args, write_csv

runner = CliRunner()
LEGACY_FEATURES = ["--set", 'ingest.feature_columns=["feature_1","feature_2"]']


def one_line_failure(result: Result, *words: str, code: int = 1) -> None:
    """The command exited `code` with one line on stderr naming `words`, and raised nothing."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("movavg: "), result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def legacy(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of artifacts published by an earlier version, and an input file for them."""
    shutil.copytree(FIXTURES / "legacy_artifacts", art := tmp_path / "artifacts")
    return art, FIXTURES / "legacy_input.csv"


def test_a_file_where_a_folder_belongs_is_named(tmp_path: Path) -> None:
    (afile := tmp_path / "afile").write_text("x")
    (tmp_path / "data").mkdir()
    one_line_failure(runner.invoke(app, ["run", "-d", str(afile)]), "is a file, not a folder")
    one_line_failure(runner.invoke(app, ["ingest", "-d", str(afile)]), "is a file, not a folder")
    one_line_failure(runner.invoke(app, ["status", "-d", str(afile)]), "is a file, not a folder")
    one_line_failure(
        runner.invoke(app, ["run", "-d", str(tmp_path / "data"), "-a", str(afile)]), "--artifacts-dir", "is a file"
    )
    for command in (["models"], ["status", "-d", str(tmp_path / "data")], ["promote", "v1"]):
        one_line_failure(runner.invoke(app, [*command, "-a", str(afile)]), "--artifacts-dir", "is a file")
    (tmp_path / "data" / "incoming").write_text("not a folder")
    for command in (["run"], ["ingest"], ["demo"]):
        one_line_failure(
            runner.invoke(app, [*command, "-d", str(tmp_path / "data"), "-a", str(tmp_path / "a")]),
            "incoming is a file, not a folder",
            "keeps the files to ingest in incoming/",
        )


def test_an_unknown_demo_sample_creates_nothing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--sample", "nope", "-d", str(tmp_path / "d"), "-a", str(tmp_path / "a")])
    one_line_failure(result, "unknown sample 'nope'", "co2", code=2)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_predict_output_problems_end_in_one_line(tmp_path: Path) -> None:
    art, source = legacy(tmp_path)
    base = ["predict", "--input", str(source), "-a", str(art), *LEGACY_FEATURES]
    one_line_failure(runner.invoke(app, [*base, "--out", str(tmp_path / "nowhere" / "f.csv")]), "does not exist")
    one_line_failure(runner.invoke(app, [*base, "--out", str(tmp_path)]), "is a folder")
    if Path("/dev/full").exists():
        one_line_failure(runner.invoke(app, [*base, "--out", "/dev/full"]), "cannot write", "No space left")
    written = runner.invoke(app, [*base, "--out", str(tmp_path / "ok.csv")])
    assert written.exit_code == 0 and len(pd.read_csv(tmp_path / "ok.csv")) == 33


@pytest.mark.slow
def test_an_unloadable_champion_is_named_and_predict_fails_in_one_line(tmp_path: Path) -> None:
    art, source = legacy(tmp_path)
    (art / "models" / "v1" / "model.keras").write_bytes(b"PK\x03\x04 cut short")
    result = runner.invoke(app, ["predict", "--input", str(source), "-a", str(art), *LEGACY_FEATURES])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "default: its champion v1 cannot be loaded" in result.stderr
    assert "no series of" in result.stderr.strip().splitlines()[-1]


def test_a_damaged_pointer_is_reported_and_the_other_series_listed(tmp_path: Path) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(
        pd.concat([synthetic_series(30, seed=1).assign(series_id=s) for s in ("a", "b")]), data / "incoming", "ab.csv"
    )
    ingest_files(data, IngestConfig())
    folder = art / "models" / "v1"
    folder.mkdir(parents=True)
    metrics = {"mae": 0.5, "rmse": 0.6, "baseline_mae": 0.7}
    (folder / "metrics.json").write_text(json.dumps({"a": metrics, "b": metrics}))
    (folder / "run.json").write_text(json.dumps({"model_key": "k", "created": "2026-01-01T00:00:00+00:00"}))
    stand_in_bundle(folder)
    set_champion(art, "a", "v1", "published", None)
    set_champion(art, "b", "v1", "published", None)
    (champion_dir(art, "a") / "champion.json").write_text('{"version": ')
    (champion_dir(art, "a") / "history.jsonl").unlink()
    listed = runner.invoke(app, ["models", "--json", "-a", str(art)])
    assert listed.exit_code == 0 and [(r["series"], r["champion"]) for r in json.loads(listed.stdout)] == [
        ("a", False),
        ("b", True),
    ]
    assert "series 'a': champion pointer damaged" in listed.stderr and "'b'" not in listed.stderr
    status = runner.invoke(app, ["status", "--json", "-d", str(data), "-a", str(art)])
    rows = {row["series"]: row for row in json.loads(status.stdout)}
    assert status.exit_code == 0 and rows["a"]["champion"] is None and "no usable champion" in rows["a"]["problem"]
    assert rows["b"]["champion"] == "v1" and rows["b"]["problem"] is None
    table = runner.invoke(app, ["status", "-d", str(data), "-a", str(art)], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "series 'a': champion pointer damaged" in table.stderr


def test_control_characters_in_a_series_id_reach_the_terminal_as_text(tmp_path: Path) -> None:
    data = tmp_path / "data"
    hostile = "evil\x1b[2J\x1b[31m[bold]red"
    write_csv(synthetic_series(30, seed=1).assign(series_id=hostile), data / "incoming", "x.csv")
    ingest_files(data, IngestConfig())
    result = runner.invoke(app, ["status", "-d", str(data), "-a", str(tmp_path / "a")], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "\x1b" not in result.stdout
    assert "evil\\x1b[2J\\x1b[31m[bold]red" in result.stdout  # shown whole, markup not parsed


def test_a_held_lock_ends_a_run_in_one_line_before_prefect_starts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "incoming").mkdir(parents=True)
    with run_lock([data], 0):
        result = runner.invoke(
            app, ["run", "-d", str(data), "-a", str(tmp_path / "a")], env={**os.environ, "PREFECT_API_URL": ""}
        )
    one_line_failure(result, "another run holds the lock", f"pid {os.getpid()}")


def ephemeral_servers(home: Path) -> list[int]:
    """Pids of the local Prefect API servers started for runs with this PREFECT_HOME."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if b"prefect.server.api.server:create_app" in (proc / "cmdline").read_bytes() and (
                f"PREFECT_HOME={home}".encode() in (proc / "environ").read_bytes()
            ):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_the_server_of_a_killed_run_is_stopped_by_the_next_run(tmp_path: Path) -> None:
    import signal
    import subprocess
    import time

    from tests.helpers import movavg_command, tiny_args

    home, data = tmp_path / "home", tmp_path / "data"
    write_csv(synthetic_series(400, seed=1), data / "incoming", "a.csv")
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"} | {"PREFECT_HOME": str(home)}
    run = subprocess.Popen(
        movavg_command("run", "-d", str(data), "-a", str(tmp_path / "art"), *tiny_args()),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not ephemeral_servers(home) and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.5)
    [server] = ephemeral_servers(home)
    run.send_signal(signal.SIGKILL)
    run.wait()
    time.sleep(1)
    assert ephemeral_servers(home) == [server]  # Prefect's server outlived the killed run
    (empty := tmp_path / "empty" / "incoming").mkdir(parents=True)
    again = subprocess.run(
        movavg_command("run", "-d", str(empty.parent), "-a", str(tmp_path / "art2")),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "stopped 1 local Prefect API server(s) left running by a killed run" in again.stderr, again.stderr
    time.sleep(1)
    assert server not in ephemeral_servers(home) and ephemeral_servers(home) == []


@pytest.mark.slow
@pytest.mark.server
def test_a_full_disk_ends_the_run_in_one_line_naming_where(
    prefect_server: str, full_disk: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in client_env(prefect_server, tmp_path / "home").items() if k != "MOVAVG_VERBOSE"}
    write_csv(synthetic_series(300, seed=2), tmp_path / "data" / "incoming", "a.csv")
    dirs = ["-d", str(tmp_path / "data"), "-a", str(full_disk / "artifacts")]
    done = subprocess.run(
        movavg_command("run", *dirs, *tiny_args()), env=env, capture_output=True, text=True, timeout=300
    )
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower() or "failed" in line]
    assert done.returncode == 1 and "Traceback" not in done.stderr and len(errors) == 1, done.stderr
    assert errors[0].startswith(f"movavg: run failed: No space left on device: {full_disk / 'artifacts'}")
    assert errors[0].endswith("free some space on that disk and run again") and "\\[" not in done.stderr


def test_quiet_log_lines_print_brackets_as_they_are_and_skip_prefects_failure_echoes() -> None:
    import io
    import logging

    from movavg.cli.logs import TerminalHandler

    stream = io.StringIO()
    handler = TerminalHandler(stream=stream)
    for level, message in [
        (logging.WARNING, "a.csv: [errno 28] [bold]not markup[/bold]"),
        (logging.ERROR, "Task run failed with exception: OSError(28) - Retries are exhausted"),
        (logging.ERROR, "Finished in state Failed('...')"),
        (logging.ERROR, "series b: train failed"),
    ]:
        handler.emit(logging.LogRecord("prefect.task_runs", level, __file__, 1, message, None, None))
    assert stream.getvalue().splitlines() == [
        "movavg: warning: a.csv: [errno 28] [bold]not markup[/bold]",
        "movavg: error: series b: train failed",
    ]
