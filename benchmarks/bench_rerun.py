"""A full run vs a no-new-data rerun of the retraining flow, side by side, on the bundled CO2 sample.

Measures the flow in one process on one local Prefect API (the API's start-up is excluded, it is
paid once either way), then the same two runs as `movavg run` commands, as a user sees them (the
full run starts its own ephemeral API; the rerun, with nothing changed, ends before Prefect starts).

Run: .venv/bin/python benchmarks/bench_rerun.py [--set train.epochs=20 ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from movavg.config import build_config
from movavg.runtime import configure_environment
from movavg.samples import CO2_SAMPLE


def fresh_dirs(root: Path) -> tuple[Path, Path]:
    data, artifacts = root / "data", root / "artifacts"
    (data / "incoming").mkdir(parents=True)
    shutil.copy2(CO2_SAMPLE, data / "incoming" / CO2_SAMPLE.name)
    return data, artifacts


def in_process(root: Path, overrides: list[str]) -> tuple[float, float]:
    from prefect.testing.utilities import prefect_test_harness

    from movavg.flows.retrain import retrain

    config = build_config("default", None, overrides)
    data, artifacts = fresh_dirs(root)
    with prefect_test_harness(server_startup_timeout=120):
        started = time.perf_counter()
        full = retrain(config=config, data_dir=str(data), artifacts_dir=str(artifacts))
        full_s = time.perf_counter() - started
        started = time.perf_counter()
        rerun = retrain(config=config, data_dir=str(data), artifacts_dir=str(artifacts))
        rerun_s = time.perf_counter() - started
    assert full.status == "published" and rerun.status == "unchanged", (full.message, rerun.message)
    return full_s, rerun_s


def as_commands(root: Path, overrides: list[str]) -> tuple[float, float]:
    data, artifacts = fresh_dirs(root)
    command = [str(Path(sys.executable).with_name("movavg")), "run", "-d", str(data), "-a", str(artifacts)]
    command += [arg for item in overrides for arg in ("--set", item)]
    env = {**os.environ, "PREFECT_HOME": str(root / "prefect-home")}
    times = []
    for _ in range(2):
        started = time.perf_counter()
        subprocess.run(command, check=True, env=env, capture_output=True)
        times.append(time.perf_counter() - started)
    return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override, repeatable")
    args = parser.parse_args()
    configure_environment()
    with tempfile.TemporaryDirectory() as tmp:
        flow_full, flow_rerun = in_process(Path(tmp) / "flow", args.overrides)
        cli_full, cli_rerun = as_commands(Path(tmp) / "cli", args.overrides)
    print(f"{'':>22} {'full run s':>11} {'no-new-data s':>14} {'ratio':>7}")
    print(f"{'flow, in process':>22} {flow_full:>11.2f} {flow_rerun:>14.2f} {flow_full / flow_rerun:>6.0f}x")
    print(f"{'movavg run command':>22} {cli_full:>11.2f} {cli_rerun:>14.2f} {cli_full / cli_rerun:>6.1f}x")


if __name__ == "__main__":
    main()
