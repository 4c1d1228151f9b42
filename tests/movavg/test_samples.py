"""Samples: the CO2 record ships as package data (a non-editable install finds it), synthetic series
are seeded, and the demo's sample lands settled in incoming/."""

from __future__ import annotations

import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from movavg.samples import CO2_SAMPLE, synthetic_series, write_sample

ROOT = Path(__file__).resolve().parents[2]


def test_co2_sample_is_inside_the_package() -> None:
    assert CO2_SAMPLE.parent.parent == ROOT / "movavg" and CO2_SAMPLE.exists()
    frame = pd.read_csv(CO2_SAMPLE)
    assert list(frame.columns) == ["timestamp", "value"] and len(frame) == 2284


def test_synthetic_series_are_seeded() -> None:
    pd.testing.assert_frame_equal(synthetic_series(50, seed=3), synthetic_series(50, seed=3))
    assert not synthetic_series(50, seed=3).equals(synthetic_series(50, seed=4))


@pytest.mark.parametrize("sample", ["co2", "synthetic"])
def test_write_sample_is_settled(tmp_path: Path, sample: str) -> None:
    path = write_sample(sample, tmp_path / "incoming")
    assert path.parent == tmp_path / "incoming" and time.time() - path.stat().st_mtime > 600
    with pytest.raises(ValueError, match="unknown sample 'x'"):
        write_sample("x", tmp_path)


@pytest.mark.slow
def test_the_built_wheel_carries_the_sample(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("movavg-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "movavg/sample_data/mauna_loa_co2_weekly.csv" in names
    assert not any(name.startswith("tests/") for name in names)
