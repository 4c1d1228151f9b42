"""Scaling: train-slice statistics that never divide by zero, and the per-window shift."""

from __future__ import annotations

import numpy as np
import pytest

from movavg.scaling import fit_stats, to_model_space


def test_constant_column_does_not_divide_by_zero() -> None:
    stats = fit_stats(np.full((50, 1), 7.0), ["value"], per_window=False)
    assert stats.std == [1.0]
    assert np.all(stats.transform(np.full((3, 1), 7.0)) == 0)


def test_empty_train_slice_is_an_error() -> None:
    with pytest.raises(ValueError, match="train slice is empty"):
        fit_stats(np.empty((0, 1)), ["value"], per_window=True)


def test_per_window_shift_is_relative_to_last_target_value() -> None:
    x = np.arange(24, dtype="float32").reshape(2, 4, 3)
    y = np.array([100.0, 200.0], dtype="float32")
    shifted, shifted_y, offset = to_model_space(x, y, per_window=True)
    np.testing.assert_array_equal(offset, x[:, -1, 0])
    np.testing.assert_array_equal(shifted[:, -1, :], 0)
    np.testing.assert_array_equal(shifted_y + offset, y)
    same, same_y, zero = to_model_space(x, y, per_window=False)
    assert same is x and same_y is y and np.all(zero == 0)
