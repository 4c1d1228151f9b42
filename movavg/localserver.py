"""A real local Prefect server and a headless Debian Chromium, for the UI tests and docs screenshots."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

CHROMIUM = "/usr/bin/chromium"
# Flags for a closed network: no background fetches, no sandbox (root), no GPU.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def prefect_server(
    home: Path, port: int | None = None, timeout: float = 180.0, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """Run `movavg ui` (a Prefect server + UI on 127.0.0.1) with its own PREFECT_HOME; yield its base URL."""
    port = port or free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), **(extra_env or {})}
    env.pop("PREFECT_API_URL", None)
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "server.log").open("wb")
    command = [str(Path(sys.executable).with_name("movavg")), "ui", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process, timeout)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


EPHEMERAL_APP = b"prefect.server.api.server:create_app"


def stop_orphaned_servers(prefect_home: Path) -> list[int]:
    """SIGTERM every ephemeral Prefect API server (the uvicorn process a flow run starts when no server is
    configured) of this PREFECT_HOME whose parent is gone, as after a run killed with SIGKILL; returns their pids.
    Servers of live processes, of other homes and dedicated `prefect server start` ones are left alone."""
    stopped = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if EPHEMERAL_APP not in (proc / "cmdline").read_bytes():
                continue
            env = dict(item.split(b"=", 1) for item in (proc / "environ").read_bytes().split(b"\0") if b"=" in item)
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            home = Path(env.get(b"PREFECT_HOME", b"~/.prefect").decode()).expanduser().resolve()
        except (OSError, ValueError, IndexError):  # gone meanwhile, or not ours to read
            continue
        if env.get(b"PREFECT__SERVER_EPHEMERAL") == b"1" and home == prefect_home.resolve() and _orphaned(parent):
            try:
                os.kill(int(proc.name), signal.SIGTERM)
                stopped.append(int(proc.name))
            except OSError:
                continue
    return stopped


def _orphaned(parent: int) -> bool:
    """True when a process whose parent is `parent` lost the Python process that started it."""
    try:
        return parent <= 1 or b"python" not in Path(f"/proc/{parent}/cmdline").read_bytes()
    except OSError:
        return True


def wait_healthy(base: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait until the server answers /api/health, or fail with its exit status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prefect server exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"prefect server at {base} not healthy after {timeout:.0f} s")


def api(base: str, path: str, body: dict[str, Any] | None = None, attempts: int = 5) -> Any:
    """POST (with a body) or GET a Prefect REST endpoint and return the JSON.

    A 503 (the SQLite-backed server is momentarily busy) is retried a few times, a second apart.
    """
    url = f"{base}/api{path}"
    for attempt in range(attempts):
        response = httpx.post(url, json=body, timeout=30) if body is not None else httpx.get(url, timeout=30)
        if response.status_code != 503 or attempt == attempts - 1:
            break
        time.sleep(1)
    response.raise_for_status()
    return response.json()


def deployment_runs(base: str, deployment: str) -> list[dict[str, Any]]:
    """Flow runs of the deployment named `deployment` (e.g. "scheduled"), oldest first."""
    found = api(base, "/deployments/filter", {"deployments": {"name": {"any_": [deployment]}}})
    if not found:
        return []
    runs = api(base, "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [found[0]["id"]]}}})
    return sorted(runs, key=lambda run: run["created"])


def latest_artifact(base: str, key: str) -> dict[str, Any]:
    """The newest artifact with `key`."""
    return api(base, "/artifacts/filter", {"artifacts": {"key": {"any_": [key]}}, "sort": "CREATED_DESC", "limit": 1})[
        0
    ]


@contextmanager
def chromium_page(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A Playwright page in Debian's headless Chromium (Playwright's own browser download is not used)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()
