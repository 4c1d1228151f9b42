"""The `movavg` CLI in-process: run, models --json, promote, predict, and its errors."""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from movavg.cli import app
from movavg.registry import current_champion, history
from movavg.samples import synthetic_series
from tests.helpers import CORPUS, tiny_args, write_csv

runner = CliRunner()


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_run_models_promote_predict(tmp_path: Path) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    series = synthetic_series(500, seed=6)
    write_csv(series, data / "incoming", "a.csv")
    dirs = ["-d", str(data), "-a", str(art)]

    first = runner.invoke(app, ["run", *dirs, *tiny_args()])
    assert first.exit_code == 0, first.output
    assert "champion is now v1" in first.output
    # A different target (horizon 3) cannot be compared with v1, so it is published as v2.
    second = runner.invoke(app, ["run", *dirs, *tiny_args(), "--set", "window.horizon=3"])
    assert second.exit_code == 0 and "champion is now v2" in second.output

    listing = json.loads(runner.invoke(app, ["models", "--json", "-a", str(art)]).stdout)
    assert [(row["version"], row["series"], row["champion"]) for row in listing] == [
        ("v1", "default", False),
        ("v2", "default", True),
    ]
    assert set(listing[0]) == {"version", "series", "created", "champion", "metrics"}
    assert {"mae", "rmse", "baseline_mae", "train_seconds", "epochs_run", "train_windows"} <= set(listing[0]["metrics"])
    assert all(isinstance(listing[0]["metrics"][k], float) for k in ("mae", "rmse", "baseline_mae", "train_seconds"))
    history_rows = 168 - 2 + 8 - 1  # hourly data: a weekly lag channel, ending `horizon` after each input row
    assert listing[0]["metrics"]["epochs_run"] == 2 and listing[0]["metrics"]["train_windows"] == 350 - 2 - history_rows
    assert listing[0]["metrics"]["kind"] == "lstm" and listing[0]["metrics"]["best_baseline"]
    blend = listing[0]["metrics"]["blend"]  # train.combine_naive is on by default
    assert listing[0]["metrics"]["ensemble"] == 1 and blend["naive"] and 0 <= blend["weight"] <= 1

    promoted = runner.invoke(app, ["promote", "v1", *dirs])
    assert promoted.exit_code == 0 and "champion is now v1" in promoted.output
    listing = json.loads(runner.invoke(app, ["models", "--json", "-a", str(art)]).stdout)
    assert [row["champion"] for row in listing] == [True, False]
    changes = history(art, "default")
    assert [h["version"] for h in changes] == ["v1", "v2", "v1"] and changes[-1]["previous"] == "v2"
    latest = pd.read_parquet(art / "forecasts" / "latest.parquet")  # every output names what serves now
    assert latest["model_version"].tolist() == ["v1"] and latest["horizon"].tolist() == [2]
    assert json.loads((art / "live" / "health.json").read_text())["series"]["default"]["version"] == "v1"
    held = runner.invoke(app, ["run", *dirs, *tiny_args(), "--set", "window.horizon=3"])  # no new data: v1 holds
    outcome = json.loads((art / "runs" / "last.json").read_text())["series"]["default"]
    assert held.exit_code == 0 and outcome["status"] == "kept" and "v1 was promoted by hand" in outcome["message"]
    assert current_champion(art, "default").version == "v1"  # type: ignore[union-attr]

    source = write_csv(series.tail(200), tmp_path, "recent.csv")
    out = tmp_path / "pred.parquet"
    predicted = runner.invoke(app, ["predict", "--input", str(source), "--out", str(out), "-a", str(art)])
    assert predicted.exit_code == 0, predicted.output
    frame = pd.read_parquet(out)
    assert list(frame.columns) == [
        "timestamp",
        "target_time",
        "series_id",
        "horizon",
        "predicted_ma",
        "lower",
        "upper",
        "model_version",
    ]
    assert (frame["target_time"] == frame["timestamp"] + pd.Timedelta(hours=2)).all()  # hourly data, horizon 2
    assert len(frame) == 200 - history_rows and set(frame["model_version"]) == {"v1"}
    assert (frame["lower"] < frame["predicted_ma"]).all() and (frame["predicted_ma"] < frame["upper"]).all()
    assert frame["predicted_ma"].between(series["value"].min() - 5, series["value"].max() + 5).all()

    config = tmp_path / "settings.json"  # the same settings as the run, from a file
    config.write_text(json.dumps({"window": {"lookback": 8, "ma_window": 4, "horizon": 2}}))
    now = runner.invoke(app, ["predict", "-i", str(source), "--latest", "--config", str(config), "-a", str(art)])
    assert now.exit_code == 0, now.output
    [row] = pd.read_csv(io.StringIO(now.stdout), parse_dates=["timestamp", "target_time"]).to_dict("records")
    assert row["timestamp"] == frame["timestamp"].max() and row["target_time"] == frame["target_time"].max()
    (art / "live" / "health.json").write_text('{"series": {"default": ')  # torn: one line, calibrated intervals
    torn = runner.invoke(app, ["predict", "-i", str(source), "--latest", "-a", str(art)])
    assert torn.exit_code == 0 and "intervals without the adaptive margin until the next run" in torn.stderr
    assert len(torn.stderr.strip().splitlines()) == 1, torn.stderr
    short = runner.invoke(app, ["predict", "-i", str(write_csv(series.tail(5), tmp_path, "five.csv")), "-a", str(art)])
    assert short.exit_code == 1 and len(short.stderr.strip().splitlines()) == 1, short.stderr
    assert f"5 rows, but its champion v1 (LSTM) reads {history_rows + 1} rows per forecast" in short.stderr

    again = runner.invoke(app, ["promote", "v1", "-a", str(art)])
    assert again.exit_code == 0 and "already" in again.output and "champion is now" not in again.output, again.output
    write_csv(synthetic_series(560, seed=6).tail(60), data / "incoming", "b.csv")  # newer rows than at the promote
    newer = runner.invoke(app, ["run", *dirs, *tiny_args(), "--set", "window.horizon=3"])
    assert newer.exit_code == 0 and "champion is now v3" in newer.output, newer.output


@pytest.mark.slow
def test_predict_into_a_pipe_closed_early_exits_quietly(tmp_path: Path) -> None:
    """`movavg predict ... | head -3` prints three lines, nothing on stderr, and exit status 0 (pipefail)."""
    import subprocess

    from tests.cli.test_errors import LEGACY_FEATURES
    from tests.helpers import FIXTURES, movavg_command

    art = tmp_path / "artifacts"
    shutil.copytree(FIXTURES / "legacy_artifacts", art)
    source = write_csv(
        synthetic_series(3000, seed=1, features=2), tmp_path, "in.csv"
    )  # ~300 KB: more than a pipe holds
    command = shlex.join(movavg_command("predict", "-i", str(source), "-a", str(art), *LEGACY_FEATURES))
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{command} | head -3"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 3 and done.stderr == "", done.stderr


def test_unknown_version_cannot_be_promoted(tmp_path: Path) -> None:
    result = runner.invoke(app, ["promote", "v7", "-a", str(tmp_path)])
    assert result.exit_code == 1 and "no published model 'v7'" in result.output


def test_invalid_config_names_the_field_before_any_work(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "-d", str(tmp_path / "d"), "--set", "window.lookback=0"])
    assert result.exit_code == 2 and "window.lookback" in result.output
    assert not (tmp_path / "d").exists()
    result = runner.invoke(app, ["run", "--preset", "nope"])
    assert result.exit_code == 2 and "unknown preset 'nope'" in result.output


def test_predict_without_champion_says_what_to_do(tmp_path: Path) -> None:
    source = write_csv(synthetic_series(20), tmp_path, "x.csv")
    result = runner.invoke(app, ["predict", "--input", str(source), "-a", str(tmp_path / "a")])
    assert result.exit_code == 1 and "run `movavg run` first" in result.output


def test_models_json_is_an_empty_list_before_any_publish(tmp_path: Path) -> None:
    result = runner.invoke(app, ["models", "--json", "-a", str(tmp_path)])
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_ingest_report_lists_every_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from tests.helpers import settled

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    (tmp_path / "data" / "incoming").mkdir(parents=True)
    for name in ("out_of_order.csv", "bad_timestamp.csv", "semicolons.csv"):
        settled(Path(shutil.copy2(CORPUS / name, tmp_path / "data" / "incoming")))
    result = runner.invoke(app, ["ingest", "--report", "-d", str(tmp_path / "data")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for expected in (
        "out_of_order.csv",
        "ingested",
        "bad_timestamp.csv",
        "partial",
        "semicolons.csv",
        "quarantined",
        "separated by semicolons",
        "2 file(s) ingested (19 rows), 1 with quarantined rows, 1 quarantined whole, 0 waiting",
        "no event was sent",
    ):
        assert expected in result.output, expected


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_demo_seeds_once_then_reruns_without_new_data(tmp_path: Path) -> None:
    dirs = ["-d", str(tmp_path / "data"), "-a", str(tmp_path / "artifacts")]
    first = runner.invoke(
        app,
        [
            "demo",
            "--sample",
            "synthetic",
            *dirs,
            *tiny_args(),
            "--set",
            "train.epochs=40",
            "--set",
            "train.early_stopping_patience=2",
        ],
    )
    assert first.exit_code == 0 and "champion is now v1" in first.output, first.output
    lines = first.output.splitlines()  # what it does from the start, the series named, how training ended
    assert (
        lines[0]
        == f"movavg: demo: copied the synthetic sample to {tmp_path / 'data' / 'incoming' / 'synthetic_3_features.csv'}"
    )
    assert lines[1].startswith("movavg: running ingest, normalize, monitor, window, train, evaluate, publish on ")
    trained = next(line for line in lines if line.startswith("trained series 'default': "))
    assert "/40 epochs" in trained and "(stopped early at epoch " in trained and "best val_loss at epoch" in trained
    served = lines[-1]
    assert served.startswith("movavg: series 'default' is served by v1 (") and "for the best naive forecast (" in served
    assert Path(served.split("; plot: ")[1]).is_file()
    second = runner.invoke(
        app,
        [
            "demo",
            "--sample",
            "synthetic",
            *dirs,
            *tiny_args(),
            "--set",
            "train.epochs=40",
            "--set",
            "train.early_stopping_patience=2",
        ],
    )
    assert second.exit_code == 0 and "no new data; champion v1 unchanged" in second.output, second.output
    assert [p.name for p in (tmp_path / "data" / "processed").iterdir()] == ["synthetic_3_features.csv"]


def test_promote_refuses_paths(tmp_path: Path) -> None:
    result = runner.invoke(app, ["promote", "../../../tmp", "-a", str(tmp_path)])
    assert result.exit_code == 1 and "not a version name" in result.output


@pytest.mark.server
def test_ui_binds_to_loopback_by_default(prefect_server: str) -> None:
    port = int(prefect_server.rsplit(":", 1)[1])
    listening = [
        line.split()[1] for line in Path("/proc/net/tcp").read_text().splitlines()[1:] if line.split()[3] == "0A"
    ]  # state LISTEN
    assert f"0100007F:{port:04X}" in listening and f"00000000:{port:04X}" not in listening


def five_tickers() -> pd.DataFrame:
    """Daily closes of five tickers (seeded random walks); FB has too little history for one window per split."""
    lengths = {"AAPL": 400, "GOOG": 380, "IBM": 420, "MSFT": 360, "FB": 12}
    return pd.concat(
        [
            synthetic_series(n, seed=i, freq="D", kind="walk").assign(series_id=name)
            for i, (name, n) in enumerate(lengths.items())
        ],
        ignore_index=True,
    )


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_five_tickers_in_one_run_get_their_own_champions_and_predict_routes_by_series(tmp_path: Path) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    tickers = five_tickers()
    write_csv(tickers, data / "incoming", "tickers.csv")
    result = runner.invoke(app, ["run", "-d", str(data), "-a", str(art), *tiny_args()])
    assert result.exit_code == 0, result.output
    assert "5 series: 4 models published, 1 skipped (FB: too short)" in result.output

    listing = json.loads(runner.invoke(app, ["models", "--json", "-a", str(art)]).stdout)
    champions = {row["series"]: row["version"] for row in listing if row["champion"]}
    assert sorted(champions) == ["AAPL", "GOOG", "IBM", "MSFT"] and len(set(champions.values())) == 4
    ibm = runner.invoke(app, ["models", "--series", "IBM", "-a", str(art)], env={"COLUMNS": "200"})
    assert ibm.exit_code == 0 and "IBM" in ibm.output and "AAPL" not in ibm.output

    recent = pd.concat([tickers[tickers["series_id"] == name].tail(20) for name in ("IBM", "AAPL")])
    unknown = synthetic_series(20, seed=99, freq="D").assign(series_id="NVDA")
    source = write_csv(pd.concat([recent, unknown]), tmp_path, "recent.csv")
    out = tmp_path / "forecast.csv"
    predicted = runner.invoke(app, ["predict", "--input", str(source), "--out", str(out), "-a", str(art)])
    assert predicted.exit_code == 0, predicted.output
    assert "left out NVDA: no champion" in predicted.output
    frame = pd.read_csv(out)
    assert list(frame.columns) == [
        "timestamp",
        "target_time",
        "series_id",
        "horizon",
        "predicted_ma",
        "lower",
        "upper",
        "model_version",
    ]
    assert (pd.to_datetime(frame["target_time"]) == pd.to_datetime(frame["timestamp"]) + pd.Timedelta(days=2)).all()
    assert frame.groupby("series_id")["model_version"].unique().map(list).to_dict() == {
        "AAPL": [champions["AAPL"]],
        "IBM": [champions["IBM"]],
    }
    assert (frame.groupby("series_id").size() == 20 - (7 - 2 + 8 - 1)).all()  # daily: a weekly lag channel
    for name, part in frame.groupby("series_id"):  # each series forecast on its own level
        level = tickers[tickers["series_id"] == name]["value"].tail(20)
        assert part["predicted_ma"].between(level.min() - 10, level.max() + 10).all(), name

    nothing = write_csv(unknown, tmp_path, "only-unknown.csv")
    none = runner.invoke(app, ["predict", "--input", str(nothing), "-a", str(art)])
    assert none.exit_code == 1 and "no series of" in none.output

    status = {
        row["series"]: row
        for row in json.loads(runner.invoke(app, ["status", "--json", "-d", str(data), "-a", str(art)]).stdout)
    }
    assert status["FB"]["last_run"]["status"] == "skipped" and status["FB"]["champion"] is None
    assert status["IBM"]["champion"] == champions["IBM"] and status["IBM"]["rows"] == 420
    table = runner.invoke(app, ["status", "-d", str(data), "-a", str(art)], env={"COLUMNS": "160"})
    assert table.exit_code == 0 and "published" in table.output and "skipped" in table.output

    rolled = runner.invoke(app, ["promote", champions["AAPL"], "--series", "IBM", "-a", str(art)])
    assert rolled.exit_code == 1 and "was not published for series 'IBM'" in rolled.output


def test_a_mistyped_data_folder_ends_with_one_line_and_is_not_created(tmp_path: Path) -> None:
    for command in (["run", "-a", str(tmp_path / "a")], ["ingest"]):
        result = runner.invoke(app, [*command, "-d", str(tmp_path / "dta")])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert f"data folder {tmp_path / 'dta'} does not exist" in result.output
    assert not (tmp_path / "dta").exists()


@pytest.mark.slow
@pytest.mark.server
def test_a_run_is_quiet_and_a_too_short_series_ends_with_one_line(prefect_server: str, tmp_path: Path) -> None:
    """Default (not -v) terminal output: no TensorFlow or Prefect start-up lines, no traceback, no retry."""
    import subprocess

    from movavg.localserver import api
    from movavg.monitor import project_slug
    from movavg.storage import sha256_bytes
    from tests.helpers import client_env, movavg_command, settled

    env = {
        k: v
        for k, v in client_env(prefect_server, tmp_path / "home").items()
        if k not in {"MOVAVG_VERBOSE", "PREFECT_LOGGING_LEVEL"}
    }
    write_csv(synthetic_series(400, seed=2), tmp_path / "data" / "incoming", "a.csv")
    settled(tmp_path / "data" / "incoming" / "b.csv", "timestamp;value\n2024-01-01;1\n")  # quarantined: a warning
    dirs = ["-d", str(tmp_path / "data"), "-a", str(tmp_path / "artifacts")]
    done = subprocess.run(
        movavg_command("run", *dirs, *tiny_args()),
        env={**env, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "champion is now v1" in output, output
    for noise in ("absl::InitializeLog", "oneDNN", "docs.prefect.io", "Task run", "Finished in state", "| WARNING"):
        assert noise not in output, noise
    lines = output.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("movavg: warning: b.csv: "))
    block = lines[first : first + 3]  # one warning, wrapped between words at 80 columns
    assert all(len(line) <= 80 for line in block) and "separated by semicolons" in " ".join(" ".join(block).split())
    [run] = [
        r
        for r in api(prefect_server, "/flow_runs/filter", {"sort": "START_TIME_DESC", "limit": 50})
        if r["parameters"].get("data_dir") == str(tmp_path / "data")
    ]
    slug = project_slug(tmp_path / "artifacts")
    assert run["name"].startswith(f"{slug}-data-") and run["state"]["message"] in output  # project, data, time
    assert sorted(run["tags"]) == ["movavg", f"project:{slug}"]
    progress = api(
        prefect_server,
        "/artifacts/filter",
        {"artifacts": {"flow_run_id": {"any_": [run["id"]]}, "type": {"any_": ["progress"]}}},
    )
    assert [artifact["key"] for artifact in progress] == [f"movavg-training-default-{sha256_bytes(b'default')[:8]}"]
    assert progress[0]["description"] == "done: 2 epochs (all epochs)"
    short = subprocess.run(
        movavg_command("run", *dirs, *tiny_args(), "--set", "window.lookback=300"),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = short.stdout + short.stderr
    assert short.returncode == 1 and "Traceback" not in output and "Retry" not in output, output
    last = output.strip().splitlines()[-1]
    assert last.startswith("movavg: run incomplete: no series could be modelled: default: too short"), output


@pytest.mark.slow
@pytest.mark.server
def test_many_skipped_series_are_counted_not_listed_on_the_terminal(prefect_server: str, tmp_path: Path) -> None:
    import subprocess

    from tests.helpers import client_env, movavg_command

    env = {
        k: v
        for k, v in client_env(prefect_server, tmp_path / "home").items()
        if k not in {"MOVAVG_VERBOSE", "PREFECT_LOGGING_LEVEL"}
    }
    tiny = [synthetic_series(12, seed=i).assign(series_id=f"tiny{i:03d}") for i in range(60)]
    write_csv(
        pd.concat([synthetic_series(400, seed=2).assign(series_id="long"), *tiny]),
        tmp_path / "data" / "incoming",
        "many.csv",
    )
    done = subprocess.run(
        movavg_command("run", "-d", str(tmp_path / "data"), "-a", str(tmp_path / "artifacts"), *tiny_args()),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert output.count("tiny0") == 5, output  # the first five named in the summary: no line per skipped series
    assert (
        "61 series: 1 model published, 60 skipped (tiny000: too short, tiny001: too short, tiny002: too short, "
        "tiny003: too short, tiny004: too short, +55 more)" in output
    ), output


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_a_file_dropped_just_before_a_run_is_ingested_by_it(tmp_path: Path) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    dirs = ["-d", str(data), "-a", str(art)]
    write_csv(synthetic_series(500, seed=6)[:400], data / "incoming", "a.csv")
    assert runner.invoke(app, ["run", *dirs, *tiny_args()]).exit_code == 0
    synthetic_series(500, seed=6)[400:].to_csv(data / "incoming" / "b.csv", index=False)  # modified just now
    result = runner.invoke(app, ["run", *dirs, *tiny_args()])
    assert result.exit_code == 0 and "no new data" not in result.output, result.output
    assert not (data / "incoming" / "b.csv").exists() and (data / "processed" / "b.csv").exists()
    (data / "incoming" / "c.csv.part").write_text("timestamp,value\n")
    again = runner.invoke(app, ["run", *dirs, *tiny_args()])
    assert (
        again.exit_code == 0
        and "1 file(s) left in incoming/ (c.csv.part: named like a partial download" in again.output
    ), again.output


@pytest.mark.slow
@pytest.mark.server
def test_ui_in_a_terminal_starts_without_a_prompt_and_leaves_the_profile_alone(tmp_path: Path) -> None:
    import os
    import pty
    import select
    import signal
    import subprocess
    import time

    import httpx

    from movavg.localserver import free_port
    from tests.helpers import movavg_command

    home, port = tmp_path / "fresh-home", free_port()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | {"PREFECT_HOME": str(home)}
    leader, follower = pty.openpty()  # a real terminal, where Prefect would ask its question
    server = subprocess.Popen(
        movavg_command("ui", "--port", str(port)),
        env=env,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        start_new_session=True,
    )
    os.close(follower)
    screen, deadline, healthy = b"", time.monotonic() + 120, False
    try:
        while time.monotonic() < deadline and not healthy:
            if select.select([leader], [], [], 0.5)[0]:
                try:
                    screen += os.read(leader, 65536)
                except OSError:
                    break
            with contextlib.suppress(httpx.HTTPError):
                healthy = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        os.close(leader)
    assert healthy, screen.decode(errors="replace")[-2000:]
    assert b"How would you like to proceed" not in screen
    profiles = home / "profiles.toml"
    assert not profiles.exists() or "PREFECT_API_URL" not in profiles.read_text()


@pytest.mark.parametrize(
    "command",
    [
        ["run"],
        ["demo"],
        ["ingest"],
        ["status"],
        ["models"],
        ["promote", "v1"],
        ["predict", "--input", "x.csv"],
        ["serve"],
    ],
)
def test_every_command_takes_both_folders(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "--data-dir" in result.output and "--artifacts-dir" in result.output, command


def test_ui_prints_the_export_line_whole_into_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Piped (no terminal, 80 columns), the line to copy stays one line: `export PREFECT_API_URL=...`."""
    import os

    def started(*_: object) -> None:
        raise SystemExit(0)  # where `prefect server start` would replace this process

    monkeypatch.setattr(os, "execve", started)
    shown = runner.invoke(app, ["ui", "--port", "4321", "--host", "127.0.0.1"], env={"COLUMNS": "80"})
    assert "export PREFECT_API_URL=http://127.0.0.1:4321/api" in shown.stdout.splitlines(), shown.stdout


def test_help_reads_whole_at_80_columns() -> None:
    """Every command's help fits 80 columns, flags show no `<bool>`, --set no `<list[str]>`, and a docstring's
    own line breaks never cut a sentence (the commands panel reflows it)."""
    from movavg.cli import app as cli

    commands = [""] + [command.name or command.callback.__name__ for command in cli.registered_commands]  # type: ignore[union-attr]
    assert len(commands) == 11
    for name in commands:
        shown = runner.invoke(app, [*([name] if name else []), "--help"], env={"COLUMNS": "80"}, terminal_width=80)
        assert shown.exit_code == 0, (name, shown.output)
        assert all(len(line) <= 80 for line in shown.output.splitlines()), name
        assert "<bool>" not in shown.output and "<list[str]>" not in shown.output, name
    panel = runner.invoke(app, ["--help"], env={"COLUMNS": "80"}, terminal_width=80).output
    assert any("and why, what serves it" in line for line in panel.splitlines()), panel  # one sentence, reflowed
