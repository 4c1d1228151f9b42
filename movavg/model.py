"""The model: build a Keras LSTM from config, fit it on the train windows (early-stopping on
validation), and save it as a bundle.

TensorFlow is imported inside the functions, so a run that hits the cache never pays for it.
"""

from __future__ import annotations

import math
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from movavg.bundle import BundleSpec, save_bundle
from movavg.cache import stage_output
from movavg.config import TrainConfig
from movavg.schema import EpochHook, NormalizeResult, TrainResult, WindowResult
from movavg.session import keras_session
from movavg.storage import atomic_write_json
from movavg.windowing import PREDICT_BATCH, WindowArrays, split_arrays

if TYPE_CHECKING:
    import keras


MAX_AUTO_BATCH, MIN_AUTO_BATCH, MIN_STEPS_PER_EPOCH = 256, 32, 24
AUTO_JIT_WINDOWS = 10_000


def training_settings(config: TrainConfig, train_windows: int) -> tuple[int, bool]:
    """(batch size, XLA on?) for a train slice of `train_windows` windows: the config's, or chosen.

    Chosen by measurement on 2 CPU cores: batch 256 with XLA trains ~3.5x faster per window than batch 64
    without, but a short series then gets too few steps per epoch to converge, and XLA's compile (1-3 s per
    model) only pays back on thousands of windows.
    """
    batch = config.batch_size
    if batch is None:
        power = 2 ** int(math.log2(max(train_windows / MIN_STEPS_PER_EPOCH, 1)))
        batch = min(MAX_AUTO_BATCH, max(MIN_AUTO_BATCH, power))
    jit = config.jit_compile if config.jit_compile is not None else train_windows >= AUTO_JIT_WINDOWS
    return batch, jit


def build_model(config: TrainConfig, lookback: int, features: int, jit_compile: bool = False) -> keras.Model:
    """Sequential model: Input(lookback, features) -> config.layers -> Dense(1), compiled with Adam/MSE."""
    import keras

    layers: list[Any] = [keras.Input(shape=(lookback, features))]
    lstm_indices = [i for i, spec in enumerate(config.layers) if spec.kind == "lstm"]
    for index, spec in enumerate(config.layers):
        if spec.kind == "lstm":
            layers.append(keras.layers.LSTM(spec.units, activation=spec.activation,
                                            return_sequences=index != lstm_indices[-1]))
        else:
            layers.append(keras.layers.Dropout(spec.rate))
    layers.append(keras.layers.Dense(1))
    model = keras.Sequential(layers)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="mse", jit_compile=jit_compile)
    return model


def make_callbacks(config: TrainConfig, on_epoch: EpochHook | None) -> list[keras.callbacks.Callback]:
    """Early stopping on val_loss (best weights restored), stop on NaN, and a per-epoch hook."""
    import keras

    class EpochReporter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            if on_epoch is not None:
                on_epoch(epoch + 1, config.epochs, {key: float(value) for key, value in (logs or {}).items()})

    callbacks: list[keras.callbacks.Callback] = [keras.callbacks.TerminateOnNaN(), EpochReporter()]
    if config.early_stopping_patience:
        callbacks.insert(0, keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.early_stopping_patience, restore_best_weights=True))
    return callbacks


def fit_model(
    config: TrainConfig,
    train: WindowArrays,
    val: WindowArrays,
    lookback: int,
    per_window: bool,
    on_epoch: EpochHook | None = None,
    seed: int | None = None,
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Seed (`seed`, default `config.seed`), build and fit a model on windows in normalized units, fed batch by
    batch (`movavg.feed.window_batches`, train windows in a new order each epoch, drawn from the same seed).

    Returns the model (best validation weights when early stopping is on) and the loss history.
    """
    import keras

    from movavg.feed import steps_per_pass, window_batches

    seed = config.seed if seed is None else seed
    keras.utils.set_random_seed(seed)
    batch_size, jit_compile = training_settings(config, len(train.targets))
    train_feed = window_batches(*train, lookback, batch_size, per_window, shuffle_seed=seed, epochs=config.epochs)
    val_feed = window_batches(*val, lookback, PREDICT_BATCH, per_window)
    model = build_model(config, lookback, train.values.shape[1], jit_compile)
    history = model.fit(train_feed, validation_data=val_feed, epochs=config.epochs, verbose=0, shuffle=False,
                        steps_per_epoch=steps_per_pass(len(train.targets), batch_size),
                        callbacks=make_callbacks(config, on_epoch))
    return model, {key: [float(v) for v in values] for key, values in history.history.items()}


def series_seed(seed: int, series: list[str]) -> int:
    """The training seed for a model of these series: the config's seed for a global model, mixed with the
    series id for a per-series one, so a series' model never depends on which others ran, or where."""
    return seed if len(series) != 1 else (seed + zlib.crc32(series[0].encode())) % 2**31


def summarize_history(history: dict[str, list[float]], epochs: int, seconds: float, out_dir: Path,
                      series: list[str], train_windows: int) -> TrainResult:
    """Condense a Keras loss history into a `TrainResult`."""
    losses, val_losses = history.get("loss", [math.nan]), history.get("val_loss", [math.nan])
    finite = all(math.isfinite(v) for v in losses + val_losses)
    ran = len(losses)
    reason = "non-finite loss" if not finite else ("early stopping" if ran < epochs else "all epochs")
    best = min((v for v in val_losses if math.isfinite(v)), default=math.nan)
    return TrainResult(series=series, train_windows=train_windows, model_dir=str(out_dir), model_key=out_dir.name, epochs_run=ran, best_val_loss=best,
                       final_loss=losses[-1], train_seconds=round(seconds, 2), finite=finite, stop_reason=reason)


def train_and_save(
    windows: list[WindowResult], normalized: list[NormalizeResult], config: TrainConfig, out_dir: Path,
    on_epoch: EpochHook | None = None,
) -> TrainResult:
    """Fit one model on the cached windows of one series (per-series scope) or of several (global scope,
    each series scaled by its own train-slice statistics) and write its bundle to `out_dir` atomically."""
    series, paths = [n.series for n in normalized], [n.path for n in normalized]
    arrays = split_arrays(windows, paths, ["train", "val"])
    train, val = arrays["train"], arrays["val"]
    spec = BundleSpec(series=series, columns=normalized[0].columns, stats={n.series: n.stats for n in normalized},
                      window=windows[0].spec, train=config.model_dump(mode="json"))
    with keras_session():
        started = time.perf_counter()
        model, history = fit_model(config, train, val, windows[0].spec.lookback, normalized[0].stats.per_window,
                                   on_epoch, series_seed(config.seed, series))
        result = summarize_history(history, config.epochs, time.perf_counter() - started, out_dir, series,
                                   len(train.targets))
        result.batch_size, result.jit_compile = training_settings(config, len(train.targets))
        with stage_output(out_dir) as tmp:
            save_bundle(model, spec, tmp)
            atomic_write_json(tmp / "history.json", history)
            atomic_write_json(tmp / "train.json", result.model_dump())
    return result
