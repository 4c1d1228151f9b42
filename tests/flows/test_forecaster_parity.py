"""The pipeline and `movavg.Forecaster` run the same code: for the same data and config, the flow's
`forecasts/latest.parquet` is what `Forecaster.predict()` returns, and what serves each series agrees."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from movavg import Forecaster
from movavg.config import build_config
from movavg.flows.retrain import retrain
from movavg.samples import synthetic_series
from movavg.status import series_status
from tests.helpers import TINY, write_csv

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]
SHARED = ["series_id", "timestamp", "target_time", "horizon", "predicted_ma", "lower", "upper"]


@pytest.mark.parametrize("gate", ["evaluate.require_beat_baseline=false", "evaluate.require_beat_baseline=true"])
def test_latest_forecasts_of_the_pipeline_equal_the_forecasters(tmp_path: Path, gate: str) -> None:
    kinds = ["sine", "walk", "seasonal"]
    frame = pd.concat(
        [synthetic_series(300 + 60 * i, seed=i, kind=kind).assign(series_id=f"s{i}") for i, kind in enumerate(kinds)],
        ignore_index=True,
    )
    config = build_config("default", None, [*TINY, gate])
    data, art = tmp_path / "data", tmp_path / "artifacts"
    source = write_csv(frame, data / "incoming", "three.csv")
    from_file = pd.read_csv(source)  # the very rows the pipeline ingests

    retrain(config=config, data_dir=str(data), artifacts_dir=str(art))
    latest = pd.read_parquet(art / "forecasts" / "latest.parquet").sort_values("series_id", ignore_index=True)
    forecaster = Forecaster(config).fit(from_file)
    forecasts = forecaster.predict().sort_values("series_id", ignore_index=True)

    assert len(forecasts) == 3
    assert (latest["target_time"] == latest["timestamp"] + pd.to_timedelta(latest["horizon"], unit="h")).all()
    assert (latest["upper"] - latest["lower"] > 1e-3).all()  # a real interval, also around a naive forecast
    pd.testing.assert_frame_equal(forecasts[SHARED], latest[SHARED], check_dtype=False)
    served = {row["series"]: row["served_by"] for row in series_status(data, art)}
    assert dict(zip(forecasts["series_id"], forecasts["served_by"], strict=True)) == served
    if gate.endswith("false"):
        assert set(served.values()) == {"lstm"}
