"""The model: build a Keras LSTM from config, fit it on the train windows (early-stopping on
validation), and save it as a bundle.

TensorFlow is imported inside the functions, so a run that hits the cache never pays for it.
"""

from __future__ import annotations

import json
import math
import time
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from movavg.bundle import MODEL_FILE, BundleSpec, bundle_intact, load_bundle, read_spec, save_bundle
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

    from movavg.stacked import StackMember


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


def layer_seeds(config: TrainConfig, seed: int) -> Iterator[int]:
    """The seeds of a model's initializers and dropout layers, in the order `build_model` draws them."""
    return iter(int(s) for s in np.random.SeedSequence(seed).generate_state(3 * len(config.layers) + 1))


def build_model(
    config: TrainConfig, lookback: int, features: int, jit_compile: bool = False, seed: int = 0
) -> keras.Model:
    """Input(lookback, features) -> config.layers -> Dense(1), compiled with Adam/MSE; with `train.ensemble` k
    above 1, k such networks (seeds `member_seed(seed, i)`) on one input and the mean of their outputs, weights
    in member order.

    Every initializer and dropout layer gets its own seed drawn from `seed`: Keras' unseeded defaults draw
    from Python's process-wide `random`, which other threads of a process (Prefect's, Dask's) also draw
    from, so the same seed gave different weights in a Dask worker.
    """
    import keras

    if config.ensemble == 1:
        model = member_network(config, lookback, features, seed)
    else:
        inputs = keras.Input(shape=(lookback, features))
        members = [
            member_network(config, lookback, features, member_seed(seed, i), f"member_{i}")
            for i in range(config.ensemble)
        ]
        model = keras.Model(inputs, keras.layers.Average()([member(inputs) for member in members]))
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="mse", jit_compile=jit_compile)
    return model


def member_network(config: TrainConfig, lookback: int, features: int, seed: int, name: str | None = None) -> Any:
    """One network of `config.layers` and Dense(1), uncompiled, its initializers seeded from `seed`."""
    import keras

    seeds = layer_seeds(config, seed)
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
    return keras.Sequential(layers, name=name)


def member_seed(seed: int, member: int) -> int:
    """The seed of ensemble member `member` of a model seeded `seed`: member 0 is the model a single one would be."""
    return seed if member == 0 else int(np.random.SeedSequence([seed, member]).generate_state(1)[0] % 2**31)


def initial_weights(config: TrainConfig, features: int, seed: int) -> list[np.ndarray]:
    """The weights `build_model(config, ..., features, seed=seed)` starts from, in Keras order (per LSTM:
    kernel (inputs, 4 units), recurrent kernel (units, 4 units), bias (4 units, the forget gate's at 1); then
    the Dense kernel (units, 1) and bias (1,)), drawn without building a model."""
    import keras

    seeds, weights, inputs = layer_seeds(config, seed), [], features
    for spec in config.layers:
        if spec.kind == "lstm":
            kernel = keras.initializers.GlorotUniform(next(seeds))((inputs, 4 * spec.units))
            recurrent = keras.initializers.Orthogonal(seed=next(seeds))((spec.units, 4 * spec.units))
            next(seeds)
            bias = np.concatenate([np.zeros(spec.units), np.ones(spec.units), np.zeros(2 * spec.units)])
            weights += [np.asarray(kernel), np.asarray(recurrent), bias.astype("float32")]
            inputs = spec.units
        else:
            next(seeds)
    dense = keras.initializers.GlorotUniform(next(seeds))((inputs, 1))
    return [*weights, np.asarray(dense), np.zeros(1, "float32")]


def architecture(config: TrainConfig) -> tuple[tuple[str, int, str, float], ...]:
    """The layers as a hashable key: (kind, units, activation, dropout rate) each."""
    return tuple((layer.kind, layer.units, layer.activation, layer.rate) for layer in config.layers)


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
    initial: list[np.ndarray] | None = None,
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Seed (`seed`, default `config.seed`), build and fit a model on windows in normalized units, fed batch by
    batch (`movavg.feed.window_batches`, train windows in a new order each epoch, drawn from the same seed),
    starting from the weights `initial` when given (a warm start).

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
        model.set_weights(initial)
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


def warm_start_weights(config: TrainConfig, champion_dir: str | None, spec: BundleSpec) -> list[np.ndarray] | None:
    """The champion's weights to start from, when `train.warm_start` allows and it has the candidate's
    architecture and inputs; None otherwise (a cold start), also for a champion whose spec cannot be read (the
    evaluation reports it and the candidate replaces it)."""
    if config.warm_start is False or champion_dir is None or not bundle_intact(Path(champion_dir)):
        return None
    try:
        theirs = read_spec(Path(champion_dir))
    except (OSError, ValueError):  # a torn or damaged bundle.json: derived state, never a reason to fail training
        return None
    same = (
        theirs.kind == "model"
        and theirs.columns == spec.columns
        and theirs.train.get("layers") == spec.train["layers"]
        and theirs.train.get("ensemble", 1) == spec.train.get("ensemble", 1)
        and theirs.window.same_inputs(spec.window)
    )
    if not same:
        if config.warm_start:
            raise ValueError(
                "train.warm_start is on but the champion's architecture or inputs differ: "
                "leave train.warm_start empty to start cold in that case"
            )
        return None
    try:
        return load_reused(Path(champion_dir))[0].get_weights()
    except Exception:  # a champion Keras cannot load: the evaluation reports it and the candidate replaces it
        return None


@dataclass
class TrainedModel:
    """A model fitted in memory, the spec that feeds it, and how its training went (`result.model_dir` is
    empty until the bundle is saved). A stacked model holds its weights (Keras order) and builds its own Keras
    model only when asked for one (`model`)."""

    built: keras.Model | None
    spec: BundleSpec
    history: dict[str, list[float]]
    result: TrainResult
    config: TrainConfig
    weights: list[np.ndarray] | None = None

    @property
    def model(self) -> keras.Model:
        """Its own Keras model."""
        if self.built is None:
            self.built = build_model(self.config, self.spec.window.lookback, len(self.weights[0]))
            self.built.set_weights(self.weights)
        return self.built

    def in_shared_model(self) -> keras.Model:
        """Its weights in the one Keras model per architecture and input shape that this process reuses (valid
        until the next call): to save or score it without building a model per series and fold, each of which
        leaves TensorFlow state behind."""
        if self.built is not None:
            return self.built
        model = shared_model(architecture_json(self.config), self.spec.window.lookback, len(self.weights[0]))
        model.set_weights(self.weights)
        return model

    def final_weights(self) -> list[np.ndarray]:
        """Its weights, Keras order."""
        return self.weights if self.weights is not None else self.built.get_weights()


def architecture_json(config: TrainConfig) -> str:
    """What `build_model` builds from, of a training config: its layers, ensemble size and learning rate, as JSON."""
    return config.model_dump_json(include={"layers", "ensemble", "learning_rate"})


@cache
def shared_model(layers_json: str, lookback: int, features: int, slot: str = "") -> keras.Model:
    """One built model per architecture (`architecture_json`), input shape and `slot` (a use that needs two
    at once, e.g. a candidate and its champion, takes two slots)."""
    return build_model(TrainConfig.model_validate_json(layers_json), lookback, features)


def load_reused(folder: Path, slot: str = "") -> tuple[keras.Model | None, BundleSpec]:
    """`load_bundle` without building a model: the bundle's weights read into the model this process reuses
    for its architecture, input shape and `slot` (`shared_model`; valid until that slot's next use). A bundle
    whose model is not one `build_model` makes from its recorded training settings is loaded whole. Building
    a model per bundle costs ~5x the time and leaves TensorFlow state behind. Call inside `keras_session()`."""
    spec = read_spec(folder)
    if spec.kind == "baseline":
        return None, spec
    try:
        with zipfile.ZipFile(folder / MODEL_FILE) as archive:
            _, lookback, features = saved_input_shape(json.loads(archive.read("config.json")))
        model = shared_model(architecture_json(TrainConfig.model_validate(spec.train)), lookback, features, slot)
        with warnings.catch_warnings():  # a bundle saved after `fit` also holds Adam's state, not needed here
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model.load_weights(folder / MODEL_FILE)
    except Exception:  # another architecture or layout than `build_model` makes today
        return load_bundle(folder)
    return model, spec


def saved_input_shape(config: dict[str, Any]) -> list[Any]:
    """The input shape (None, lookback, features) recorded in a `.keras` file's `config.json`: a Sequential
    model's build config, or a functional one's (an ensemble's) input layer."""
    shape = (config.get("build_config") or {}).get("input_shape")
    return shape if shape is not None else config["config"]["layers"][0]["config"]["batch_shape"]


@dataclass
class ModelPlan:
    """What one model trains on: the spec that will feed it, its train and val windows (see
    `WindowArrays`), its seed, and the weights it warm-starts from (None: its seeded initial weights)."""

    spec: BundleSpec
    train: WindowArrays
    val: WindowArrays
    per_window: bool
    seed: int
    initial: list[np.ndarray] | None

    @property
    def features(self) -> int:
        return input_features(self.spec.window, self.train.values)


def plan_model(
    prepared: list[PreparedSeries],
    config: TrainConfig,
    champion_dir: str | None = None,
    start: list[np.ndarray] | None = None,
) -> ModelPlan:
    """The windows, spec and seed of one model of one located series (per-series scope) or of several
    (global scope, each series scaled by its own train-slice statistics); a per-series model starts from the
    weights `start` when given, else may start from those of its champion in `champion_dir`
    (`warm_start_weights`). Call inside `keras_session()`."""
    series, specs = [p.series for p in prepared], [located(p)[0] for p in prepared]
    arrays = split_arrays(prepared, ["train", "val"])
    spec = BundleSpec(
        series=series,
        columns=prepared[0].columns,
        stats={p.series: p.stats for p in prepared},
        window=common_inputs(specs),
        windows=dict(zip(series, specs, strict=True)),
        train=config.model_dump(mode="json"),
    )
    initial = (
        start if start is not None else warm_start_weights(config, champion_dir, spec) if len(series) == 1 else None
    )
    seed = series_seed(config.seed, series)
    return ModelPlan(spec, arrays["train"], arrays["val"], prepared[0].stats.per_window, seed, initial)


def train_model(
    prepared: list[PreparedSeries],
    config: TrainConfig,
    on_epoch: EpochHook | None = None,
    champion_dir: str | None = None,
) -> TrainedModel:
    """`train_models` for one model."""
    return train_models([prepared], config, on_epoch, [champion_dir])[0]


def train_models(
    groups: Sequence[list[PreparedSeries]],
    config: TrainConfig,
    on_epoch: EpochHook | None = None,
    champion_dirs: Sequence[str | None] | None = None,
    starts: Sequence[list[np.ndarray] | None] | None = None,
) -> list[TrainedModel]:
    """Fit one model per group of located series (`plan_model`: from its seeded initial weights, its start
    in `starts`, or its champion in `champion_dirs`), early-stopping on their validation windows.

    With `train.stack` above 1, per-series models train `stack` at a time in one compiled graph
    (`movavg.stacked`), each exactly as it would alone but for float rounding and dropout masks; otherwise
    (or for a global model) one at a time through Keras' `fit`.
    """
    dirs, firsts = list(champion_dirs or [None] * len(groups)), list(starts or [None] * len(groups))
    with keras_session():
        plans = [plan_model(group, config, *start) for group, *start in zip(groups, dirs, firsts, strict=True)]
        trained = (
            train_ensembles(plans, config, on_epoch) if config.ensemble > 1 else fit_plans(plans, config, on_epoch)
        )
        if config.combine_naive:
            for group, model in zip(groups, trained, strict=True):
                add_blend(model, group)
    return trained


def fit_plans(plans: Sequence[ModelPlan], config: TrainConfig, on_epoch: EpochHook | None) -> list[TrainedModel]:
    """One model per plan: per-series models `train.stack` at a time (`train_stacked`) when the stack is above 1,
    otherwise (or with a global model) one at a time through Keras' `fit` (`train_alone`)."""
    if config.stack > 1 and all(len(plan.spec.series) == 1 for plan in plans):
        return train_stacked(plans, config, on_epoch)
    return [train_alone(plan, config, on_epoch) for plan in plans]


def add_blend(trained: TrainedModel, group: list[PreparedSeries]) -> None:
    """With `train.combine_naive`: a model's forecast of each of its series combined with the naive forecast best
    on that series' validation windows (`movavg.blend.fit_blend`), recorded in its bundle spec and training
    result; none for a model whose training was not finite."""
    from movavg.blend import fit_blend

    if not trained.result.finite:
        return
    model = trained.in_shared_model()
    for prepared in group:
        if (blend := fit_blend(model, trained.spec, prepared)) is not None:
            trained.spec.blends[prepared.series] = blend
            trained.result.blends[prepared.series] = blend


def train_ensembles(plans: Sequence[ModelPlan], config: TrainConfig, on_epoch: EpochHook | None) -> list[TrainedModel]:
    """Each plan as `train.ensemble` members (`member_plans`), all trained as single models (stacked when
    `train.stack` allows), then joined into one model per plan (`join_members`)."""
    k, single = config.ensemble, config.model_copy(update={"ensemble": 1})
    fitted = fit_plans([member for plan in plans for member in member_plans(plan, k)], single, on_epoch)
    return [join_members(plan, fitted[i * k : (i + 1) * k], config) for i, plan in enumerate(plans)]


def member_plans(plan: ModelPlan, k: int) -> list[ModelPlan]:
    """The `k` members of an ensemble plan: its windows, seeds `member_seed(plan.seed, i)`, and, when it starts
    from weights (an ensemble's, member after member), member i's share of them."""
    share = None if plan.initial is None else len(plan.initial) // k
    return [
        replace(
            plan,
            seed=member_seed(plan.seed, i),
            initial=None if share is None else plan.initial[i * share : (i + 1) * share],
        )
        for i in range(k)
    ]


def join_members(plan: ModelPlan, members: Sequence[TrainedModel], config: TrainConfig) -> TrainedModel:
    """One ensemble model of trained `members`: their weights in member order (what `build_model` with
    `train.ensemble` takes), their loss histories averaged epoch by epoch over the members still training, the
    longest member's epochs, and their training time summed."""
    weights = [w for member in members for w in member.final_weights()]
    history = {
        key: [float(np.mean(values)) for values in _by_epoch([member.history.get(key, []) for member in members])]
        for key in ("loss", "val_loss")
    }
    result = summarize_history(
        history, config.epochs, sum(m.result.train_seconds for m in members), plan.spec.series, len(plan.train.targets)
    )
    result.finite = result.finite and all(member.result.finite for member in members)
    first = members[0].result
    result.batch_size, result.jit_compile, result.stack = first.batch_size, first.jit_compile, first.stack
    result.warm_start, result.ensemble = plan.initial is not None, len(members)
    return TrainedModel(built=None, spec=plan.spec, history=history, result=result, config=config, weights=weights)


def _by_epoch(histories: list[list[float]]) -> list[list[float]]:
    """Per epoch, the values of the histories that reached it."""
    return [[h[epoch] for h in histories if len(h) > epoch] for epoch in range(max(map(len, histories), default=0))]


def train_alone(plan: ModelPlan, config: TrainConfig, on_epoch: EpochHook | None) -> TrainedModel:
    """One model through Keras' `fit` (`fit_model`)."""
    started = time.perf_counter()
    window = plan.spec.window
    model, history = fit_model(config, plan.train, plan.val, window, plan.per_window, on_epoch, plan.seed, plan.initial)
    return trained_model(plan, model, history, config, time.perf_counter() - started)


def trained_model(
    plan: ModelPlan,
    model: keras.Model | None,
    history: dict[str, list[float]],
    config: TrainConfig,
    seconds: float,
    stack: int = 1,
    jit: bool | None = None,
    weights: list[np.ndarray] | None = None,
) -> TrainedModel:
    """A fitted model (or the `weights` of a stacked one) with the `TrainResult` of its history (`jit`: whether
    XLA compiled it, when not by `training_settings`' rule)."""
    count = len(plan.train.targets)
    result = summarize_history(history, config.epochs, seconds, plan.spec.series, count)
    result.batch_size, result.jit_compile = training_settings(config, count)
    result.jit_compile = result.jit_compile if jit is None else jit
    result.warm_start, result.stack = plan.initial is not None, stack
    return TrainedModel(built=model, spec=plan.spec, history=history, result=result, config=config, weights=weights)


def stacks(plans: Sequence[ModelPlan], size: int) -> list[list[int]]:
    """Indices of `plans` in stacks of at most `size` models of one input shape (lookback, channels, per-window
    shift), models of similar window counts together (less padding), stacks of near-equal size (fewer shapes
    to compile)."""
    shapes: dict[tuple[int, int, bool], list[int]] = {}
    for index, plan in enumerate(plans):
        shapes.setdefault((plan.spec.window.lookback, plan.features, plan.per_window), []).append(index)
    out = []
    for members in shapes.values():
        members.sort(key=lambda i: len(plans[i].train.targets))
        count = math.ceil(len(members) / size)
        out += [list(chunk) for chunk in np.array_split(np.array(members), count)]
    return out


def train_stacked(plans: Sequence[ModelPlan], config: TrainConfig, on_epoch: EpochHook | None) -> list[TrainedModel]:
    """Per-series models trained `train.stack` at a time (`movavg.stacked.fit_stack`), XLA-compiled unless
    `train.jit_compile` is off; each then becomes a standard Keras model."""
    from movavg.stacked import fit_stack

    jit = config.jit_compile is not False
    trained: dict[int, TrainedModel] = {}
    for indices in stacks(plans, config.stack):
        members = [stack_member(plans[i], config) for i in indices]
        window = plans[indices[0]].spec.window
        started = time.perf_counter()
        fits = fit_stack(
            architecture(config),
            members,
            window.lookback,
            plans[indices[0]].per_window,
            config.epochs,
            config.learning_rate,
            config.early_stopping_patience,
            on_epoch,
            jit,
        )
        share = (time.perf_counter() - started) / len(indices)
        for i, fit in zip(indices, fits, strict=True):
            trained[i] = trained_model(plans[i], None, fit.history, config, share, len(indices), jit, fit.weights)
    return [trained[i] for i in range(len(plans))]


def stack_member(plan: ModelPlan, config: TrainConfig) -> StackMember:
    """A plan as one member of a stack: its windows, batch size, seed and initial weights."""
    from movavg.stacked import StackMember

    batch_size, _ = training_settings(config, len(plan.train.targets))
    start = plan.initial if plan.initial is not None else initial_weights(config, plan.features, plan.seed)
    return StackMember(
        values=plan.train.values,
        train=(plan.train.starts, plan.train.targets),
        val=(plan.val.starts, plan.val.targets),
        batch_size=batch_size,
        seed=plan.seed,
        weights=start,
        **feed_options(plan.spec.window, plan.train.values),
    )


def train_and_save(
    windows: list[WindowResult],
    normalized: list[NormalizeResult],
    config: TrainConfig,
    out_dir: Path,
    on_epoch: EpochHook | None = None,
    champion_dir: str | None = None,
) -> TrainResult:
    """`train_model` on the cached windows of one or more series; its bundle written to `out_dir` atomically."""
    return train_and_save_many([(windows, normalized, champion_dir, out_dir)], config, on_epoch)[0]


def train_and_save_many(
    models: Sequence[tuple[list[WindowResult], list[NormalizeResult], str | None, Path]],
    config: TrainConfig,
    on_epoch: EpochHook | None = None,
) -> list[TrainResult]:
    """`train_models` on the cached windows of each (windows, normalized, champion folder, output folder);
    each bundle written to its output folder atomically."""
    groups = [
        [load_prepared(n, w) for n, w in zip(normalized, windows, strict=True)] for windows, normalized, *_ in models
    ]
    trained = train_models(groups, config, on_epoch, [champion for *_, champion, _ in models])
    results = []
    for fitted, (*_, out_dir) in zip(trained, models, strict=True):
        result = fitted.result.model_copy(update={"model_dir": str(out_dir), "model_key": out_dir.name})
        with keras_session(), stage_output(out_dir) as tmp:
            save_bundle(fitted.in_shared_model(), fitted.spec, tmp)
            atomic_write_json(tmp / "history.json", fitted.history)
            atomic_write_json(tmp / "train.json", result.model_dump())
        results.append(result)
    return results


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
