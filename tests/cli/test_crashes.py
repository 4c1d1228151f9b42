"""Crashes of `movavg run` processes: a SIGKILL at any point leaves the old state or the new, the next run
recovers, and two runs at once never collide."""

from __future__ import annotations

import json
import signal
import subprocess
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from movavg.rawstore import load_index, series_paths
from movavg.registry import current_champion, history, list_versions
from movavg.samples import synthetic_series
from tests.helpers import client_env, movavg_command, tiny_args, write_csv

ROWS = 500


def start_run(root: Path, base: str, *extra: str, failpoint: str | None = None) -> subprocess.Popen[str]:
    env = client_env(base, root / "home")
    if failpoint:
        env["MOVAVG_FAILPOINT"] = failpoint
    return subprocess.Popen(
        movavg_command("run", "-d", str(root / "data"), "-a", str(root / "artifacts"), *tiny_args(), *extra),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run_to_end(root: Path, base: str, *extra: str, failpoint: str | None = None) -> tuple[int, str]:
    process = start_run(root, base, *extra, failpoint=failpoint)
    output, _ = process.communicate(timeout=300)
    return process.returncode, output


def assert_consistent(root: Path) -> None:
    """Whatever a crash left: the champion pointer names a whole model, raw parts are readable."""
    art = root / "artifacts"
    champion = current_champion(art, "default")
    if champion is not None:
        folder = Path(champion.path)
        assert zipfile.is_zipfile(folder / "model.keras") and (folder / "metrics.json").exists()
    for version in list_versions(art):
        assert (art / "models" / version["version"] / "model.keras").exists()
    for part in visible_parts(root / "data" / "raw"):
        pq.read_table(part)


def assert_no_temp_left(root: Path) -> None:
    leftovers = [p for p in root.rglob("*.tmp-*") if "home" not in p.parts]
    assert not leftovers, leftovers


def visible_parts(raw: Path) -> list[Path]:
    index = load_index(raw)
    return [path for series in index.series for path in series_paths(raw, series, index)]


def raw_rows(root: Path) -> int:
    """Rows stored in the visible parts (a row ingested twice would count twice)."""
    return sum(pq.read_metadata(part).num_rows for part in visible_parts(root / "data" / "raw"))


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.parametrize("point", ["ingest:after-part", "before-rename:train", "before-rename:models"])
def test_killed_run_leaves_old_state_and_next_run_recovers(prefect_server: str, tmp_path: Path, point: str) -> None:
    write_csv(synthetic_series(ROWS, seed=9), tmp_path / "data" / "incoming", "a.csv")
    code, output = run_to_end(tmp_path, prefect_server, failpoint=point)
    assert code == -signal.SIGKILL, output[-2000:]
    assert_consistent(tmp_path)
    assert current_champion(tmp_path / "artifacts", "default") is None  # the old state: nothing published yet

    code, output = run_to_end(tmp_path, prefect_server)
    assert code == 0 and "champion is now v1" in output, output[-2000:]
    assert_consistent(tmp_path)
    assert_no_temp_left(tmp_path)
    assert raw_rows(tmp_path) == ROWS  # every input row exactly once
    assert [v["version"] for v in list_versions(tmp_path / "artifacts")] == ["v1"]


def killed_second_publish(root: Path, base: str, seed: int, point: str) -> None:
    """A first run publishes v1; a second, on new rows with another target (so its model is publishable whatever
    its score), is killed at `point` of its publish."""
    series = synthetic_series(ROWS + 300, seed=seed)
    write_csv(series[:ROWS], root / "data" / "incoming", "a.csv")
    assert run_to_end(root, base)[0] == 0
    write_csv(series[ROWS:], root / "data" / "incoming", "b.csv")
    code, _ = run_to_end(root, base, "--set", "window.horizon=3", failpoint=point)
    assert code == -signal.SIGKILL
    assert_consistent(root)


@pytest.mark.slow
@pytest.mark.server
def test_killed_between_model_and_champion_switch_keeps_the_old_champion(prefect_server: str, tmp_path: Path) -> None:
    killed_second_publish(tmp_path, prefect_server, 10, "publish:before-champion")
    assert current_champion(tmp_path / "artifacts", "default").version == "v1"  # type: ignore[union-attr]
    code, output = run_to_end(tmp_path, prefect_server, "--set", "window.horizon=3")
    assert code == 0 and "champion is now v3" in output, output[-2000:]
    assert_consistent(tmp_path)


@pytest.mark.slow
@pytest.mark.server
def test_killed_after_the_champion_switch_the_rerun_reports_the_publish(prefect_server: str, tmp_path: Path) -> None:
    killed_second_publish(tmp_path, prefect_server, 13, "publish:after-champion")
    assert current_champion(tmp_path / "artifacts", "default").version == "v2"  # type: ignore[union-attr]
    code, output = run_to_end(tmp_path, prefect_server, "--set", "window.horizon=3")  # no new file: never "no new data"
    assert code == 0 and "published by a run stopped before it finished" in output, output[-2000:]
    assert "champion is now v2 (was v1)" in output
    art = tmp_path / "artifacts"
    assert json.loads((art / "live" / "health.json").read_text())["series"]["default"]["version"] == "v2"
    assert pq.read_table(art / "forecasts" / "latest.parquet").column("model_version").to_pylist() == ["v2"]
    code, output = run_to_end(tmp_path, prefect_server, "--set", "window.horizon=3")
    assert code == 0 and "no new data; champion v2 unchanged" in output, output[-2000:]


@pytest.mark.slow
@pytest.mark.server
def test_sigkill_during_training_then_recovery(prefect_server: str, tmp_path: Path) -> None:
    write_csv(synthetic_series(ROWS, seed=11), tmp_path / "data" / "incoming", "a.csv")
    process = start_run(tmp_path, prefect_server, "--set", "train.epochs=400")
    assert process.stdout is not None
    for line in process.stdout:
        if "epoch 3/400" in line:
            break
    process.send_signal(signal.SIGKILL)
    process.wait(60)
    assert_consistent(tmp_path)
    trained = tmp_path / "data" / "cache" / "train"
    assert not trained.exists() or not [p for p in trained.iterdir() if (p / "_COMPLETE").exists()]
    code, output = run_to_end(tmp_path, prefect_server)
    assert code == 0 and "champion is now v1" in output, output[-2000:]
    assert_no_temp_left(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_to_the_process_group_ends_the_run_within_seconds(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """On the embedded API, as `timeout 40 movavg run` or Ctrl-C do: the local API stops with the same signal, and
    the run must not go on training while Prefect retries calls to it."""
    import os
    import time

    write_csv(synthetic_series(ROWS, seed=14), tmp_path / "data" / "incoming", "a.csv")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {"PREFECT_HOME": str(tmp_path / "home"), "MOVAVG_VERBOSE": "1", "PREFECT_LOGGING_LEVEL": "INFO"}
    dirs = ["-d", str(tmp_path / "data"), "-a", str(tmp_path / "artifacts")]
    command = movavg_command("run", *dirs, *tiny_args(), "--set", "train.epochs=4000")
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "epoch 3/4000" in line:
            break
    os.killpg(process.pid, stop)
    started = time.monotonic()
    try:
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert time.monotonic() - started < 20 and process.returncode == 128 + stop, (process.returncode, output[-2000:])
    assert f"movavg: {stop.name}: stopping the run" in output
    assert_consistent(tmp_path)
    env.pop("MOVAVG_VERBOSE")
    done = subprocess.run(
        movavg_command("run", *dirs, *tiny_args()), env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and "champion is now v1" in done.stdout + done.stderr, done.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.server
def test_two_runs_at_once_never_double_publish(prefect_server: str, tmp_path: Path) -> None:
    write_csv(synthetic_series(ROWS, seed=12), tmp_path / "data" / "incoming", "a.csv")
    first, second = start_run(tmp_path, prefect_server), start_run(tmp_path, prefect_server)
    outputs = [p.communicate(timeout=300)[0] for p in (first, second)]
    codes = sorted(p.returncode for p in (first, second))
    joined = "\n".join(outputs)
    assert codes == [0, 1], joined[-3000:]
    assert "another run holds the lock" in joined and "since" in joined
    assert [v["version"] for v in list_versions(tmp_path / "artifacts")] == ["v1"]
    assert len(history(tmp_path / "artifacts", "default")) == 1
