"""Publishing's pictures never fail a publish."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movavg.publishing import plot_or_skip


def predictions(times: np.ndarray) -> pd.DataFrame:
    actual = np.linspace(1.0, 2.0, len(times))
    return pd.DataFrame(
        {
            "timestamp": times,
            "actual": actual,
            "predicted": actual + 0.1,
            "naive_last": actual - 0.1,
            "lower": actual - 0.5,
            "upper": actual + 0.5,
        }
    )


def test_a_plot_is_drawn(tmp_path: Path) -> None:
    times = pd.date_range("2024-01-01", periods=30, freq="h", tz="UTC").to_numpy()
    assert plot_or_skip(predictions(times), "a", "v1", "value", tmp_path / "plot.png", None)
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"


def test_a_plot_matplotlib_cannot_draw_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    times = np.array(["2001-12-29T00", "9999-12-31T00"], dtype="datetime64[us]")  # ticks beyond year 9999
    with caplog.at_level(logging.WARNING, logger="movavg.publishing"):
        assert not plot_or_skip(predictions(times), "odd", "v1", "value", tmp_path / "plot.png", None)
    assert not (tmp_path / "plot.png").exists()
    assert "series 'odd': plot skipped" in caplog.text


def test_the_report_leaves_a_skipped_series_cells_empty() -> None:
    from movavg.report import metrics_table, report_markdown
    from movavg.schema import RunSummary, SeriesOutcome, Skipped

    skipped = [Skipped(series="tiny", stage="window", reason="too short: 12 rows")]
    table = metrics_table([], [], skipped)
    summary = RunSummary(
        status="incomplete",
        message="1 series: 1 skipped (tiny: too short)",
        champion_version=None,
        published_version=None,
        new_rows=0,
        metrics={},
        forecast_path=None,
        series=[SeriesOutcome(series="tiny", status="skipped", message="too short: 12 rows")],
    )
    report = report_markdown(summary, table, "f" * 32, {}, {}, [])
    assert "| tiny | skipped |  |  |  |  |  |  |  |  | too short: 12 rows |" in report and "()" not in report
    assert report.startswith("# movavg run\n\n1 series: 1 skipped (tiny: too short)")
