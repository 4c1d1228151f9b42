"""Faults: crashes at any point leave the old state or the new, two runs never collide, a diverging or
broken model is never served, user-supplied names never escape their folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from flows.retrain import retrain
from movavg.config import PipelineConfig, build_config
from movavg.samples import synthetic_series
from tasks.lock import RunLockedError, run_lock
from tasks.registry import current_champion, list_versions
from tasks.storage import safe_name
from tests.conftest import TINY, client_env, movavg_command, tiny_args, write_csv

ROWS = 500


def start_run(root: Path, base: str, *extra: str, failpoint: str | None = None) -> subprocess.Popen[str]:
    env = client_env(base, root / "home")
    if failpoint:
        env["MOVAVG_FAILPOINT"] = failpoint
    return subprocess.Popen(movavg_command("run", "-d", str(root / "data"), "-a", str(root / "artifacts"),
                                           *tiny_args(), *extra),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def run_to_end(root: Path, base: str, *extra: str, failpoint: str | None = None) -> tuple[int, str]:
    process = start_run(root, base, *extra, failpoint=failpoint)
    output, _ = process.communicate(timeout=300)
    return process.returncode, output


def assert_consistent(root: Path) -> None:
    """Whatever a crash left: the champion pointer names a whole model, raw parts are readable."""
    art = root / "artifacts"
    champion = current_champion(art)
    if champion is not None:
        folder = Path(champion.path)
        assert zipfile.is_zipfile(folder / "model.keras") and (folder / "metrics.json").exists()
    for version in list_versions(art):
        assert (art / "models" / version["version"] / "model.keras").exists()
    for part in (root / "data" / "raw").glob("part-*.parquet"):
        pq.read_table(part)


def assert_no_temp_left(root: Path) -> None:
    leftovers = [p for p in root.rglob("*.tmp-*") if "home" not in p.parts]
    assert not leftovers, leftovers


def raw_rows(root: Path) -> int:
    return sum(pq.read_metadata(part).num_rows for part in (root / "data" / "raw").glob("part-*.parquet"))


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.parametrize("point", ["ingest:after-part", "before-rename:train", "before-rename:models"])
def test_killed_run_leaves_old_state_and_next_run_recovers(prefect_server: str, tmp_path: Path, point: str) -> None:
    write_csv(synthetic_series(ROWS, seed=9), tmp_path / "data" / "incoming", "a.csv")
    code, output = run_to_end(tmp_path, prefect_server, failpoint=point)
    assert code == -signal.SIGKILL, output[-2000:]
    assert_consistent(tmp_path)
    assert current_champion(tmp_path / "artifacts") is None  # the old state: nothing published yet

    code, output = run_to_end(tmp_path, prefect_server)
    assert code == 0 and "champion is now v1" in output, output[-2000:]
    assert_consistent(tmp_path)
    assert_no_temp_left(tmp_path)
    assert raw_rows(tmp_path) == ROWS  # every input row exactly once
    assert [v["version"] for v in list_versions(tmp_path / "artifacts")] == ["v1"]


@pytest.mark.slow
@pytest.mark.server
def test_killed_between_model_and_champion_switch_keeps_the_old_champion(prefect_server: str, tmp_path: Path) -> None:
    series = synthetic_series(ROWS + 300, seed=10)
    write_csv(series[:ROWS], tmp_path / "data" / "incoming", "a.csv")
    assert run_to_end(tmp_path, prefect_server)[0] == 0
    write_csv(series[ROWS:], tmp_path / "data" / "incoming", "b.csv")
    # A different target makes the new model publishable whatever its score.
    code, _ = run_to_end(tmp_path, prefect_server, "--set", "window.horizon=3", failpoint="publish:before-champion")
    assert code == -signal.SIGKILL
    assert_consistent(tmp_path)
    assert current_champion(tmp_path / "artifacts").version == "v1"  # type: ignore[union-attr]
    code, output = run_to_end(tmp_path, prefect_server, "--set", "window.horizon=3")
    assert code == 0 and "champion is now v3" in output, output[-2000:]
    assert_consistent(tmp_path)


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
    assert len((tmp_path / "artifacts" / "history.jsonl").read_text().splitlines()) == 1


def test_lock_held_by_a_live_process_is_reported_and_a_dead_holders_lock_is_free(tmp_path: Path) -> None:
    holder = subprocess.Popen(["python3", "-c", (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
        "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'{\"pid\": 1, \"host\": \"h\", \"since\": \"then\"}'); "
        "print('locked', flush=True); time.sleep(60)"), str(tmp_path / ".movavg.lock")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    with pytest.raises(RunLockedError, match="another run holds the lock .* since then"):
        with run_lock([tmp_path], wait_seconds=0.2):
            pass
    holder.send_signal(signal.SIGKILL)  # a killed holder: the kernel releases its lock
    holder.wait()
    with run_lock([tmp_path]):
        assert json.loads((tmp_path / ".movavg.lock").read_text())["pid"] == os.getpid()


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_diverging_training_is_never_published(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    write_csv(synthetic_series(ROWS, seed=13), tmp_path / "data" / "incoming", "a.csv")
    config = build_config("default", None, [*TINY, "train.learning_rate=1e12",
                                            'train.layers=[{"units": 8, "activation": "relu"}]'])
    summary = retrain(config=config, data_dir=str(tmp_path / "data"), artifacts_dir=str(tmp_path / "artifacts"))
    assert summary.status == "kept" and "not finite" in summary.message
    assert current_champion(tmp_path / "artifacts") is None and not (tmp_path / "artifacts" / "models").exists()


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_corrupt_champion_is_reported_and_replaced(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(synthetic_series(ROWS, seed=14), data / "incoming", "a.csv")
    retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    (art / "models" / "v1" / "model.keras").write_bytes(b"not a zip")
    summary = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    assert summary.status == "published" and "unreadable" in summary.message
    assert current_champion(art).version == "v2"  # type: ignore[union-attr]
    (art / "models" / "v2" / "model.keras").unlink()
    summary = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    assert summary.published_version == "v3" and "unreadable" in summary.message


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_series_ids_cannot_escape_the_forecasts_folder(tmp_path: Path, tiny_config: PipelineConfig) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(synthetic_series(ROWS, seed=15).assign(series_id="../../escaped"), data / "incoming", "a.csv")
    summary = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    forecast = Path(summary.forecast_path or "")
    assert forecast.parent == art / "forecasts" and forecast.name.startswith("_.._escaped-v1-")
    assert not list(tmp_path.parent.glob("escaped*")) and not list(tmp_path.glob("escaped*"))
    assert pd.read_parquet(forecast)["series_id"].iloc[0] == "../../escaped"  # the id itself is kept as data


@pytest.mark.parametrize(("name", "safe"), [("../../x", "_.._x"), ("/etc/passwd", "_etc_passwd"), ("..", "_"),
                                            ("sensor 1 é", "sensor 1 é"), ("a\\b", "a_b"), (".hidden", "hidden")])
def test_safe_name(name: str, safe: str) -> None:
    assert safe_name(name) == safe and "/" not in safe_name(name)


def test_promote_refuses_paths(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from movavg.cli import app

    result = CliRunner().invoke(app, ["promote", "../../../tmp", "-a", str(tmp_path)])
    assert result.exit_code == 1 and "not a version name" in result.output


def test_ui_binds_to_loopback_by_default(prefect_server: str) -> None:
    port = int(prefect_server.rsplit(":", 1)[1])
    listening = [line.split()[1] for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
                 if line.split()[3] == "0A"]  # state LISTEN
    assert f"0100007F:{port:04X}" in listening and f"00000000:{port:04X}" not in listening


def test_wait_for_lock_then_run(tmp_path: Path) -> None:
    started = time.monotonic()
    with run_lock([tmp_path]):
        with pytest.raises(RunLockedError):
            with run_lock([tmp_path], wait_seconds=1.0):
                pass
    assert time.monotonic() - started >= 1.0
