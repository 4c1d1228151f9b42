"""Shared fixtures: seeded synthetic series, a tiny config, a session-wide Prefect test API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from movavg.config import PipelineConfig, build_config
from movavg.runtime import configure_environment
from movavg.samples import synthetic_series

TINY = [
    "window.lookback=8", "window.ma_window=4", "window.horizon=2",
    "train.layers=[{\"units\": 8}]", "train.epochs=2", "train.batch_size=64", "train.early_stopping_patience=null",
]


def pytest_configure(config: pytest.Config) -> None:
    configure_environment()


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """One temporary Prefect API (SQLite) for every flow test; flow heartbeats off (they cost ~1 s a run)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120), temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


@pytest.fixture
def tiny_config() -> PipelineConfig:
    """Small windows and a 2-epoch, 8-unit LSTM: seconds per training."""
    return build_config("default", None, TINY)


@pytest.fixture
def series() -> pd.DataFrame:
    """600 hourly points of a seeded noisy sine on a trend."""
    return synthetic_series(600, seed=1)


def settled(path: Path, text: str | None = None) -> Path:
    """Date a file's modification a minute back, as for a file that finished arriving (writing `text` first)."""
    import os
    import time

    if text is not None:
        path.write_text(text, encoding="utf-8")
    past = time.time() - 60
    os.utime(path, (past, past))
    return path


def write_csv(frame: pd.DataFrame, folder: Path, name: str) -> Path:
    """Write `frame` as CSV into `folder` (created), settled, and return the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    frame.to_csv(path, index=False)
    return settled(path)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `prefect server` (via `movavg ui`) on a free loopback port with a temporary PREFECT_HOME.

    The scheduler loops every 2 s instead of 60 s so scheduled runs appear quickly.
    """
    from movavg.localserver import prefect_server as start

    home = tmp_path_factory.mktemp("prefect-server")
    with start(home, extra_env={"PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2"}) as base:
        yield base


def client_env(base: str, home: Path) -> dict[str, str]:
    """Environment for a `movavg` subprocess talking to the test server."""
    import os

    return {**os.environ, "PREFECT_API_URL": f"{base}/api", "PREFECT_HOME": str(home),
            "PREFECT_RUNNER_POLL_FREQUENCY": "2", "PREFECT_LOGGING_LEVEL": "INFO"}


def movavg_command(*args: str) -> list[str]:
    """The installed `movavg` console script with arguments."""
    import sys

    return [str(Path(sys.executable).with_name("movavg")), *args]


def tiny_args() -> list[str]:
    """TINY as repeated --set options."""
    return [arg for item in TINY for arg in ("--set", item)]
