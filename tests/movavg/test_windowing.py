"""Windowing: equals the seed's loop, looks back only, never mixes splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movavg.feed import steps_per_pass, window_array, window_batches
from movavg.naive import naive_forecasts, naive_names
from movavg.scaling import ScalerStats, to_model_space
from movavg.schema import SPLITS, GapReport, UnusableSeries, WindowSpec
from movavg.series import PreparedSeries
from movavg.windowing import make_windows, split_arrays, split_bounds


def seed_loop(data: np.ndarray, window_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The construction of the Keras Q&A the project started from, with the last window included."""
    x, y = [], []
    for i in range(len(data) - window_size + 1):
        x.append(data[i : i + window_size])
        y.append(np.mean(data[i : i + window_size, 0]))
    return np.array(x), np.array(y)


def reference(values: np.ndarray, lookback: int, ma_window: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Plain loop over the documented offsets."""
    x, y = [], []
    for i in range(len(values) - lookback - horizon + 1):
        t = i + lookback - 1
        x.append(values[i : i + lookback])
        y.append(values[t + horizon - ma_window + 1 : t + horizon + 1, 0].mean())
    return np.array(x), np.array(y)


@pytest.mark.parametrize("features", [1, 3])
@pytest.mark.parametrize("window_size", [1, 5, 10])
def test_horizon_zero_equals_seed_loop(features: int, window_size: int) -> None:
    data = np.random.default_rng(0).random((100, features))
    x, y = make_windows(data, window_size, window_size, 0)
    x_seed, y_seed = seed_loop(data, window_size)
    assert x.shape == (100 - window_size + 1, window_size, features)
    np.testing.assert_array_equal(x, x_seed)
    np.testing.assert_allclose(y, y_seed, rtol=1e-12)


@pytest.mark.parametrize(("lookback", "ma_window", "horizon"), [(8, 4, 2), (5, 5, 5), (10, 1, 1), (3, 6, 4)])
def test_forecast_windows_match_documented_offsets(lookback: int, ma_window: int, horizon: int) -> None:
    data = np.random.default_rng(1).normal(size=(57, 2))
    x, y = make_windows(data, lookback, ma_window, horizon)
    x_ref, y_ref = reference(data, lookback, ma_window, horizon)
    np.testing.assert_array_equal(x, x_ref)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12)


def test_one_dimensional_input_gets_a_feature_axis() -> None:
    x, y = make_windows(np.arange(10.0), 3, 2, 1)
    assert x.shape == (7, 3, 1)
    assert y[0] == pytest.approx((2 + 3) / 2)  # last input step 2, MA of steps 2..3


def test_inputs_look_back_only() -> None:
    """Changing a value after a window's last input step never changes that window's inputs."""
    data = np.random.default_rng(2).normal(size=50)
    x_before, _ = make_windows(data, 6, 3, 4)
    changed = data.copy()
    changed[30] += 100.0
    x_after, _ = make_windows(changed, 6, 3, 4)
    untouched = np.arange(len(x_before)) + 6 - 1 < 30  # last input step before 30
    np.testing.assert_array_equal(x_before[untouched], x_after[untouched])


def test_too_short_series_gives_no_windows() -> None:
    x, y = make_windows(np.arange(5.0), 4, 2, 2)
    assert x.shape == (0, 4, 1) and y.shape == (0,)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 1, 0), "lookback >= 1"),
        ((3, 0, 0), "ma_window >= 1"),
        ((3, 1, -1), "horizon >= 0"),
        ((3, 5, 1), "must not exceed lookback \\+ horizon"),
    ],
)
def test_invalid_arguments_are_rejected(args: tuple[int, int, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_windows(np.arange(20.0), *args)


def test_bad_shape_is_rejected() -> None:
    with pytest.raises(ValueError, match="shape"):
        make_windows(np.zeros((4, 2, 2)), 2, 1, 0)


def test_naive_baselines_match_loop() -> None:
    target = np.random.default_rng(3).normal(size=40)
    m = 40 - 7 - 2 + 1
    every = naive_forecasts(target, np.arange(6, 6 + m), WindowSpec(lookback=7, ma_window=3, horizon=2))
    last, current = every["naive_last"], every["naive_ma"]
    assert last.shape == current.shape == (m,)
    for i in range(m):
        t = i + 6
        assert last[i] == target[t]
        assert current[i] == pytest.approx(target[t - 2 : t + 1].mean())


def test_seasonal_naive_forecasts_match_loop() -> None:
    target = np.random.default_rng(4).normal(size=60)
    spec = WindowSpec(lookback=7, ma_window=3, horizon=2, seasons=[10])
    ends = np.arange(spec.history, 60 - 2)
    every = naive_forecasts(target, ends, spec)
    assert list(every) == naive_names(spec)
    for i, t in enumerate(ends):
        span = target[t + 2 - 3 + 1 - 10 : t + 2 + 1 - 10].mean()  # the target's span, one season earlier
        assert every["seasonal_10"][i] == pytest.approx(span)
        assert every["seasonal_change_10"][i] == pytest.approx(target[t] + span - target[t - 10])


def split_frame(labels: list[str], values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {"timestamp": pd.date_range("2024", periods=len(labels), freq="D"), "split": labels, "value__z": values}
    )


def located_series(frame: pd.DataFrame, spec: WindowSpec, per_window: bool = False) -> PreparedSeries:
    stats = ScalerStats(columns=["value"], mean=[0.0], std=[1.0], fitted_rows=1, per_window=per_window)
    gaps = GapReport(step="1 d", gaps=0, largest="1 d", filled_rows=0)
    return PreparedSeries(
        series="s", frame=frame, columns=["value"], stats=stats, gaps=gaps, spec=spec, bounds=split_bounds(frame, spec)
    )


@pytest.mark.parametrize("seasons", [[], [12]])
def test_targets_stay_in_their_split_and_inputs_look_back(tmp_path: Path, seasons: list[int]) -> None:
    """Encode the row number in the value: every target's span lies in its split, every input (and seasonal
    lag) precedes the target; val/test windows may read earlier rows, so a long history does not eat them."""
    labels = np.array(["train"] * 60 + ["val"] * 20 + ["test"] * 20)
    frame = split_frame(list(labels), np.arange(100.0))
    spec = WindowSpec(lookback=5, ma_window=2, horizon=3, seasons=seasons, seasonal_inputs=True)
    bounds = split_bounds(frame, spec).set_index("split")
    arrays = split_arrays([located_series(frame, spec)], SPLITS)
    for split in SPLITS:
        starts, targets = arrays[split].starts, arrays[split].targets
        last_input = starts + 4
        span = np.stack([targets - 0.5, targets + 0.5])  # MA of two consecutive rows r, r + 1 is r + 0.5
        assert np.array_equal(span[1], last_input + 3) and np.all(labels[span.astype(int)] == split)
        assert starts.min() - max([0, *spec.lags]) >= 0
        assert len(targets) == bounds.loc[split, "windows"]
    assert len(arrays["val"].targets) == 20 - 1 and len(arrays["test"].targets) == 20 - 1  # one row: the MA's length
    assert bounds.loc["train", "first_end"] == spec.history


def test_seasonal_lag_channels_hold_the_target_one_season_back(tmp_path: Path) -> None:
    labels = ["train"] * 60 + ["val"] * 20 + ["test"] * 20
    frame = split_frame(labels, np.arange(100.0))
    spec = WindowSpec(lookback=4, ma_window=2, horizon=1, seasons=[10], seasonal_inputs=True)
    train = split_arrays([located_series(frame, spec)], ["train"])["train"]
    x = next(iter(window_batches(*train, 4, 8, per_window=False, lags=spec.lags)))[0].numpy()
    rows = train.starts[:8, None] + np.arange(4)
    np.testing.assert_array_equal(x[:, :, 0], rows)
    np.testing.assert_array_equal(x[:, :, 1], rows - 10 + 1)  # ends at t + horizon - season: the target's own phase


def test_make_windows_returns_a_view_not_a_copy() -> None:
    data = np.random.default_rng(1).normal(size=(10_000, 2))
    x, _ = make_windows(data, 64, 4, 4)
    assert np.shares_memory(x, data) and x.shape == (10_000 - 64 - 4 + 1, 64, 2)


def test_the_lazy_feed_gives_exactly_the_batches_of_make_windows(tmp_path: Path) -> None:
    """Two series back to back (global scope), batch by batch, against make_windows per series."""
    rng = np.random.default_rng(2)
    labels = ["train"] * 70 + ["val"] * 15 + ["test"] * 15
    spec = WindowSpec(lookback=6, ma_window=3, horizon=2)
    prepared, expected_x, expected_y = [], [], []
    for _ in range(2):
        frame = split_frame(labels, rng.normal(size=100).cumsum())
        prepared.append(located_series(frame, spec, per_window=True))
        x, y = make_windows(frame["value__z"].to_numpy("float32")[:70], 6, 3, 2)
        expected_x.append(x)
        expected_y.append(y)
    arrays = split_arrays(prepared, ["train"])["train"]
    batches = [(x.numpy(), y.numpy()) for x, y in window_batches(*arrays, 6, 16, per_window=True)]  # y: minus last
    want_x, want_y, _ = to_model_space(np.concatenate(expected_x), np.concatenate(expected_y), True)
    np.testing.assert_array_equal(np.concatenate([x for x, _ in batches]), want_x)
    np.testing.assert_allclose(np.concatenate([y for _, y in batches]), want_y, atol=1e-6)  # float64 MA, then float32
    assert len(batches) == steps_per_pass(len(want_y), 16) and all(len(y) <= 16 for _, y in batches)
    epochs = [
        np.concatenate([y.numpy() for _, y in window_batches(*arrays, 6, 16, True, shuffle_seed=0, epochs=2)])
        for _ in range(2)
    ]
    np.testing.assert_array_equal(epochs[0], epochs[1])  # the same seed, the same orders, in any process
    first, second = np.split(epochs[0], 2)
    assert not np.array_equal(first, want_y) and not np.array_equal(first, second)  # each epoch its own order
    assert np.allclose(np.sort(first), np.sort(want_y), atol=1e-6) and np.array_equal(np.sort(first), np.sort(second))


@pytest.mark.parametrize(("per_window", "lags", "shifted"), [(True, (), None), (False, (), None), (True, (24, 48), 3)])
def test_the_small_predict_array_equals_the_lazy_feed(
    per_window: bool, lags: tuple[int, ...], shifted: int | None
) -> None:
    values = np.random.default_rng(3).normal(size=(300, 5))
    starts = np.arange(100, 140)
    from_feed = [
        x.numpy() for x in window_batches(values, starts, None, 24, 16, per_window, lags=lags, shifted=shifted)
    ]
    array = window_array(values, starts, 24, per_window, lags, shifted)
    np.testing.assert_array_equal(array, np.concatenate(from_feed))  # the same float32 arithmetic, bit for bit


def test_short_split_error_names_the_split() -> None:
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024", periods=30, freq="D"),
            "split": ["train"] * 20 + ["val"] * 1 + ["test"] * 9,
            "value__z": 0.0,
        }
    )
    with pytest.raises(UnusableSeries, match="the val slice has 1 rows"):  # shorter than the MA: no target in it
        split_bounds(frame, WindowSpec(lookback=5, ma_window=2, horizon=3))
    with pytest.raises(UnusableSeries, match="the train slice has 20 rows"):  # the lookback alone needs 25
        split_bounds(frame, WindowSpec(lookback=25, ma_window=2, horizon=3))
