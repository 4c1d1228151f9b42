"""A Prefect server on PostgreSQL (Debian's `postgresql`, started here in a temporary folder) taking a
100-series run fanned out on a local Dask cluster: every task run recorded, none dropped, no SQLite
`database is locked`. The 100 short series share one global model (`train.scope=global`), so the test spends its
time on the 300 per-series task runs, not on 100 trainings."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from movavg.localserver import api, free_port, prefect_server
from movavg.samples import synthetic_series
from tests.helpers import client_env, movavg_command, tiny_args, write_csv

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.dask, pytest.mark.postgres]
PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), default=Path("/usr/lib/postgresql/missing/bin"))
SERIES = 100


def as_postgres(*command: str) -> list[str]:
    """Run as the `postgres` user (PostgreSQL refuses to run as root)."""
    import os

    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port; yields the asyncpg URL of database `prefect`."""
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        pytest.fail(
            "PostgreSQL is not installed: `make test` installs Debian's postgresql (or: apt-get install postgresql)"
        )
    folder = Path(tempfile.mkdtemp(prefix="movavg-postgres-"))  # not under pytest's root-only folders
    folder.chmod(0o777)
    data, port = folder / "data", free_port()
    subprocess.run(
        as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
    subprocess.run(
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"),
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            as_postgres(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "prefect"),
            check=True,
            capture_output=True,
        )
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/prefect"
    finally:
        subprocess.run(as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_100_series_dask_run_against_a_server_on_postgresql(postgres: str, tmp_path: Path) -> None:
    home = tmp_path / "server"
    with prefect_server(home, extra_env={"PREFECT_API_DATABASE_CONNECTION_URL": postgres}) as base:
        frame = pd.concat([synthetic_series(160, seed=i).assign(series_id=f"s{i:03d}") for i in range(SERIES)])
        write_csv(frame, tmp_path / "data" / "incoming", "day1.csv")
        done = subprocess.run(
            movavg_command(
                "run",
                "-d",
                str(tmp_path / "data"),
                "-a",
                str(tmp_path / "artifacts"),
                *tiny_args(),
                "--set",
                "train.epochs=1",
                "--set",
                "publish.plot=false",  # 100 PNGs say nothing about the server's database
                "--set",
                "train.scope=global",  # one model for the 100 short series: their task runs fan out all the same
                "--task-runner",
                "dask",
            ),
            env=client_env(base, tmp_path / "client"),
            capture_output=True,
            text=True,
            timeout=900,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-3000:]
        assert f"{SERIES} series: {SERIES} models published" in output, output[-3000:]  # one global model serves each
        assert "database is locked" not in output and "database is locked" not in (home / "server.log").read_text()
        for stage in ("normalize", "window", "evaluate"):  # one task run per series and stage: none dropped
            assert api(base, "/task_runs/count", {"task_runs": {"name": {"like_": f"{stage}-s"}}}) == SERIES, stage
        assert api(base, "/task_runs/count", {"task_runs": {"name": {"any_": ["train-global"]}}}) == 1
        total = api(base, "/task_runs/count", {})
        completed = api(base, "/task_runs/count", {"task_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}})
        assert total == completed >= 3 * SERIES + 3  # with the global train, ingest and publish
        assert in_postgres(postgres, "select count(*) from task_run") == total  # the server's tables are there
        assert in_postgres(postgres, "select count(*) from flow_run") >= 1
        assert not list(home.rglob("*.db"))  # and no SQLite database was made instead


def in_postgres(url: str, query: str) -> int:
    """One number from `query`, asked of the test cluster with Debian's psql."""
    address = url.split("@", 1)[1]
    host_port, database = address.split("/", 1)
    host, port = host_port.split(":")
    done = subprocess.run(
        as_postgres(str(PG_BIN / "psql"), "-h", host, "-p", port, "-U", "postgres", "-d", database, "-tAc", query),
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout.strip())
