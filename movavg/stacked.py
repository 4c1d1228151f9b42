"""Many per-series LSTMs trained at once: a stack of K models with a leading model axis, one XLA-compiled
gradient step for all of them, compiled once per architecture and shape in a process.

Each model of a stack keeps what it would have alone: its own windows, batch size and epoch order (the
permutation `movavg.feed.window_batches` draws from its seed), its own initial weights (those `build_model`
gives its seed, or a warm start), its own Adam moments and step count, its own early stopping (a stopped model
keeps its best weights and stops changing). Per-model losses are summed, so the gradients never mix. Models
with fewer windows than the stack's largest simply sit out the steps they do not have (masked, unchanged).

Shapes: a stack step takes X (K, B, lookback, channels) float32, y (K, B) and a mask (K, B) (1 for a real
window, 0 for padding), B being the largest batch size in the stack; it predicts (K, B) in model space.

Import this module lazily: it loads TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import tensorflow as tf

from movavg.feed import window_array
from movavg.schema import EpochHook
from movavg.windowing import PREDICT_BATCH

ADAM = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}  # Keras' Adam defaults, as the one-model path uses
LONE_WINDOWS = 10_000  # a lone model this large trains in a stack of one (see `slots_for`)
Architecture = tuple[tuple[str, int, str, float], ...]  # per layer (kind, units, activation, dropout rate)


@dataclass
class StackMember:
    """One model of a stack and the windows it trains on (see `movavg.windowing.WindowArrays`).

    values: (n, channels) float32 normalized rows; train/val: (starts (m,), model-space targets (m,)).
    weights: its initial weights in Keras order (per LSTM: kernel, recurrent kernel, bias; then the Dense
    kernel and bias).
    """

    values: np.ndarray
    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    batch_size: int
    seed: int
    weights: list[np.ndarray]
    lags: Sequence[int] = ()
    shifted: int | None = None

    def windows(self, starts: np.ndarray, lookback: int, per_window: bool) -> np.ndarray:
        """(len(starts), lookback, channels) float32: the windows starting at `starts`."""
        return window_array(self.values, starts, lookback, per_window, self.lags, self.shifted)


@dataclass
class MemberFit:
    """A stack member after training: its final weights (the best validation epoch's under early stopping),
    in Keras order, and its loss history as Keras reports it."""

    weights: list[np.ndarray]
    history: dict[str, list[float]] = field(default_factory=dict)


def epoch_order(count: int, seed: int, epoch: int) -> np.ndarray:
    """The order of a model's `count` train windows in `epoch` (from 0): the permutation
    `movavg.feed.window_batches` draws for (seed, epoch)."""
    noise = tf.random.stateless_uniform([count], seed=tf.constant([seed, epoch], tf.int64))
    return tf.argsort(noise, stable=True).numpy()


def _lstm(kernel: tf.Tensor, recurrent: tf.Tensor, bias: tf.Tensor, inputs: tf.Tensor, activation, sequences: bool):
    """One stacked LSTM layer over time-major inputs (L, K, B, D) -> (L, K, B, U) or the last state (K, B, U).
    Keras' gate order (input, forget, cell, output), sigmoid recurrent activation, zero initial state."""
    steps, models, batch = inputs.shape[:3]
    read = tf.TensorArray(tf.float32, size=steps, element_shape=inputs.shape[1:]).unstack(inputs)

    def cell(t, h, c):
        z = tf.matmul(read.read(t), kernel) + tf.matmul(h, recurrent) + bias[:, None, :]
        i, f, g, o = tf.split(z, 4, axis=-1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * activation(g)
        return tf.sigmoid(o) * activation(c), c

    zeros = tf.zeros([models, batch, recurrent.shape[1]])
    if not sequences:
        _, h, _ = tf.while_loop(
            lambda t, *_: t < steps,
            lambda t, h, c: (t + 1, *cell(t, h, c)),
            (0, zeros, zeros),
            maximum_iterations=steps,
        )
        return h

    def body(t, h, c, out):
        h, c = cell(t, h, c)
        return t + 1, h, c, out.write(t, h)

    written = tf.TensorArray(tf.float32, size=steps, element_shape=zeros.shape)
    *_, out = tf.while_loop(lambda t, *_: t < steps, body, (0, zeros, zeros, written), maximum_iterations=steps)
    return out.stack()


def _dropout(x: tf.Tensor, rate: float, seeds: tf.Tensor, salt: int) -> tf.Tensor:
    """Keras-style dropout (kept units scaled by 1 / (1 - rate)), each model's mask drawn from its own seed
    row `seeds[k]` (K, 2) and `salt`; the model axis is axis 0 of x, or axis 1 for a sequence."""
    axis = 1 if len(x.shape) == 4 else 0
    per_model = tf.unstack(x, axis=axis)
    kept = [
        tf.where(tf.random.stateless_uniform(tf.shape(part), seed=seeds[k] + salt) >= rate, part / (1 - rate), 0.0)
        for k, part in enumerate(per_model)
    ]
    return tf.stack(kept, axis=axis)


def _forward(architecture: Architecture, params: list[tf.Tensor], x: tf.Tensor, seeds: tf.Tensor | None):
    """Model-space predictions (K, B) of inputs x (K, B, L, D); dropout only when `seeds` (training)."""
    from keras import activations

    state, index = tf.transpose(x, [2, 0, 1, 3]), 0
    last_lstm = max(i for i, layer in enumerate(architecture) if layer[0] == "lstm")
    for position, (kind, _units, activation, rate) in enumerate(architecture):
        if kind == "lstm":
            kernel, recurrent, bias = params[index : index + 3]
            state = _lstm(kernel, recurrent, bias, state, activations.get(activation), position != last_lstm)
            index += 3
        elif seeds is not None and rate > 0:
            state = _dropout(state, rate, seeds, 1000 * (position + 1))
    kernel, bias = params[index : index + 2]
    return tf.squeeze(tf.matmul(state, kernel), -1) + bias


@cache
def compiled(architecture: Architecture, jit: bool = True) -> tuple[tf.types.experimental.Function, ...]:
    """(train step, predict) for stacks of `architecture`: built once per process, and XLA-compiled once per
    input shape (K, B, L, D) by TensorFlow's own trace cache."""

    def train_step(params, m, v, steps, x, y, mask, active, seeds, learning_rate):
        with tf.GradientTape() as tape:
            tape.watch(params)
            errors = tf.square(_forward(architecture, params, x, seeds) - y) * mask
            losses = tf.reduce_sum(errors, 1) / tf.maximum(tf.reduce_sum(mask, 1), 1.0)
            total = tf.reduce_sum(losses)
        grads = tape.gradient(total, params)
        steps = steps + active
        beta_1, beta_2 = ADAM["beta_1"], ADAM["beta_2"]
        alpha = learning_rate * tf.sqrt(1 - beta_2**steps) / (1 - beta_1**steps)
        new_params, new_m, new_v = [], [], []
        for p, g, mp, vp in zip(params, grads, m, v, strict=True):
            on = tf.reshape(active, [-1] + [1] * (len(p.shape) - 1)) > 0
            mp_next = mp + (g - mp) * (1 - beta_1)
            vp_next = vp + (g * g - vp) * (1 - beta_2)
            step = tf.reshape(alpha, on.shape) * mp_next / (tf.sqrt(vp_next) + ADAM["epsilon"])
            new_params.append(tf.where(on, p - step, p))
            new_m.append(tf.where(on, mp_next, mp))
            new_v.append(tf.where(on, vp_next, vp))
        return new_params, new_m, new_v, steps, losses

    def predict(params, x):
        return _forward(architecture, params, x, None)

    return tf.function(train_step, jit_compile=jit), tf.function(predict, jit_compile=jit)


def stacked(per_member: list[list[np.ndarray]]) -> list[tf.Tensor]:
    """Keras-order weight lists of K models -> one tensor per weight with a leading model axis."""
    return [tf.constant(np.stack(parts).astype("float32")) for parts in zip(*per_member, strict=True)]


def unstacked(params: list[tf.Tensor], k: int) -> list[np.ndarray]:
    """Model k's weights, in Keras order, from stacked tensors."""
    return [p[k].numpy() for p in params]


def predict_stack(
    architecture: Architecture,
    params: list[tf.Tensor],
    members: Sequence[StackMember],
    starts: Sequence[np.ndarray],
    lookback: int,
    per_window: bool,
    jit: bool = True,
) -> list[np.ndarray]:
    """Model-space predictions of each member for the windows starting at its `starts` -> [(m_k,)], in chunks
    of at most PREDICT_BATCH windows per model (padded to a power of two, so few shapes compile)."""
    _, predict = compiled(architecture, jit)
    most = max((len(s) for s in starts), default=0)
    chunk = min(PREDICT_BATCH, 2 ** math.ceil(math.log2(max(most, 1))))
    out: list[list[np.ndarray]] = [[] for _ in members]
    for first in range(0, most, chunk):
        x = np.stack(
            [
                _padded(m.windows(s[first : first + chunk], lookback, per_window), chunk)
                for m, s in zip(members, starts, strict=True)
            ]
        )
        predicted = predict(params, tf.constant(x)).numpy()
        for k, s in enumerate(starts):
            out[k].append(predicted[k, : max(0, min(chunk, len(s) - first))])
    return [np.concatenate(parts) if parts else np.empty(0, "float32") for parts in out]


def _padded(windows: np.ndarray, rows: int) -> np.ndarray:
    """`windows` (m, L, D) with zero windows appended up to `rows`."""
    return np.concatenate([windows, np.zeros((rows - len(windows), *windows.shape[1:]), "float32")])


@dataclass
class EarlyStop:
    """Keras' EarlyStopping (monitor val_loss, restore best weights) for each model of a stack."""

    patience: int | None
    k: int
    best: np.ndarray = field(init=False)
    wait: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.best, self.wait = np.full(self.k, np.inf), np.zeros(self.k, dtype=int)

    def improved(self, val_loss: np.ndarray, running: np.ndarray) -> np.ndarray:
        """Which running models improved on their best val_loss (their weights become the best ones)."""
        better = running & (val_loss < self.best)
        self.best = np.where(better, val_loss, self.best)
        self.wait = np.where(better, 0, self.wait + running)
        return better

    def stopping(self, epoch: int, running: np.ndarray) -> np.ndarray:
        """Which running models stop after this epoch: `patience` epochs without improvement."""
        if self.patience is None or epoch == 0:
            return np.zeros(self.k, dtype=bool)
        return running & (self.wait >= self.patience)


@dataclass
class Slots:
    """The models in a stack's graph: slot i holds member `members[i]` (-1: a padding copy, never updated) and
    its weights, Adam moments and step count at index i of each tensor's leading axis."""

    members: np.ndarray
    params: list[tf.Tensor]
    best: list[tf.Tensor]
    m: list[tf.Tensor]
    v: list[tf.Tensor]
    steps: tf.Tensor

    @classmethod
    def start(cls, weights: list[list[np.ndarray]], least: int) -> Slots:
        """Slots for members with these initial weights, padded to `least` slots."""
        padded = [*weights, *[weights[0]] * (least - len(weights))]
        params = stacked(padded)
        zeros = [tf.zeros_like(p) for p in params]
        members = np.array([*range(len(weights)), *[-1] * (least - len(weights))])
        return cls(members, params, list(params), zeros, list(zeros), tf.zeros([len(padded)]))

    def packed(self, running: np.ndarray) -> Slots:
        """The slots of the running members only, padded to a power of two and to two slots at least (so few
        shapes compile, and the arithmetic stays that of a stack: XLA computes a product batch of one otherwise),
        once at most half the slots still run; else these slots."""
        keep = [i for i, member in enumerate(self.members) if member >= 0 and running[member]]
        size = max(2, 2 ** math.ceil(math.log2(max(len(keep), 1))))
        if size == len(self.members) or 2 * len(keep) > len(self.members):
            return self
        picked = keep + [keep[0]] * (size - len(keep))
        gather = lambda tensors: [tf.gather(t, picked) for t in tensors]  # noqa: E731
        members = np.array([self.members[i] for i in keep] + [-1] * (size - len(keep)))
        return Slots(
            members,
            gather(self.params),
            gather(self.best),
            gather(self.m),
            gather(self.v),
            tf.gather(self.steps, picked),
        )

    def weights(self, member: int, best: bool) -> list[np.ndarray]:
        """A member's weights: its best epoch's (under early stopping) or its latest."""
        return unstacked(self.best if best else self.params, int(np.flatnonzero(self.members == member)[0]))


def slots_for(members: Sequence[StackMember]) -> int:
    """The graph's model slots for a stack: its members, and two at least, so every model gets a stack's
    arithmetic whatever it is stacked with (bit-identical results, measured), except a lone model of
    LONE_WINDOWS train windows or more, which trains alone (a padding copy would double its cost)."""
    alone = len(members) == 1 and len(members[0].train[0]) >= LONE_WINDOWS
    return 1 if alone else max(2, len(members))


def fit_stack(
    architecture: Architecture,
    members: Sequence[StackMember],
    lookback: int,
    per_window: bool,
    epochs: int,
    learning_rate: float,
    patience: int | None,
    on_epoch: EpochHook | None = None,
    jit: bool = True,
) -> list[MemberFit]:
    """Train the members together for up to `epochs` epochs; each stops on its own (early stopping on its
    val_loss, or a non-finite loss) and keeps its best weights when `patience` is set. Stopped members leave
    the graph once half of it has stopped (`Slots.packed`)."""
    k = len(members)
    slots, stop = Slots.start([m.weights for m in members], slots_for(members)), EarlyStop(patience, k)
    counts = np.array([len(m.train[0]) for m in members])
    running = counts > 0
    fits = [MemberFit([], {"loss": [], "val_loss": []}) for _ in members]
    for epoch in range(epochs):
        if not running.any():
            break
        slots = slots.packed(running)
        train_loss, finite = _train_epoch(
            architecture, slots, members, running, epoch, lookback, per_window, learning_rate, jit
        )
        val = _val_losses(architecture, slots, members, running, lookback, per_window, jit)
        for index in np.flatnonzero(running):
            fits[index].history["loss"].append(float(train_loss[index]))
            fits[index].history["val_loss"].append(float(val[index]))
        if epoch == 0:
            slots.best = list(slots.params)
        better = stop.improved(np.where(np.isfinite(val), val, np.inf), running)[np.maximum(slots.members, 0)]
        better &= slots.members >= 0
        slots.best = [tf.where(_per_model(better, p), p, b) for p, b in zip(slots.params, slots.best, strict=True)]
        if on_epoch is not None:
            on_epoch(epoch + 1, epochs, _epoch_logs(train_loss, val, running))
        stopping = running & ~(finite & ~stop.stopping(epoch, running))
        for index in np.flatnonzero(stopping):
            fits[index].weights = slots.weights(index, patience is not None)
        running &= ~stopping
    for index in np.flatnonzero(running | (counts == 0)):
        fits[index].weights = (
            slots.weights(index, patience is not None) if counts[index] else list(members[index].weights)
        )
    return fits


def _per_model(flags: np.ndarray, like: tf.Tensor) -> tf.Tensor:
    """(K,) booleans shaped to broadcast over a stacked tensor like `like` (K, ...)."""
    return tf.reshape(tf.constant(flags), [-1] + [1] * (len(like.shape) - 1))


def _train_epoch(
    architecture: Architecture,
    slots: Slots,
    members: Sequence[StackMember],
    running: np.ndarray,
    epoch: int,
    lookback: int,
    per_window: bool,
    learning_rate: float,
    jit: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """One epoch of every running member, in place on `slots`; returns each member's epoch loss (the mean of
    its batch losses weighted by batch size, as Keras reports it) and whether all of them were finite."""
    train_step, _ = compiled(architecture, jit)
    on = np.array([member >= 0 and running[member] for member in slots.members])
    chosen = [members[i] if i >= 0 else members[slots.members[0]] for i in slots.members]
    orders = [epoch_order(len(m.train[0]), m.seed, epoch) if o else None for m, o in zip(chosen, on, strict=True)]
    passes = np.array([-(-len(m.train[0]) // m.batch_size) for m in chosen])
    width = max(m.batch_size for m in chosen)
    seeds = np.array([[m.seed, 0] for m in chosen], dtype="int64")
    sums, seen, finite = np.zeros(len(chosen)), np.zeros(len(chosen)), np.ones(len(chosen), dtype=bool)
    for step in range(int(passes[on].max())):
        active = on & finite & (step < passes)
        x, y, mask = _batch(chosen, orders, active, step, width, lookback, per_window)
        seeds[:, 1] = epoch * 100_003 + step
        slots.params, slots.m, slots.v, slots.steps, losses = train_step(
            slots.params,
            slots.m,
            slots.v,
            slots.steps,
            tf.constant(x),
            tf.constant(y),
            tf.constant(mask),
            tf.constant(active.astype("float32")),
            tf.constant(seeds),
            tf.constant(learning_rate, tf.float32),
        )
        losses, sizes = losses.numpy(), mask.sum(axis=1)
        sums, seen = sums + np.where(active, losses * sizes, 0), seen + np.where(active, sizes, 0)
        finite &= ~(active & ~np.isfinite(losses))
    per_member_loss, per_member_finite = np.full(len(members), np.nan), np.ones(len(members), dtype=bool)
    for slot, member in enumerate(slots.members):
        if member >= 0 and on[slot]:
            per_member_loss[member] = sums[slot] / seen[slot] if seen[slot] else np.nan
            per_member_finite[member] = finite[slot]
    return per_member_loss, per_member_finite


def _batch(
    members: Sequence[StackMember],
    orders: list[np.ndarray | None],
    active: np.ndarray,
    step: int,
    width: int,
    lookback: int,
    per_window: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step `step`'s windows of every member: X (K, width, L, D), y (K, width), mask (K, width)."""
    x, y, mask = [], [], []
    for member, order, on in zip(members, orders, active, strict=True):
        picked = order[step * member.batch_size : (step + 1) * member.batch_size] if on and order is not None else []
        starts, targets = member.train[0][picked], member.train[1][picked]
        x.append(_padded(member.windows(starts, lookback, per_window), width))
        y.append(np.concatenate([targets, np.zeros(width - len(targets), "float32")]))
        mask.append(np.arange(width) < len(targets))
    return np.stack(x), np.stack(y).astype("float32"), np.stack(mask).astype("float32")


def _val_losses(
    architecture: Architecture,
    slots: Slots,
    members: Sequence[StackMember],
    running: np.ndarray,
    lookback: int,
    per_window: bool,
    jit: bool,
) -> np.ndarray:
    """Each running member's mean squared error on its validation windows (nan for the others)."""
    chosen = [members[i] if i >= 0 else members[slots.members[0]] for i in slots.members]
    on = [member >= 0 and running[member] for member in slots.members]
    starts = [m.val[0] if o else m.val[0][:0] for m, o in zip(chosen, on, strict=True)]
    predicted = predict_stack(architecture, slots.params, chosen, starts, lookback, per_window, jit)
    out = np.full(len(members), np.nan)
    for slot, member in enumerate(slots.members):
        if on[slot] and len(predicted[slot]):
            out[member] = float(np.mean((predicted[slot] - members[member].val[1]) ** 2))
    return out


def _epoch_logs(train_loss: np.ndarray, val: np.ndarray, running: np.ndarray) -> dict[str, float]:
    """What an epoch of a stack reports: the mean finite losses of the models that trained in it (NaN when none
    has one), and how many trained (for a stack of more than one)."""
    return {
        **({"models": float(running.sum())} if len(running) > 1 else {}),
        "loss": _finite_mean(train_loss[running]),
        "val_loss": _finite_mean(val[running]),
    }


def _finite_mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else math.nan
