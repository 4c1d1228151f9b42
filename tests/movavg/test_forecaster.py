"""`movavg.Forecaster` in memory: fit, predict, evaluate, save/load, and the mistakes a notebook user makes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from movavg import Forecaster
from movavg.config import build_config
from movavg.forecaster import PREDICT_COLUMNS, resolve_config
from movavg.samples import synthetic_series
from tests.helpers import TINY


def five_series() -> pd.DataFrame:
    """Five hourly series of different lengths and kinds, in one long frame."""
    kinds = ["sine", "walk", "sine", "walk", "sine"]
    return pd.concat(
        [synthetic_series(240 + 40 * i, seed=i, kind=kind).assign(series_id=f"s{i}") for i, kind in enumerate(kinds)],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def fitted() -> Forecaster:
    return Forecaster(build_config("default", None, [*TINY, "evaluate.require_beat_baseline=true"])).fit(five_series())


@pytest.mark.slow
def test_predict_gives_one_row_per_series_ending_horizon_steps_after_its_last_input(fitted: Forecaster) -> None:
    frame, forecasts = five_series(), fitted.predict()
    assert list(forecasts.columns) == PREDICT_COLUMNS and sorted(forecasts["series_id"]) == [f"s{i}" for i in range(5)]
    newest = frame.groupby("series_id")["timestamp"].max().dt.tz_localize("UTC")
    for row in forecasts.itertuples():
        assert row.timestamp == newest[row.series_id]  # the newest window: its last input is the newest row
        assert row.target_time == row.timestamp + pd.Timedelta(hours=row.horizon) and row.horizon == 2
        assert row.lower <= row.predicted_ma <= row.upper
    assert set(forecasts["served_by"]) <= {"lstm"} | {f"baseline:{name}" for name in ("naive_last", "naive_ma")} | {
        f"baseline:{kind}_24" for kind in ("seasonal", "seasonal_change")
    }


@pytest.mark.slow
def test_what_serves_is_what_the_gate_chose_against_the_best_naive_forecast(fitted: Forecaster) -> None:
    scores = fitted.evaluate().set_index("series_id")
    assert list(scores.columns) == [
        "mae", "lstm_mae", "best_baseline", "baseline_mae", "ratio", "coverage", "served_by", "backtest"
    ]  # fmt: skip
    for name, row in scores.iterrows():
        if row["served_by"] == "lstm":
            assert row["mae"] == row["lstm_mae"] < row["baseline_mae"], name
        else:
            assert row["served_by"] == f"baseline:{row['best_baseline']}" and row["mae"] == row["baseline_mae"], name
            assert row["lstm_mae"] >= row["baseline_mae"], name
        assert row["ratio"] == pytest.approx(row["mae"] / row["baseline_mae"]) and 0 <= row["coverage"] <= 1


@pytest.mark.slow
def test_save_and_load_give_identical_forecasts(fitted: Forecaster, tmp_path: Path) -> None:
    fitted.save(tmp_path / "saved")
    loaded = Forecaster.load(tmp_path / "saved")
    pd.testing.assert_frame_equal(loaded.predict(), fitted.predict())
    pd.testing.assert_frame_equal(loaded.predict(all_origins=True), fitted.predict(all_origins=True))
    pd.testing.assert_frame_equal(loaded.evaluate(), fitted.evaluate())
    assert (tmp_path / "saved" / "forecaster.json").exists()
    assert {p.name for p in (tmp_path / "saved").glob("*/bundle.json")} == {"bundle.json"}  # registry format


@pytest.mark.slow
def test_all_origins_and_newer_rows(fitted: Forecaster) -> None:
    every = fitted.predict(all_origins=True)
    newest = every.sort_values("timestamp").groupby("series_id").tail(1).sort_values("series_id")
    pd.testing.assert_frame_equal(newest.reset_index(drop=True), fitted.predict())
    assert every.groupby("series_id")["timestamp"].is_monotonic_increasing.all()
    frame = five_series()
    s0 = frame[frame["series_id"] == "s0"]
    newer = pd.concat([s0, synthetic_series(250, seed=0).tail(10).assign(series_id="s0")])
    newer["timestamp"] = pd.date_range("2024-01-01", periods=len(newer), freq="h")
    forecast = fitted.predict(newer)
    assert len(forecast) == 1 and forecast["timestamp"].iloc[0] == newer["timestamp"].max().tz_localize("UTC")


def test_config_may_be_a_preset_a_dict_of_sections_or_none() -> None:
    assert resolve_config(None).window.horizon == build_config("default").window.horizon
    assert resolve_config({"window": {"horizon": 7}}).window.horizon == 7
    assert resolve_config("seed-multifeature").ingest.feature_columns == ["feature_1", "feature_2"]
    with pytest.raises(ValueError, match="unknown preset"):
        resolve_config("nonsense")
    with pytest.raises(TypeError, match="preset name"):
        resolve_config(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"time": ["2024-01-01"], "value": [1.0]}), r"missing column\(s\) \['timestamp'\]"),
        (
            pd.DataFrame({"timestamp": ["2024-01-01", "2024-01-02", "soon"], "value": [1.0, np.nan, 2.0]}),
            r"2 row\(s\) cannot be used: row 2 \(value\): missing value; row 3 \(timestamp\): not a timestamp",
        ),
        (pd.DataFrame({"timestamp": pd.date_range("2024", periods=50, freq="h"), "value": 1.0}), "constant"),
        (synthetic_series(20), "too short"),
    ],
)
def test_a_users_mistake_ends_with_one_line_saying_what_to_fix(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        Forecaster(build_config("default", None, TINY)).fit(frame)
    assert "\n" not in str(raised.value)


def test_predicting_before_fitting_says_so() -> None:
    with pytest.raises(ValueError, match=r"not fitted: call fit\(frame\) first"):
        Forecaster().predict()


@pytest.mark.slow
def test_predicting_a_series_it_was_not_fitted_on_says_so(fitted: Forecaster) -> None:
    with pytest.raises(ValueError, match="series 'other' has no forecaster"):
        fitted.predict(synthetic_series(300).assign(series_id="other"))


@pytest.mark.slow
@pytest.mark.parametrize("damaged", ["forecaster.json", "metrics.json"])
def test_a_damaged_saved_record_ends_with_one_line_naming_it(fitted: Forecaster, tmp_path: Path, damaged: str) -> None:
    folder = fitted.save(tmp_path / "saved")
    path = folder / damaged if damaged == "forecaster.json" else next(folder.glob(f"*/{damaged}"))
    path.write_text(path.read_text()[:40])  # torn by a crash or a copy
    with pytest.raises(ValueError, match=rf"{damaged} cannot be read \(JSONDecodeError\)") as raised:
        Forecaster.load(folder)
    assert "\n" not in str(raised.value)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("tamper", "named", "words"),
    [
        (lambda index, folder: index["series"].update(s0="elsewhere"), "elsewhere", "metrics.json cannot be read"),
        (lambda index, folder: index.update(series=[1, 2]), "forecaster.json", "TypeError"),
        (lambda index, folder: index["config"].update(window="wide"), "forecaster.json", "ValidationError"),
        (
            lambda index, folder: (folder / "data.parquet").write_bytes(b"PAR1"),
            "data.parquet",
            "smaller than the minimum file footer",
        ),
        (lambda index, folder: index["series"].update(ghost=index["series"]["s0"]), "", "no entry 'ghost'"),
    ],
)
def test_a_tampered_save_ends_with_one_line_naming_the_file(
    fitted: Forecaster, tmp_path: Path, tamper: Any, named: str, words: str
) -> None:
    folder = fitted.save(tmp_path / "saved")
    index = json.loads((folder / "forecaster.json").read_text())
    tamper(index, folder)
    (folder / "forecaster.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="cannot load the saved forecaster: ") as raised:
        Forecaster.load(folder)
    message = str(raised.value)
    assert str(folder / named) in message and words in message and "\n" not in message, message


@pytest.mark.slow
def test_save_replaces_an_earlier_save_but_never_anything_else(fitted: Forecaster, tmp_path: Path) -> None:
    fitted.save(tmp_path / "saved")
    fitted.save(tmp_path / "saved")  # a second save replaces the first
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    (tmp_path / "file.csv").write_text("a,b\n")
    for taken in ("notes", "file.csv"):
        with pytest.raises(ValueError, match="exists and is not a saved forecaster: save into a new folder"):
            fitted.save(tmp_path / taken)
    assert (tmp_path / "notes" / "mine.txt").read_text() == "keep me" and (tmp_path / "file.csv").exists()
