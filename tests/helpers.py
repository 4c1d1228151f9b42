"""Helpers shared by the tests (imported, never fixtures): tiny settings, settled files, subprocess set-up."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from movavg.config import PipelineConfig
    from movavg.series import PreparedSeries

CORPUS = Path(__file__).parent / "corpus"
FIXTURES = Path(__file__).parent / "fixtures"
TINY = [
    "window.lookback=8",
    "window.ma_window=4",
    "window.horizon=2",
    'train.layers=[{"units": 8}]',
    "train.epochs=2",
    "train.batch_size=64",
    "train.early_stopping_patience=null",
    # a 2-epoch model rarely beats the naive forecasts: most tests check the model's path through the pipeline,
    # tests/flows/test_forecast_quality.py the default gate (baseline champions) and the backtest
    "evaluate.require_beat_baseline=false",
    "evaluate.backtest_folds=0",
    # and any gain replaces a champion: the tests of the gate compare 2-epoch models whose gains are within the
    # retraining noise publish.min_improvement is set to (its own tests set it)
    "publish.min_improvement=0",
]


def located_series(lengths: list[int], overrides: list[str]) -> tuple[PipelineConfig, list[PreparedSeries]]:
    """Located series of `lengths` rows, of different kinds, under the default preset with `overrides`."""
    from movavg.config import build_config
    from movavg.forecaster import Forecaster, canonical_rows
    from movavg.samples import synthetic_series

    config = build_config("default", None, ["window.lookback=12", "window.seasons=[24]", *overrides])
    kinds = ["sine", "walk", "seasonal"]
    frame = pd.concat(
        [synthetic_series(n, seed=i, kind=kinds[i % 3]).assign(series_id=f"s{i}") for i, n in enumerate(lengths)]
    )
    rows = canonical_rows(frame, config)
    located = Forecaster(config)._prepare(rows, sorted(rows["series_id"].unique()))
    return config, list(located.values())


def settled(path: Path, text: str | None = None) -> Path:
    """Date a file's modification a minute back, as for a file that finished arriving (writing `text` first)."""
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


def client_env(base: str, home: Path) -> dict[str, str]:
    """Environment for a `movavg` subprocess talking to the test server."""
    return {
        **os.environ,
        "PREFECT_API_URL": f"{base}/api",
        "PREFECT_HOME": str(home),
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "MOVAVG_VERBOSE": "1",
    }


def movavg_command(*args: str) -> list[str]:
    """The installed `movavg` console script with arguments."""
    return [str(Path(sys.executable).with_name("movavg")), *args]


def tiny_args() -> list[str]:
    """TINY as repeated --set options."""
    return [arg for item in TINY for arg in ("--set", item)]


def stand_in_bundle(folder: Path) -> None:
    """A `bundle.json` and a `model.keras` zip holding Keras' three members: whole as far as `bundle_intact`
    looks, for registry and status tests that never load the model."""
    import zipfile

    (folder / "bundle.json").write_text("{}")
    with zipfile.ZipFile(folder / "model.keras", "w") as archive:
        for member in ("config.json", "metadata.json", "model.weights.h5"):
            archive.writestr(member, "{}")
