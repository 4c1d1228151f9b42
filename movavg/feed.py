"""Windows fed to Keras batch by batch, gathered from the series itself inside a `tf.data` pipeline: memory
stays near the size of the data instead of `lookback` times it.

The pipeline has no Python step (an earlier `keras.utils.PyDataset` feed ran a Python generator under
`tf.data.from_generator`), so it runs entirely in TensorFlow's threads. Shuffling draws one stateless
permutation per epoch from (seed, epoch), so it never depends on process state.

Import this module lazily: it loads TensorFlow, which a cached run never needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import tensorflow as tf


def window_batches(
    values: np.ndarray,
    starts: np.ndarray,
    targets: np.ndarray | None,
    lookback: int,
    batch_size: int,
    per_window: bool,
    shuffle_seed: int | None = None,
    epochs: int = 1,
    lags: Sequence[int] = (),
    shifted: int | None = None,
) -> tf.data.Dataset:
    """Batches of windows built on demand.

    Args:
        values: (N, features) rows of one or more series back to back (cast to float32): the normalized
            columns (the target first), then unshifted ones (calendar features).
        starts: (m,) the row in `values` of each window's first input step.
        targets: (m,) each window's target in model space, or None for prediction.
        lookback: input steps per window.
        batch_size: windows per batch (each pass's last batch may be shorter).
        per_window: subtract each window's last row from its first `shifted` columns (and the target's last
            value from the lag channels), see `movavg.scaling.to_model_space`.
        shuffle_seed: with a seed, `epochs` passes, each in its own order; without, one pass in window order.
        lags: one extra channel per lag L: the target column L rows before each input row.
        shifted: how many leading columns the per-window shift applies to (default: all).

    Yields X (b, lookback, shifted + len(lags) + rest) float32 (and y (b,) float32), in model space.
    """
    data = tf.constant(np.ascontiguousarray(values, dtype="float32"))
    shifted = data.shape[1] if shifted is None else shifted
    first_rows = tf.constant(np.asarray(starts, dtype="int64"))
    goals = None if targets is None else tf.constant(np.asarray(targets, dtype="float32"))
    steps = tf.range(lookback, dtype=tf.int64)

    def gather(positions: tf.Tensor) -> tf.Tensor | tuple[tf.Tensor, tf.Tensor]:
        rows = tf.gather(first_rows, positions)[:, None] + steps
        x = tf.gather(data, rows)
        main, rest = x[:, :, :shifted], x[:, :, shifted:]
        last = main[:, -1:, :] if per_window else tf.zeros_like(main[:, -1:, :])
        seasonal = [tf.gather(data[:, 0], rows - lag)[:, :, None] - last[:, :, :1] for lag in lags]
        x = tf.concat([main - last, *seasonal, rest], axis=2)
        return x if goals is None else (x, tf.gather(goals, positions))

    count = len(starts)
    if shuffle_seed is None:
        positions = tf.data.Dataset.range(count).batch(batch_size)
    else:

        def one_epoch(epoch: tf.Tensor) -> tf.data.Dataset:
            noise = tf.random.stateless_uniform([count], seed=tf.stack([tf.constant(shuffle_seed, tf.int64), epoch]))
            return tf.data.Dataset.from_tensor_slices(tf.argsort(noise, stable=True)).batch(batch_size)

        positions = tf.data.Dataset.range(epochs).flat_map(one_epoch)
    return positions.map(gather).prefetch(2)


def window_array(
    values: np.ndarray,
    starts: np.ndarray,
    lookback: int,
    per_window: bool,
    lags: Sequence[int] = (),
    shifted: int | None = None,
) -> np.ndarray:
    """The windows `window_batches` yields, as one array (m, lookback, channels) float32 built in numpy with the
    same float32 arithmetic: for a few windows (a forecast, a live score), where building a `tf.data` pipeline
    (its map function traced on every call) costs far more than the windows."""
    data = np.ascontiguousarray(values, dtype="float32")
    shifted = data.shape[1] if shifted is None else shifted
    rows = np.asarray(starts, dtype="int64")[:, None] + np.arange(lookback)
    x = data[rows]
    main, rest = x[:, :, :shifted], x[:, :, shifted:]
    last = main[:, -1:, :] if per_window else np.zeros_like(main[:, -1:, :])
    seasonal = [data[:, 0][rows - lag][:, :, None] - last[:, :, :1] for lag in lags]
    return np.concatenate([main - last, *seasonal, rest], axis=2)


def steps_per_pass(count: int, batch_size: int) -> int:
    """Batches in one pass over `count` windows."""
    return math.ceil(count / batch_size)
