"""Windows fed to Keras batch by batch, gathered from the series itself: memory stays near the size of the
data instead of `lookback` times it.

Only this module and `movavg.model` import Keras at module level; import them lazily from code that must
stay light (a cached run never loads TensorFlow).
"""

from __future__ import annotations

import math

import keras
import numpy as np

from movavg.scaling import to_model_space


class WindowFeed(keras.utils.PyDataset):
    """Batches of windows built on demand.

    Args:
        values: (N, features) float32, the rows of one or more series segments back to back.
        starts: (m,) int64, the row in `values` of each window's first input step.
        targets: (m,) float32, each window's target (None for prediction).
        lookback: input steps per window.
        batch_size: windows per batch (the last batch may be shorter).
        per_window: apply the per-window shift of `movavg.scaling.to_model_space`.
        shuffle_seed: shuffle the window order with this seed, again after every epoch; None keeps the order.

    Batch i is X (b, lookback, features) float32 and y (b,) float32 in model space, or X alone without targets.
    """

    def __init__(self, values: np.ndarray, starts: np.ndarray, targets: np.ndarray | None, lookback: int,
                 batch_size: int, per_window: bool, shuffle_seed: int | None = None) -> None:
        super().__init__()
        self.values = np.ascontiguousarray(values, dtype="float32")
        self.starts, self.targets = np.asarray(starts, dtype="int64"), targets
        self.steps = np.arange(lookback, dtype="int64")
        self.batch_size, self.per_window = batch_size, per_window
        self.rng = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)
        self.order = np.arange(len(self.starts))
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(len(self.starts) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
        chosen = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        x = self.values[self.starts[chosen, None] + self.steps]
        y = None if self.targets is None else self.targets[chosen]
        x, y, _ = to_model_space(x, y, self.per_window)
        return x if y is None else (x, y)

    def on_epoch_end(self) -> None:
        if self.rng is not None:
            self.rng.shuffle(self.order)

    def offsets(self) -> np.ndarray:
        """The per-window shift added back to the model's output, (m,) in window order (zeros without it)."""
        if not self.per_window:
            return np.zeros(len(self.starts), dtype="float32")
        return self.values[self.starts + len(self.steps) - 1, 0]
