"""The pipeline's one pydantic config, nested per stage; presets; dotted overrides.

Each stage's task receives only its own section. Field descriptions show up in the Prefect UI's
run form for the deployment, so they are written for users.
"""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

PANDAS_RANGE = (datetime(1677, 9, 22, tzinfo=UTC), datetime(2262, 4, 11, tzinfo=UTC))
MIN_IMPROVEMENT = 0.10  # publish.min_improvement: the p75 of the gains retraining alone gave (bench_retrain_noise.py)


class Section(BaseModel):
    """Base for config sections: unknown keys are errors, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")


class IngestConfig(Section):
    timestamp_column: str = Field("timestamp", description="Column holding the timestamps.")
    timestamp_format: str | None = Field(
        None,
        description=(
            "How every timestamp of a file is written, as a strftime format (e.g. '%d/%m/%Y %H:%M') or 'ISO8601'; "
            "rows not in it are quarantined. Empty: read by content, one day/month order per file (a date such as "
            "07/01/2024 that the file's other rows do not settle is quarantined)."
        ),
    )
    target_column: str = Field("value", description="Numeric column whose moving average is predicted.")
    feature_columns: list[str] = Field(
        default_factory=list,
        description="Extra numeric input columns fed to the model next to the target (the target is always feature 0).",
    )
    series_id_column: str = Field(
        "series_id", description="Column naming the series a row belongs to; files without it are one series."
    )
    default_series_id: str = Field("default", description="Series id given to rows of files without a series column.")
    min_value: float | None = Field(
        None, description="Rows whose target is below this are quarantined (empty: no bound)."
    )
    max_value: float | None = Field(
        None, description="Rows whose target is above this are quarantined (empty: no bound)."
    )
    outlier_mads: float | None = Field(
        1000.0,
        gt=0,
        description=(
            "Rows whose target lies more than this many median absolute deviations from the median of its series' "
            "newest 2,000 stored values and the new ones are quarantined (rule 'outlier'); empty to disable. Values "
            "beyond float32 are always quarantined."
        ),
    )
    on_conflict: Literal["latest", "first"] = Field(
        "latest",
        description=(
            "A row for an already-ingested (series, timestamp) with another value: 'latest' lets the newer file win "
            "(the older value stays in the raw history), 'first' quarantines the newer row."
        ),
    )
    settle_seconds: float = Field(
        2.0,
        ge=0,
        description="Files modified more recently than this are treated as still being written and left for later.",
    )
    max_wait_seconds: float = Field(
        30.0,
        ge=0,
        description=(
            "How long an ingest waits for files modified within settle_seconds to settle before leaving them for the "
            "next run (0: never wait). Files named like partial downloads (*.part, *.tmp, hidden) are never waited for."
        ),
    )
    max_file_bytes: int = Field(
        64 * 2**20,
        ge=1,
        description="Files larger than this are parsed in chunks of chunk_rows rows, never loaded whole.",
    )
    chunk_rows: int = Field(100_000, ge=1, description="Rows per chunk when a file is parsed in chunks.")
    max_columns: int = Field(
        256,
        ge=2,
        description=(
            "A file whose header has more columns than this is quarantined at once (rule 'too-many-columns'), "
            "before any row is parsed: one file can never cost unbounded time or memory."
        ),
    )
    max_future_days: float | None = Field(
        1.0,
        ge=0,
        description=(
            "Rows stamped more than this many days after the moment they are ingested are quarantined (rule "
            "'timestamp-range'): an observation cannot come from the future, and one year typo (2124 for 2024) "
            "would otherwise end its series 100 years ahead. Empty: no limit (e.g. simulated data)."
        ),
    )
    earliest_timestamp: datetime = Field(
        PANDAS_RANGE[0],
        description=(
            "Rows stamped before this are quarantined (rule 'timestamp-range'); naive values are UTC. Default: the "
            "earliest timestamp pandas represents (1677-09-22), so historic data is normal data."
        ),
    )
    latest_timestamp: datetime = Field(
        PANDAS_RANGE[1],
        description=(
            "Rows stamped after this are quarantined (rule 'timestamp-range'); naive values are UTC. Default: the "
            "latest timestamp pandas represents (2262-04-11). Placeholders beyond it, such as 9999-12-31, are "
            "always quarantined with that reason."
        ),
    )
    compact_after_parts: int = Field(
        8,
        ge=2,
        description=(
            "A series stored in more Parquet parts than this has its newest parts merged into one (every row and "
            "the history of replaced values kept), so many small files do not stay many small parts."
        ),
    )

    @model_validator(mode="after")
    def _range_is_ordered(self) -> IngestConfig:
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise ValueError(f"min_value ({self.min_value}) must not exceed max_value ({self.max_value})")
        earliest, latest = self.timestamp_range
        if earliest < PANDAS_RANGE[0] or latest > PANDAS_RANGE[1]:
            raise ValueError(
                f"earliest_timestamp and latest_timestamp must lie within {PANDAS_RANGE[0]:%Y-%m-%d} .. "
                f"{PANDAS_RANGE[1]:%Y-%m-%d}, the span of nanosecond timestamps"
            )
        if earliest >= latest:
            raise ValueError(
                f"earliest_timestamp ({self.earliest_timestamp}) must be before latest_timestamp "
                f"({self.latest_timestamp})"
            )
        return self

    @property
    def timestamp_range(self) -> tuple[datetime, datetime]:
        """(earliest, latest) accepted timestamps, timezone-aware (naive settings are read as UTC)."""
        earliest, latest = (
            moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            for moment in (self.earliest_timestamp, self.latest_timestamp)
        )
        return earliest, latest

    @property
    def model_columns(self) -> list[str]:
        """Columns fed to the model, the target first."""
        return [self.target_column, *self.feature_columns]


class NormalizeConfig(Section):
    series: str | list[str] | None = Field(
        None, description="Model only these series (one id or a list); empty: every series in the data."
    )
    train_fraction: float = Field(0.7, gt=0, lt=1, description="Oldest share of the series used for training.")
    val_fraction: float = Field(0.15, gt=0, lt=1, description="Next share, used for early stopping.")
    test_fraction: float = Field(0.15, gt=0, lt=1, description="Newest share, used only to score models.")
    fill_gaps: Literal["none", "ffill", "interpolate"] = Field(
        "none",
        description=(
            "Gaps in the time index (steps longer than 1.5x the usual one) are always reported; 'ffill' or "
            "'interpolate' also resample the series to its usual step and fill them."
        ),
    )
    per_window: bool = Field(
        True,
        description=(
            "Subtract each window's last value from its inputs and target (RevIN-style). Best for trending, "
            "random-walk-like series; turn off for stationary ones."
        ),
    )

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> NormalizeConfig:
        total = self.train_fraction + self.val_fraction + self.test_fraction
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train_fraction + val_fraction + test_fraction must be 1, got {total:g}")
        return self


class WindowConfig(Section):
    lookback: int = Field(52, ge=1, description="Past steps the model sees per prediction.")
    ma_window: int = Field(4, ge=1, description="Length of the moving average that is predicted.")
    horizon: int = Field(
        4,
        ge=0,
        description="Steps after the last input step at which the moving average ends (0: the input window's own MA).",
    )
    seasons: list[int] | dict[str, list[int]] | None = Field(
        None,
        description=(
            "Season lengths in steps, for every series (e.g. [48, 336] for a day and a week of half-hourly data) or "
            'per series ({"store-1": [7], "meter-9": [24, 168]}; a series not named keeps its natural seasons). '
            "Empty: inferred from each series' frequency (sub-daily: day and week; daily: week and year; business "
            "days: 5 and 252; weekly: 52; monthly: 12; quarterly: 4; yearly and irregular: none). A season no longer "
            "than the horizon is replaced by its smallest multiple that is; a season is used when the train slice "
            "holds it twice; it gives the seasonal baselines, the seasonal profile and, with seasonal_inputs, lag "
            "inputs."
        ),
    )
    seasonal_inputs: bool = Field(
        True,
        description=(
            "Feed the model, per season, the target one season back aligned with each input step (ending at the same "
            "point of the season as the target). Windows may read these rows from before their own split."
        ),
    )
    calendar_inputs: bool = Field(
        True, description="Feed the model cyclic calendar features: time of day and day of week (or day of year)."
    )
    deseasonalize: bool = Field(
        True,
        description=(
            "Season-aware normalisation: remove the seasonal profile of each usable season (phase means after "
            "detrending, fitted on the train slice; a season whose profile does not carry forward from the older to "
            "the newer half of that slice is left out) from the target before the model, which then learns the "
            "deseasonalized moving average; the profile at the target's phase is added back to each forecast. On the "
            "benchmark's half-hourly series the model went from 0.79 to 0.61 x the best naive (26 weeks), 1.01 to "
            "0.64 (12 weeks); on CO2 it cost 3% (README, forecast quality)."
        ),
    )
    residual: Literal["last-value", "best-baseline"] = Field(
        "last-value",
        description=(
            "What the model's output is added to: 'last-value', the window's last value (with normalize.per_window), "
            "or 'best-baseline', the naive forecast with the lowest error on the train windows (the model learns its "
            "residual). 'last-value' was better on every benchmark series (README, forecast quality)."
        ),
    )

    @model_validator(mode="after")
    def _ma_fits_lookback(self) -> WindowConfig:
        if self.ma_window > self.lookback:
            raise ValueError(f"ma_window ({self.ma_window}) must not exceed lookback ({self.lookback})")
        given = self.seasons.values() if isinstance(self.seasons, dict) else [self.seasons or []]
        if bad := sorted({season for seasons in given for season in seasons if season < 2}):
            raise ValueError(f"seasons must be at least 2 steps long, got {bad}")
        return self

    def seasons_for(self, series: str) -> list[int] | None:
        """The seasons `seasons` gives `series`; None: its frequency's natural seasons."""
        return self.seasons.get(series) if isinstance(self.seasons, dict) else self.seasons


class LayerSpec(Section):
    kind: Literal["lstm", "dropout"] = Field("lstm", description="Layer type.")
    units: int = Field(32, ge=1, description="LSTM units (ignored for dropout).")
    activation: str = Field("tanh", description="LSTM activation, e.g. tanh or relu.")
    rate: float = Field(0.2, ge=0, lt=1, description="Dropout rate (dropout layers only).")


class TrainConfig(Section):
    layers: list[LayerSpec] = Field(
        default_factory=lambda: [LayerSpec(units=32)],
        description="Stacked layers before the Dense(1) output; every LSTM but the last returns sequences.",
    )
    epochs: int = Field(60, ge=1, description="Maximum training epochs.")
    batch_size: int | None = Field(
        None,
        ge=1,
        description=(
            "Windows per gradient step; empty: 256 (the fastest on CPU), lowered for short series so an epoch keeps "
            "at least 24 steps (32 at the least)."
        ),
    )
    learning_rate: float = Field(1e-3, gt=0, description="Adam learning rate.")
    early_stopping_patience: int | None = Field(
        8, ge=1, description="Stop after this many epochs without validation improvement; empty to train all epochs."
    )
    scope: Literal["per-series", "global"] = Field(
        "per-series",
        description=(
            "'per-series': one model per series. 'global': one model trained on the windows of every selected "
            "series (each scaled by its own statistics); it becomes champion only of the series whose test windows "
            "it scores best on."
        ),
    )
    seed: int = Field(0, description="Random seed; the same data and config give the same weights.")
    warm_start: bool | None = Field(
        None,
        description=(
            "Start from the series' champion's weights instead of random ones. Empty: when the champion has the same "
            "architecture and inputs. A warm-started model depends on the champion it started from, not only on the "
            "data."
        ),
    )
    warm_start_folds: bool = Field(
        True,
        description=(
            "Start each backtest fold but a series' oldest from the weights of the fold before it (a model that saw "
            "only rows before that earlier origin, so nothing leaks) instead of its seeded initial ones: ~18% fewer "
            "epochs, the same accuracy on average (README, benchmarks)."
        ),
    )
    ensemble: int = Field(
        1,
        ge=1,
        le=16,
        description=(
            "Models per series, each with its own seed (initial weights and batch order), trained together (stacked) "
            "and saved as one Keras model whose forecast is their mean; intervals are calibrated on that mean's "
            "residuals. 5 members improved the benchmark's ratios by 0-2% for 2.3-2.8x the training time."
        ),
    )
    combine_naive: bool = Field(
        True,
        description=(
            "Serve a model combined, per series, with the naive forecast that is best on its validation windows: "
            "w x model + (1 - w) x naive, the weight w (0..1, steps of 0.05) the one with the lowest validation MAE. "
            "The combination is what the gate scores and what serves (README, forecast quality)."
        ),
    )
    jit_compile: bool | None = Field(
        None,
        description=(
            "XLA-compile the training step. Empty: on for stacked models (compiled once per shape in a process); "
            "with stack 1, on when the train slice has at least 10,000 windows, where its compile pays back."
        ),
    )
    stack: int = Field(
        16,
        ge=1,
        description=(
            "Per-series models trained together in one compiled graph (the models of one task run, main models and "
            "backtest folds), each with its own windows, seed, optimizer state and early stopping; 1 trains one at "
            "a time through Keras' fit."
        ),
    )

    @model_validator(mode="after")
    def _has_lstm(self) -> TrainConfig:
        if not any(layer.kind == "lstm" for layer in self.layers):
            raise ValueError("train.layers needs at least one lstm layer")
        return self


class EvaluateConfig(Section):
    require_beat_baseline: bool = Field(
        True,
        description=(
            "Publish a model only when its test MAE beats the best naive forecast (last value, current MA, seasonal "
            "naive and seasonal change per season); when no model does, that naive forecast becomes the champion."
        ),
    )
    backtest_folds: int = Field(
        3,
        ge=0,
        description=(
            "Rolling-origin folds before the test slice, each a model trained on the rows before its origin and scored "
            "with the naive forecasts on the next block (as long as the test slice); 0 to skip."
        ),
    )
    interval_level: float = Field(
        0.9,
        gt=0,
        lt=1,
        description=(
            "Coverage of the central prediction interval around each forecast, calibrated on validation windows."
        ),
    )


class PublishConfig(Section):
    plot: bool = Field(True, description="Save a PNG of forecast vs actual on the test slice with each model.")
    max_plots: int = Field(
        50,
        ge=0,
        description=(
            "At most this many series get that plot per run (the first by id; a warning says when some get none): "
            "a PNG costs ~0.1 s, and thousands are most of a run of short series."
        ),
    )
    min_improvement: float = Field(
        MIN_IMPROVEMENT,
        ge=0,
        lt=1,
        description=(
            "Relative test-MAE gain over the series' champion a challenger (a new model or a naive forecast) needs "
            "to replace it (0.05 = 5% better): gains smaller than retraining noise never churn the champion. "
            "The default is the spread measured between retrains on unchanged data (README, benchmarks)."
        ),
    )


class MonitorConfig(Section):
    window: int = Field(
        100,
        ge=1,
        description="Scored live origins per series that its health is computed over, whatever version served.",
    )
    min_windows: int = Field(
        10,
        ge=1,
        description="Scored live origins a series needs in its window before it can be called degraded.",
    )
    stale_after_steps: float = Field(
        3,
        ge=0,
        description=(
            "A series to which no new rows have arrived (ingest time) for more than this many of its own steps is "
            "'stale' (an hourly series after 3 hours without new rows, a monthly one after 3 months); never judged "
            "against other series, so historic data that arrives on schedule is 'ok'."
        ),
    )
    degraded_factor: float = Field(
        1.5,
        gt=1,
        description="'degraded' when the live MAE over the window exceeds this many times the MAE at publish.",
    )
    max_live_ratio: float = Field(
        1.2,
        gt=0,
        description=(
            "'degraded' when the live MAE over the window exceeds this many times the live MAE of the naive forecast "
            "that was best when the champion was published (on the same origins)."
        ),
    )
    coverage_tolerance: float = Field(
        0.15,
        gt=0,
        lt=1,
        description="'degraded' when live interval coverage falls more than this under evaluate.interval_level.",
    )
    adaptive_rate: float = Field(
        0.05,
        ge=0,
        description=(
            "Step of the adaptive conformal update of each series' interval between retrains (0: intervals stay as "
            "calibrated): each side moves out by rate x level x the calibrated width after a miss, and in by "
            "rate x (1 - level) x that width after a hit."
        ),
    )
    on_degraded: Literal["retrain", "fallback", "alert"] = Field(
        "retrain",
        description=(
            "What a degraded series gets besides its movavg.series.degraded event: 'retrain' (the automation "
            "`movavg serve` creates runs the on-data deployment, retraining it cold), 'fallback' (the naive "
            "forecast that beat it over the window serves it, recorded in its history), 'alert' (the event only)."
        ),
    )
    latest_plots: int = Field(6, ge=0, description="Series plotted in the movavg-latest artifact, worst first.")


class RunConfig(Section):
    task_runner: Literal["threads", "dask"] = Field(
        "threads",
        description=(
            "Where the per-series tasks run: 'threads' in the flow's own process, 'dask' on a Dask cluster (a local "
            "one of worker processes, or the one at dask_address)."
        ),
    )
    dask_address: str | None = Field(
        None,
        description="Scheduler of an existing Dask cluster, e.g. tcp://scheduler:8786; empty: start a local cluster.",
    )
    dask_workers: int = Field(
        2,
        ge=1,
        description="Worker processes of the local Dask cluster (one thread each); default: 2, one per core here.",
    )
    series_per_task: int | None = Field(
        None,
        ge=1,
        description=(
            "Series handled by one task run of each per-series stage (each still cached on its own). Empty: one per "
            "task up to 100 series, then as many as keep each stage at 100 task runs (Prefect spends ~16 ms and an "
            "API record per task run)."
        ),
    )

    @model_validator(mode="after")
    def _address_needs_dask(self) -> RunConfig:
        if self.dask_address and self.task_runner != "dask":
            raise ValueError("dask_address is set but task_runner is not 'dask'")
        return self


class PipelineConfig(Section):
    """Everything one retraining run needs, one section per stage."""

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: Any) -> Any:
        """`evaluate.min_improvement` (configs and deployment parameters of earlier versions) is now
        `publish.min_improvement`."""
        if isinstance(data, dict) and isinstance(data.get("evaluate"), dict) and "min_improvement" in data["evaluate"]:
            evaluate = dict(data["evaluate"])
            publish = dict(data.get("publish") or {})
            publish.setdefault("min_improvement", evaluate.pop("min_improvement"))
            data = {**data, "evaluate": evaluate, "publish": publish}
        return data

    ingest: IngestConfig = Field(default_factory=IngestConfig, description="Reading and validating input files.")
    normalize: NormalizeConfig = Field(default_factory=NormalizeConfig, description="Series choice, split, scaling.")
    window: WindowConfig = Field(default_factory=WindowConfig, description="Supervised window construction.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="Model architecture and training.")
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig, description="Scoring and the publish gate.")
    publish: PublishConfig = Field(default_factory=PublishConfig, description="What a published model carries.")
    monitor: MonitorConfig = Field(
        default_factory=MonitorConfig, description="Live accuracy of the served forecasts, health states, alerts."
    )
    run: RunConfig = Field(default_factory=RunConfig, description="Where and how the per-series tasks run.")


def _seed_window(size: int) -> dict[str, Any]:
    return {"lookback": size, "ma_window": size, "horizon": 0}


# The seed's examples learn the MA of the input window itself (horizon 0), which the naive "current MA" computes
# exactly: under the default gate that naive forecast would always serve, so these presets publish the LSTM.
SEED_GATE = {"require_beat_baseline": False}


PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    # The three examples of the Keras Q&A the project started from, layer for layer.
    "seed-basic": {
        "window": _seed_window(5),
        "train": {
            "layers": [{"kind": "lstm", "units": 50, "activation": "relu"}],
            "epochs": 100,
            "batch_size": 32,
            "early_stopping_patience": None,
        },
        "evaluate": SEED_GATE,
    },
    "seed-multifeature": {
        "ingest": {"feature_columns": ["feature_1", "feature_2"]},
        "window": _seed_window(5),
        "train": {
            "layers": [{"kind": "lstm", "units": 100, "activation": "tanh"}],
            "epochs": 100,
            "batch_size": 32,
            "early_stopping_patience": None,
        },
        "evaluate": SEED_GATE,
    },
    "seed-stacked": {
        "window": _seed_window(10),
        "train": {
            "layers": [
                {"kind": "lstm", "units": 100, "activation": "relu"},
                {"kind": "dropout", "rate": 0.2},
                {"kind": "lstm", "units": 50, "activation": "relu"},
            ],
            "epochs": 200,
            "batch_size": 64,
            "early_stopping_patience": None,
        },
        "evaluate": SEED_GATE,
    },
}


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Return `base` with `update` merged in; nested dicts merge, everything else is replaced."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_override(assignment: str) -> dict[str, Any]:
    """Turn `window.horizon=5` into `{"window": {"horizon": 5}}`; values parse as JSON, else stay strings."""
    if "=" not in assignment:
        raise ValueError(f"--set expects key=value with a dotted key such as window.horizon=5, got {assignment!r}")
    path, raw = assignment.split("=", 1)
    keys = [part for part in path.strip().split(".") if part]
    if not keys:
        raise ValueError(f"--set has an empty key in {assignment!r}")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    nested: dict[str, Any] = {keys[-1]: value}
    for key in reversed(keys[:-1]):
        nested = {key: nested}
    return nested


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a JSON, TOML or YAML config file into a dict."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
    elif path.suffix == ".toml":
        data = tomllib.loads(text)
    elif path.suffix in {".yaml", ".yml"}:
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as error:  # one line: what and where, as for JSON and TOML
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(error, "problem", None) or type(error).__name__
            raise ValueError(f"config file {path} is not valid YAML: {problem}{where}") from None
    else:
        raise ValueError(f"config file {path} must end in .json, .toml, .yaml or .yml")
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping of sections")
    return data


def build_config(
    preset: str = "default", config_file: Path | None = None, overrides: list[str] | None = None
) -> PipelineConfig:
    """Preset, then config file, then `--set` overrides, validated as one `PipelineConfig`."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    data = PRESETS[preset]
    if config_file is not None:
        data = deep_merge(data, read_config_file(config_file))
    for assignment in overrides or []:
        data = deep_merge(data, parse_override(assignment))
    return PipelineConfig.model_validate(data)
