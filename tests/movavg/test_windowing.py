"""Windowing: equals the seed's loop, looks back only, never mixes splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from movavg.schema import WindowSpec
from movavg.windowing import make_windows, naive_baselines, split_windows, windows_table


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


@pytest.mark.parametrize(("args", "message"), [
    ((0, 1, 0), "lookback >= 1"), ((3, 0, 0), "ma_window >= 1"), ((3, 1, -1), "horizon >= 0"),
    ((3, 5, 1), "must not exceed lookback \\+ horizon"),
])
def test_invalid_arguments_are_rejected(args: tuple[int, int, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_windows(np.arange(20.0), *args)


def test_bad_shape_is_rejected() -> None:
    with pytest.raises(ValueError, match="shape"):
        make_windows(np.zeros((4, 2, 2)), 2, 1, 0)


def test_naive_baselines_match_loop() -> None:
    target = np.random.default_rng(3).normal(size=40)
    last, current = naive_baselines(target, 7, 3, 2)
    m = 40 - 7 - 2 + 1
    assert last.shape == current.shape == (m,)
    for i in range(m):
        t = i + 6
        assert last[i] == target[t]
        assert current[i] == pytest.approx(target[t - 2 : t + 1].mean())


def test_split_windows_never_mix_splits() -> None:
    """Encode the split in the value: every window's inputs and target come from one split only."""
    labels = np.array(["train"] * 60 + ["val"] * 20 + ["test"] * 20)
    code = {"train": 1.0, "val": 2.0, "test": 3.0}
    frame = pd.DataFrame({"timestamp": pd.date_range("2024", periods=100, freq="D"), "split": labels,
                          "value__z": [code[label] for label in labels]})
    windows = split_windows(frame, ["value"], WindowSpec(lookback=5, ma_window=2, horizon=3))
    for split, (x, y, times) in windows.items():
        assert np.all(x == code[split]) and np.all(y == code[split])
        assert len(y) == {"train": 60, "val": 20, "test": 20}[split] - 5 - 3 + 1
        assert times[0] == frame["timestamp"][frame["split"] == split].iloc[5 - 1 + 3]
    assert windows_table(windows).num_rows == sum(len(y) for _, y, _ in windows.values())


def test_short_split_error_names_the_split() -> None:
    frame = pd.DataFrame({"timestamp": pd.date_range("2024", periods=30, freq="D"),
                          "split": ["train"] * 20 + ["val"] * 5 + ["test"] * 5, "value__z": 0.0})
    with pytest.raises(ValueError, match="the val slice has 5 rows"):
        split_windows(frame, ["value"], WindowSpec(lookback=5, ma_window=2, horizon=3))
