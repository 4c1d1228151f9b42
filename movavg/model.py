"""The model: build a Keras LSTM from config, fit it on the train windows (early-stopping on
validation), and save it as a bundle.

TensorFlow is imported inside the functions, so a run that hits the cache never pays for it.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from movavg.bundle import BundleSpec, bundle_intact, load_bundle, read_spec, save_bundle
from movavg.cache import stage_output
from movavg.config import TrainConfig
from movavg.schema import EpochHook, NormalizeResult, TrainResult, WindowResult, WindowSpec
from movavg.series import PreparedSeries
from movavg.session import keras_session
from movavg.storage import atomic_write_json
from movavg.windowing import (
    PREDICT_BATCH,
    WindowArrays,
    feed_options,
    input_features,
    load_prepared,
    located,
    split_arrays,
)

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


def build_model(
    config: TrainConfig, lookback: int, features: int, jit_compile: bool = False, seed: int = 0
) -> keras.Model:
    """Sequential model: Input(lookback, features) -> config.layers -> Dense(1), compiled with Adam/MSE.

    Every initializer and dropout layer gets its own seed drawn from `seed`: Keras' unseeded defaults draw
    from Python's process-wide `random`, which other threads of a process (Prefect's, Dask's) also draw
    from, so the same seed gave different weights in a Dask worker.
    """
    import keras

    seeds = iter(int(s) for s in np.random.SeedSequence(seed).generate_state(3 * len(config.layers) + 1))
    layers: list[Any] = [keras.Input(shape=(lookback, features))]
    lstm_indices = [i for i, spec in enumerate(config.layers) if spec.kind == "lstm"]
    for index, spec in enumerate(config.layers):
        if spec.kind == "lstm":
            layers.append(
                keras.layers.LSTM(
                    spec.units,
                    activation=spec.activation,
                    return_sequences=index != lstm_indices[-1],
                    kernel_initializer=keras.initializers.GlorotUniform(next(seeds)),
                    recurrent_initializer=keras.initializers.Orthogonal(seed=next(seeds)),
                    seed=next(seeds),
                )
            )
        else:
            layers.append(keras.layers.Dropout(spec.rate, seed=next(seeds)))
    layers.append(keras.layers.Dense(1, kernel_initializer=keras.initializers.GlorotUniform(next(seeds))))
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
        callbacks.insert(
            0,
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=config.early_stopping_patience, restore_best_weights=True
            ),
        )
    return callbacks


def fit_model(
    config: TrainConfig,
    train: WindowArrays,
    val: WindowArrays,
    spec: WindowSpec,
    per_window: bool,
    on_epoch: EpochHook | None = None,
    seed: int | None = None,
    initial: keras.Model | None = None,
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Seed (`seed`, default `config.seed`), build and fit a model on windows in normalized units, fed batch by
    batch (`movavg.feed.window_batches`, train windows in a new order each epoch, drawn from the same seed),
    starting from the weights of `initial` when given (a warm start).

    Returns the model (best validation weights when early stopping is on) and the loss history.
    """
    import keras

    from movavg.feed import steps_per_pass, window_batches

    seed = config.seed if seed is None else seed
    keras.utils.set_random_seed(seed)
    batch_size, jit_compile = training_settings(config, len(train.targets))
    options = feed_options(spec, train.values)
    train_feed = window_batches(
        *train, spec.lookback, batch_size, per_window, shuffle_seed=seed, epochs=config.epochs, **options
    )
    val_feed = window_batches(*val, spec.lookback, PREDICT_BATCH, per_window, **options)
    model = build_model(config, spec.lookback, input_features(spec, train.values), jit_compile, seed)
    if initial is not None:
        model.set_weights(initial.get_weights())
    history = model.fit(
        train_feed,
        validation_data=val_feed,
        epochs=config.epochs,
        verbose=0,
        shuffle=False,
        steps_per_epoch=steps_per_pass(len(train.targets), batch_size),
        callbacks=make_callbacks(config, on_epoch),
    )
    return model, {key: [float(v) for v in values] for key, values in history.history.items()}


def model_groups(series: Sequence[str], scope: str) -> dict[str, list[str]]:
    """{train task label: series it trains on}: one group per series, or one "global" group of all."""
    return {name: [name] for name in series} if scope == "per-series" else ({"global": list(series)} if series else {})


def series_seed(seed: int, series: list[str]) -> int:
    """The training seed for a model of these series: the config's seed for a global model, mixed with the
    series id for a per-series one, so a series' model never depends on which others ran, or where."""
    return seed if len(series) != 1 else (seed + zlib.crc32(series[0].encode())) % 2**31


def summarize_history(
    history: dict[str, list[float]], epochs: int, seconds: float, series: list[str], train_windows: int
) -> TrainResult:
    """Condense a Keras loss history into a `TrainResult`."""
    losses, val_losses = history.get("loss", [math.nan]), history.get("val_loss", [math.nan])
    finite = all(math.isfinite(v) for v in losses + val_losses)
    ran = len(losses)
    reason = "non-finite loss" if not finite else ("early stopping" if ran < epochs else "all epochs")
    best = min((v for v in val_losses if math.isfinite(v)), default=math.nan)
    return TrainResult(
        series=series,
        train_windows=train_windows,
        epochs_run=ran,
        best_val_loss=best,
        final_loss=losses[-1],
        train_seconds=round(seconds, 2),
        finite=finite,
        stop_reason=reason,
    )


def common_inputs(specs: list[WindowSpec]) -> WindowSpec:
    """The first series' window spec, after checking every series gives the model the same inputs (a global
    model has one input shape); raises ValueError naming the setting to fix otherwise."""
    first = specs[0]
    for other in specs[1:]:
        if not other.same_inputs(first):
            raise ValueError(
                "a global model needs the same seasons and calendar inputs for every series, but they "
                f"differ ({first.seasons} vs {other.seasons}): set window.seasons explicitly"
            )
    return first


def warm_start_model(config: TrainConfig, champion_dir: str | None, spec: BundleSpec) -> keras.Model | None:
    """The champion's model to start from, when `train.warm_start` allows and it has the candidate's
    architecture and inputs; None otherwise (a cold start)."""
    if config.warm_start is False or champion_dir is None or not bundle_intact(Path(champion_dir)):
        return None
    theirs = read_spec(Path(champion_dir))
    same = (
        theirs.kind == "model"
        and theirs.columns == spec.columns
        and theirs.train.get("layers") == spec.train["layers"]
        and theirs.window.same_inputs(spec.window)
    )
    if not same:
        if config.warm_start:
            raise ValueError(
                "train.warm_start is on but the champion's architecture or inputs differ: "
                "leave train.warm_start empty to start cold in that case"
            )
        return None
    return load_bundle(Path(champion_dir))[0]


@dataclass
class TrainedModel:
    """A model fitted in memory, the spec that feeds it, and how its training went (`result.model_dir` is
    empty until the bundle is saved)."""

    model: keras.Model
    spec: BundleSpec
    history: dict[str, list[float]]
    result: TrainResult


def train_model(
    prepared: list[PreparedSeries],
    config: TrainConfig,
    on_epoch: EpochHook | None = None,
    champion_dir: str | None = None,
) -> TrainedModel:
    """Fit one model on the windows of one located series (per-series scope) or of several (global scope, each
    series scaled by its own train-slice statistics), early-stopping on their validation windows.

    With a per-series `champion_dir`, training may start from the champion's weights (`warm_start_model`).
    """
    series, specs = [p.series for p in prepared], [located(p)[0] for p in prepared]
    arrays = split_arrays(prepared, ["train", "val"])
    window = common_inputs(specs)
    spec = BundleSpec(
        series=series,
        columns=prepared[0].columns,
        stats={p.series: p.stats for p in prepared},
        window=window,
        windows=dict(zip(series, specs, strict=True)),
        train=config.model_dump(mode="json"),
    )
    train, val = arrays["train"], arrays["val"]
    with keras_session():
        initial = warm_start_model(config, champion_dir, spec) if len(series) == 1 else None
        started = time.perf_counter()
        seed = series_seed(config.seed, series)
        per_window = prepared[0].stats.per_window
        model, history = fit_model(config, train, val, window, per_window, on_epoch, seed, initial)
    result = summarize_history(history, config.epochs, time.perf_counter() - started, series, len(train.targets))
    result.batch_size, result.jit_compile = training_settings(config, len(train.targets))
    result.warm_start = initial is not None
    return TrainedModel(model=model, spec=spec, history=history, result=result)


def train_and_save(
    windows: list[WindowResult],
    normalized: list[NormalizeResult],
    config: TrainConfig,
    out_dir: Path,
    on_epoch: EpochHook | None = None,
    champion_dir: str | None = None,
) -> TrainResult:
    """`train_model` on the cached windows of one or more series; its bundle written to `out_dir` atomically."""
    prepared = [load_prepared(n, w) for n, w in zip(normalized, windows, strict=True)]
    trained = train_model(prepared, config, on_epoch, champion_dir)
    result = trained.result.model_copy(update={"model_dir": str(out_dir), "model_key": out_dir.name})
    with keras_session(), stage_output(out_dir) as tmp:
        save_bundle(trained.model, trained.spec, tmp)
        atomic_write_json(tmp / "history.json", trained.history)
        atomic_write_json(tmp / "train.json", result.model_dump())
    return result


def best_epoch(model_dir: Path) -> int | None:
    """The epoch (from 1) with the lowest validation loss in a saved training's `history.json`, if recorded."""
    try:
        val_loss = json.loads((model_dir / "history.json").read_text()).get("val_loss", [])
    except (OSError, ValueError, AttributeError):
        return None
    finite = [
        (value, epoch) for epoch, value in enumerate(val_loss, 1) if isinstance(value, float) and math.isfinite(value)
    ]
    return min(finite)[1] if finite else None
