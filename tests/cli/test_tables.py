"""Tables survive a pipe (every cell whole) and an 80-column terminal (key columns first, nothing cut)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from movavg.config import IngestConfig
from movavg.ingest import ingest_files
from movavg.registry import set_champion
from movavg.samples import synthetic_series
from tests.helpers import movavg_command, stand_in_bundle, write_csv

LONG = "a-rather-long-series-identifier-for-meter-0042"


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """Six series ingested; five with champions (one a naive forecast), one without."""
    data, art = tmp_path / "data", tmp_path / "artifacts"
    names = ["AAPL", LONG, "north", "south", "east", "tiny"]
    write_csv(
        pd.concat([synthetic_series(40, seed=i).assign(series_id=name) for i, name in enumerate(names)]),
        data / "incoming",
        "all.csv",
    )
    ingest_files(data, IngestConfig())
    folder = art / "models" / "v1"
    folder.mkdir(parents=True)
    metrics = {name: {"mae": 0.5, "rmse": 0.6, "baseline_mae": 0.625, "kind": "lstm"} for name in names[:4]}
    metrics["east"] = {"mae": 0.4, "rmse": 0.5, "baseline_mae": 0.4, "kind": "baseline:seasonal_change_336"}
    metrics["south"] |= {"ensemble": 5, "blend": {"naive": "seasonal_change_336", "weight": 0.8}}
    metrics[LONG] |= {"best_baseline": "naive_ma"}  # the naive forecast that gated it
    metrics["east"] |= {"best_baseline": "seasonal_change_336"}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "run.json").write_text(json.dumps({"model_key": "k", "created": "2026-01-01T00:00:00+00:00"}))
    stand_in_bundle(folder)
    for name in metrics:
        set_champion(art, name, "v1", "published", None)
    return data, art


def in_a_terminal(command: list[str], columns: int) -> list[str]:
    """The lines `command` shows in a pseudo-terminal `columns` wide."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "LINES": "50", "TERM": "xterm"}
    done = subprocess.run(command, stdin=follower, stdout=follower, stderr=follower, env=env, timeout=120)
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert done.returncode == 0, output.decode(errors="replace")
    text = output.decode()
    for code in ("\x1b[1m", "\x1b[0m", "\x1b[2m", "\x1b[22m"):
        text = text.replace(code, "")
    return [line.rstrip() for line in text.replace("\r", "").splitlines()]


def test_a_piped_table_prints_every_cell_whole(folders: tuple[Path, Path]) -> None:
    data, art = folders
    done = subprocess.run(
        movavg_command("status", "-d", str(data), "-a", str(art)),
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        timeout=120,
    )
    lines = done.stdout.splitlines()
    assert lines[0].split() == [
        "series",
        "health",
        "served",
        "by",
        "live",
        "test",
        "naive",
        "MAE",
        "last",
        "run",
        "age",
        "champion",
        "rows",
        "newest",
        "data",
        "why",
    ]
    row = next(line for line in lines if line.startswith(LONG))
    assert row.split()[:8] == [LONG, "ok", "LSTM", "-", "0.80x", "current", "MA", "0.5"] and "2024-01-02 15:00" in row
    assert "naive: seas. change 336" in next(line for line in lines if line.startswith("east"))
    south = " ".join(next(line for line in lines if line.startswith("south")).split())
    assert south.startswith("south ok LSTM x5 + 0.20 naive - 0.80x - 0.5")  # one label, as `models` says
    assert not any(char in done.stdout for char in "│━…")  # plain columns, nothing cut


def test_an_80_column_terminal_keeps_the_key_columns_whole(folders: tuple[Path, Path]) -> None:
    data, art = folders
    lines = in_a_terminal(movavg_command("status", "-d", str(data), "-a", str(art)), 80)
    assert all(len(line) <= 80 for line in lines), lines
    header = next(line for line in lines if line.lstrip().startswith("series"))
    assert header.split()[:6] == ["series", "health", "served", "by", "live", "test"]
    assert "…" not in "\n".join(lines)
    first_column = "".join(line.split()[0] for line in lines if line.strip())
    assert LONG in first_column  # a long id folds onto more lines instead of being cut
    assert any("not shown at this width" in line for line in lines)
    models = in_a_terminal(movavg_command("models", "-a", str(art)), 80)
    assert all(len(line) <= 80 for line in models) and any("naive: seas. change 336" in line for line in models)
    assert "LSTM x5 + 0.20 naive" in " ".join(" ".join(line.split()) for line in models)
    assert any(line.split()[0] == LONG[:9] for line in lines if line.strip())  # the series column stays readable
    east = " ".join(next(line for line in models if line.lstrip().startswith("east")).split())
    assert east.endswith("naive: seas. change 336 0.4 seas. change 336")  # what serves, then the naive that gated it
