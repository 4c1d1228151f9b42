"""Fixtures: seeded synthetic series, a tiny config, a session-wide Prefect test API, a real server."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from movavg.config import PipelineConfig, build_config
from movavg.runtime import configure_environment
from movavg.samples import synthetic_series
from tests.helpers import TINY


def pytest_configure(config: pytest.Config) -> None:
    configure_environment()


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """One temporary Prefect API (SQLite) for every flow test; flow heartbeats off (they cost ~1 s a run)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield


@pytest.fixture
def tiny_config() -> PipelineConfig:
    """Small windows and a 2-epoch, 8-unit LSTM: seconds per training."""
    return build_config("default", None, TINY)


@pytest.fixture
def series() -> pd.DataFrame:
    """600 hourly points of a seeded noisy sine on a trend."""
    return synthetic_series(600, seed=1)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `prefect server` (via `movavg ui`) on a free loopback port with a temporary PREFECT_HOME.

    The scheduler loops every 2 s instead of 60 s so scheduled runs appear quickly.
    """
    from movavg.localserver import prefect_server as start

    home = tmp_path_factory.mktemp("prefect-server")
    with start(home, extra_env={"PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2"}) as base:
        yield base


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs with almost no room left (needs root; skipped where mount is refused)."""
    mount = tmp_path / "full"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)]).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        (mount / "filler").write_bytes(b"\0" * 60_000)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)
