"""Shared names and result types: the column names every stage agrees on, the window offsets, and the
small records stages hand each other (paths and content hashes, never data)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from movavg.scaling import ScalerStats

# Columns of the raw dataset and of every per-series frame.
SERIES = "series_id"
TIMESTAMP = "timestamp"
# Working columns movavg adds to a file's rows while validating them; private names, so that an input column
# called `row`, `column`, `rule` or `message` is kept as it is (`movavg.ingest.quarantine_columns` names them).
ROW = "_movavg_row"  # 1-based row number inside an input file
BAD_COLUMN = "_movavg_column"  # the column a bad row failed on
BAD_RULE = "_movavg_rule"  # the rule it broke
BAD_MESSAGE = "_movavg_message"  # what is wrong, in words
# The chronological split of a series.
SPLIT = "split"
SPLITS = ("train", "val", "test")

# Who serves a series after a run's gate: the LSTM trained this run, the best naive forecast, or the champion.
Winner = Literal["lstm", "naive", "champion"]
# The stages a series goes through, as named in skips, task runs and cache folders.
Stage = Literal["ingest", "normalize", "monitor", "window", "train", "backtest", "evaluate", "publish"]
# A series' health over its newest scored live origins (`movavg.monitor`), worst first.
HealthState = Literal["degraded", "stale", "no champion", "ok"]
# What a run did for one series, and for the run as a whole.
OutcomeStatus = Literal["published", "kept", "unchanged", "skipped", "failed"]
RunStatus = Literal["published", "kept", "unchanged", "incomplete"]
# What ingest did with one input file.
FileOutcome = Literal["ingested", "partial", "quarantined", "duplicate"]
# Why training stopped.
StopReason = Literal["early stopping", "all epochs", "non-finite loss"]

# Called after every training epoch with (epoch, epochs, logs).
EpochHook = Callable[[int, int, dict[str, float]], None]


class UnusableSeries(ValueError):
    """A series that cannot be modelled (too short, constant, filtered out); the message says why and what
    to do. The run skips that series and goes on with the others."""


class Skipped(BaseModel):
    """A series a stage skipped (it cannot be modelled) or failed on (an error), and why."""

    series: str
    stage: Stage | None  # None: not known (an outcome repeated from an earlier run)
    reason: str
    failed: bool = False

    @property
    def short_reason(self) -> str:
        """The reason up to its first colon, e.g. "too short"."""
        return self.reason.split(":")[0]


FrequencyKind = Literal[
    "sub-daily", "daily", "business-daily", "weekly", "fixed", "monthly", "quarterly", "yearly", "irregular"
]


class Frequency(BaseModel):
    """A series' step on its calendar (`movavg.frequency.infer_frequency`): its kind, the pandas offset alias
    where the calendar has one (`30min`, `D`, `B`, `W-SUN`, `MS`, `ME`, `QS-JAN`, `QE-DEC`, `YS-JAN`, ...),
    months per step for monthly (1), quarterly (3) and yearly (12) series with their anchor (period start, end,
    or the same day of the month), and the usual step in seconds (the median; approximate for calendar steps)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: FrequencyKind
    alias: str = ""
    months: int = 0
    anchor: Literal["start", "end", "day", ""] = ""
    step_seconds: float = 0.0


class SeasonProfile(BaseModel):
    """Additive seasonal profiles of a series' normalized target, fitted on its train slice
    (`movavg.seasons.fit_profile`): per season of `seasons`, one value per phase (`values[k][p]`, the phase of a
    timestamp from `movavg.seasons.season_phases` on the series' `frequency`; bundles of format 4 and older
    carry only its fixed step of `step_seconds`)."""

    model_config = ConfigDict(extra="ignore")

    step_seconds: float
    seasons: list[int]
    values: list[list[float]]
    frequency: Frequency | None = None

    @model_validator(mode="after")
    def _one_value_per_phase(self) -> SeasonProfile:
        if self.step_seconds <= 0 or [len(v) for v in self.values] != self.seasons or min(self.seasons, default=1) < 1:
            raise ValueError(f"a seasonal profile needs one value per phase of each season {self.seasons}")
        return self


class NaiveBlend(BaseModel):
    """A forecast combined with a naive one: `weight` x the model's + (1 - weight) x the naive forecast `naive`'s
    (its record name), the weight fitted on the validation windows (`movavg.blend.fit_blend`)."""

    naive: str
    weight: float


class WindowSpec(BaseModel):
    """Window offsets, for window i of a series with n rows::

    inputs   X[i] = values[i : i + lookback]             (last input step t = i + lookback - 1)
    target   y[i] = mean(target[t + horizon - ma_window + 1 : t + horizon + 1])
    """

    model_config = ConfigDict(extra="ignore")

    lookback: int
    ma_window: int
    horizon: int
    seasons: list[int] = []  # season lengths in steps: seasonal baselines, and lag inputs when seasonal_inputs
    seasonal_inputs: bool = False  # per season, an input channel: the target one season back, ending at t + horizon
    calendar: str = "none"  # cyclic calendar inputs (`movavg.seasons.calendar_features`)
    residual: str | None = None  # the baseline whose residual the model learns; None: the last value (per_window)
    profile: SeasonProfile | None = None  # removed from the target before the model (window.deseasonalize)
    frequency: Frequency | None = None  # the series' step; None in bundles of format 4 and older

    @property
    def lags(self) -> list[int]:
        """Row offsets of the seasonal input channels: channel k at input row r holds target[r - lags[k]]."""
        return [season - self.horizon for season in self.seasons] if self.seasonal_inputs else []

    def same_inputs(self, other: WindowSpec) -> bool:
        """True when windows of both specs give a model the same input shape and channels (deseasonalized or not)."""
        mine, theirs = (self.profile is None), (other.profile is None)
        return (self.lookback, self.lags, self.calendar, mine) == (other.lookback, other.lags, other.calendar, theirs)

    @property
    def history(self) -> int:
        """Rows a window reads before its last input row t: its lookback, its lag channels and the seasonal
        baselines (target[t - s] and the span one season before the target's)."""
        need = self.lookback - 1
        for season in self.seasons:
            need = max(need, season, season - self.horizon + self.ma_window - 1)
        return max([need] + [lag + self.lookback - 1 for lag in self.lags])


@dataclass
class FileReport:
    """What happened to one input file."""

    file: str
    sha256: str
    outcome: FileOutcome
    rows_in: int | None = 0
    rows_ingested: int = 0
    rows_quarantined: int = 0
    rule: str = ""
    reason: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class IngestResult:
    """What one ingest pass did, plus the fingerprint of all ingested data."""

    fingerprint: str
    raw_dir: str
    new_files: list[str] = field(default_factory=list)
    new_rows: int = 0
    quarantined: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # files left in incoming/ for a later run
    waiting_why: dict[str, str] = field(default_factory=dict)  # {file: why it was left, and when it is picked up}
    total_rows: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)  # FileReport entries, as in the ledger
    series: dict[str, str] = field(default_factory=dict)  # series id -> fingerprint of its ingested data
    warnings: list[str] = field(default_factory=list)  # what was wrong with the store and was repaired

    def headline(self) -> str:
        """`2 file(s) ingested (19 rows), 1 with quarantined rows, 1 quarantined whole, 0 waiting`."""
        outcomes = [entry["outcome"] for entry in self.files]
        return (
            f"{len(self.new_files)} file(s) ingested ({self.new_rows} rows), {outcomes.count('partial')} with "
            f"quarantined rows, {outcomes.count('quarantined')} quarantined whole, {len(self.waiting)} waiting"
        )

    def waiting_line(self) -> str:
        """`; 1 file left in incoming/ (x.part: named like a partial download ...)`, or "" when none waits."""
        if not self.waiting:
            return ""
        shown = "; ".join(f"{name}: {self.waiting_why.get(name, 'waiting')}" for name in self.waiting[:3])
        more = f"; +{len(self.waiting) - 3} more" if len(self.waiting) > 3 else ""
        return f"; {len(self.waiting)} file(s) left in incoming/ ({shown}{more})"


class GapReport(BaseModel):
    """Holes in the time index: steps missing on the series' calendar (`movavg.frequency.gap_steps`)."""

    step: str  # the frequency in words (`movavg.frequency.describe_frequency`)
    gaps: int
    largest: str
    filled_rows: int
    frequency: Frequency | None = None


class NormalizeResult(BaseModel):
    """Where the normalized series lives and what identifies its content."""

    path: str
    content_hash: str
    series: str
    columns: list[str]
    stats: ScalerStats
    rows: dict[str, int]
    gaps: GapReport


class WindowResult(BaseModel):
    """Where each split's windows lie in the normalized series (`bounds.parquet`), how many per split, and
    the offsets that make them; the windows themselves are never stored."""

    path: str
    content_hash: str
    counts: dict[str, int]
    columns: list[str]
    features: int
    spec: WindowSpec
    notes: list[str] = []  # seasons lengthened past the horizon or left out (`movavg.seasons.usable_seasons`)


class TrainResult(BaseModel):
    """A trained model bundle on disk and how its training went."""

    series: list[str]  # the series whose windows it was trained on (one, or all for a global model)
    train_windows: int
    model_dir: str = ""  # where its bundle was saved ("" for a model held in memory, see `movavg.Forecaster`)
    model_key: str = ""  # the bundle folder's name: its cache key
    epochs_run: int
    best_val_loss: float
    final_loss: float
    train_seconds: float
    finite: bool
    stop_reason: StopReason
    batch_size: int | None = None  # as trained (chosen when the config leaves it empty)
    jit_compile: bool | None = None
    warm_start: bool = False  # started from the champion's weights
    stack: int = 1  # models trained together in one graph (train.stack); train_seconds is this model's share
    ensemble: int = 1  # member models averaged (train.ensemble); epochs_run is the longest member's
    blends: dict[str, NaiveBlend] = {}  # per series, the naive forecast it is combined with (train.combine_naive)


class Scores(BaseModel):
    """Test-slice errors in original units."""

    mae: float
    rmse: float


class ChampionRef(BaseModel):
    """The published model currently in charge of one series."""

    series: str
    version: str
    model_key: str
    path: str
    loadable: bool = True  # its bundle is whole (`movavg.bundle.bundle_intact`); a key input of the stages given it


class Interval(BaseModel):
    """A central prediction interval: forecast + lower_factor * scale .. forecast + upper_factor * scale, with
    `scale` each window's typical step (`movavg.intervals.local_scale`), calibrated on held-back windows (the
    validation windows, and for a model its backtest folds' blocks: `calibration_windows` counts both); coverage
    and mean width (original units) measured on the test windows."""

    level: float
    lower_factor: float
    upper_factor: float
    calibration_windows: int
    coverage: float
    width: float


class BacktestFold(BaseModel):
    """One rolling origin: a model trained on the rows before `origin`, scored on the block after it."""

    origin: str  # timestamp of the first target row of the scored block
    mae: float
    baseline_mae: float  # the best naive forecast on the same windows
    baseline: str
    windows: int
    train_windows: int | None = None  # the fold model's train windows and epochs (None in older records)
    epochs_run: int | None = None
    warm_start: bool | None = None  # whether it started from the previous fold's weights (None in older records)


class Backtest(BaseModel):
    """Rolling-origin folds before the test slice for one series."""

    series: str
    folds: list[BacktestFold]
    note: str = ""
    # the folds' models' out-of-sample residuals, in units of each window's scale (sorted; at most a sample of
    # evenly spaced order statistics): what the prediction intervals are calibrated on besides the val windows
    residuals: list[float] = []


class Evaluation(BaseModel):
    """Test-slice scores of every contender on one series' test windows and the gate's decision.

    `winner` is who serves the series after this run: "lstm" (publish the new model), "naive" (the
    best naive forecast becomes champion) or "champion" (keep the current one).
    """

    series: str
    model: Scores
    baseline_last: Scores
    baseline_ma: Scores
    champion: Scores | None
    champion_version: str | None
    test_windows: int
    reason: str
    predictions_path: str | None
    baselines: dict[str, Scores] = {}
    best_baseline: str = ""
    winner: Winner = "champion"
    interval: Interval | None = None
    baseline_interval: Interval | None = None
    backtest: Backtest | None = None

    @property
    def baseline_mae(self) -> float:
        """MAE of the best naive forecast."""
        every = [s.mae for s in self.baselines.values()] or [self.baseline_last.mae, self.baseline_ma.mae]
        return min(every)


class LstmMetrics(Scores):
    """The LSTM trained in a run, scored on its series' test windows, and how its training went."""

    epochs_run: int
    train_seconds: float
    train_windows: int
    warm_start: bool


class SeriesMetrics(BaseModel):
    """What a published version records for one series it serves (`metrics.json`, listed by `movavg models`):
    the scores of what serves it (`kind`: "lstm" or "baseline:<naive forecast>") and of every contender on the
    same test windows, its interval, its backtest, and the LSTM trained in that run (also when a naive forecast
    serves instead)."""

    kind: str
    mae: float
    rmse: float
    baseline_mae: float
    best_baseline: str
    model: Scores
    baseline_last: Scores
    baseline_ma: Scores
    baselines: dict[str, Scores]
    champion_before: Scores | None
    test_windows: int
    rows: dict[str, int]
    interval: Interval | None
    backtest: list[BacktestFold]
    epochs_run: int
    train_seconds: float
    train_windows: int
    warm_start: bool
    lstm: LstmMetrics
    ensemble: int = 1  # member models averaged in the LSTM that serves (1 when a naive forecast serves)
    blend: NaiveBlend | None = None  # the naive forecast the serving LSTM's is combined with, and its weight


class ModelledSeries(BaseModel):
    """One series that went through every stage: its data, the model trained for it, and the gate's verdict."""

    normalized: NormalizeResult
    trained: TrainResult
    evaluation: Evaluation


class SeriesOutcome(BaseModel):
    """What a run did for one series."""

    series: str
    status: OutcomeStatus
    message: str
    served_by: str = ""  # what serves the series after the run: "lstm" or "baseline:<name>"; "" without a champion
    label: str = ""  # that champion in words (`movavg.labels.serving_label`), as `models` and `status` name it
    champion_version: str | None = None
    published_version: str | None = None
    metrics: dict[str, Any] = {}
    forecast_path: str | None = None


class RunSummary(BaseModel):
    """What a run ended with; `message` is the one line the CLI prints.

    With one series the top-level fields are that series' outcome (as before many series were modelled).
    """

    status: RunStatus
    message: str
    champion_version: str | None
    published_version: str | None
    new_rows: int
    metrics: dict[str, Any]
    forecast_path: str | None
    series: list[SeriesOutcome] = []

    def counts(self) -> dict[str, int]:
        """How many series ended in each status."""
        counts: dict[str, int] = {}
        for outcome in self.series:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return counts


Member = TypeVar("Member")


class Batch(BaseModel, Generic[Member]):
    """What one task run of a stage works on: its label in the UI (a series, a model group, or
    `<first>+<how many more>`) and its members, each cached on its own."""

    label: str
    members: list[Member]


class NormalizeInput(BaseModel):
    """A series to normalize and the fingerprint of its ingested rows (its cache key)."""

    series: str
    fingerprint: str


class TrainInput(BaseModel):
    """One model to train: its group (a series, or "global"), the windows and data of its series, and the
    champion's bundle it may warm-start from (not part of its cache key)."""

    group: str
    windows: list[WindowResult]
    normalized: list[NormalizeResult]
    warm_from: str | None = None


class BacktestInput(BaseModel):
    """One series to backtest: its windows and its data."""

    windows: WindowResult
    normalized: NormalizeResult


class EvaluateInput(BaseModel):
    """One series to score: the model trained for it, its data, its champion and its backtest (if run)."""

    trained: TrainResult
    normalized: NormalizeResult
    champion: ChampionRef | None
    backtest: Backtest | None = None


class SeriesHealth(BaseModel):
    """How one series' served forecasts fared live, over its newest `monitor.window` scored origins whatever
    version served them, and how old its data is; `state` by the rule in `movavg.monitor.health_state`."""

    series: str
    state: HealthState
    version: str | None = None  # the champion serving now
    served_by: str = ""  # "lstm" or "baseline:<naive forecast>"
    label: str = ""  # the champion in words (`movavg.labels.serving_label`), as `models` and `status` name it
    live_mae: float | None = None
    live_baseline_mae: float | None = None  # the naive forecast best at publish, on the same origins
    live_ratio: float | None = None
    live_coverage: float | None = None
    live_windows: int = 0
    publish_mae: float | None = None  # test MAE of the champion serving now, when it was published
    window_publish_mae: float | None = None  # mean test MAE at publish of the versions that served the window
    level: float | None = None  # the interval's nominal coverage
    naive: str | None = None
    age_steps: int | None = None  # whole steps of its own cadence since rows new to it last arrived
    age: str | None = None  # wall-clock time since the newest row's timestamp, e.g. "3 d 4 h"
    newest: str | None = None
    interval_margin: float = 0.0  # adaptive widening of the current champion's interval, per side, x its width
    scored: int = 0  # origins scored in this run
    reasons: list[str] = []
    forecast: dict[str, Any] | None = None  # the forward forecast serving now (latest.parquet's row)

    @field_validator("age_steps", mode="before")
    @classmethod
    def _whole_steps(cls, value: Any) -> Any:
        """Ages recorded as fractions by earlier versions read as whole steps."""
        return int(value // 1) if isinstance(value, float) and value == value else value
