"""Live monitoring: score each series' served forecasts against the moving averages that came true, keep a
per-series live log, and condense its newest origins into a health state.

An origin is a row t of a series; the forecast from it (the MA ending at row t + horizon) is scored once that
row exists, with only rows up to t as input (windows look back only), by the champion that served the series
at t: the one whose `first_origin` (the newest row when it became champion) is the newest at or before t.
The first origin a champion serves is that newest row, the one `forecasts/latest.parquet` then held.

    artifacts/live/<series key>.parquet   one row per scored origin (LIVE_COLUMNS), oldest first
    artifacts/live/health.json            each series' last health record, to tell state changes

Both are derived: the log from the champions and the data (a damaged one is set aside and scored again from
the first origin of the champions in the series' history), health.json from the log.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from movavg.bundle import BundleSpec, load_bundle, read_spec
from movavg.config import MonitorConfig
from movavg.forecast import forecast_frame, rows_read
from movavg.frequency import human_duration, infer_frequency
from movavg.naive import NaiveForecast, NaiveSpec, describe_naive, moving_average
from movavg.rawstore import arrivals
from movavg.registry import DamagedState, champion_label, champion_state, history, metrics_of, read_record, series_key
from movavg.schema import SERIES, TIMESTAMP, ChampionRef, Evaluation, HealthState, SeriesHealth
from movavg.session import keras_session
from movavg.storage import atomic_write_json, atomic_write_parquet, safe_name, set_aside, sha256_bytes, utc_now

LIVE_DIR = "live"
HEALTH_FILE = "health.json"
MAX_MARGIN = 5.0  # the adaptive interval is at most 11 times as wide as calibrated
LIVE_COLUMNS = [
    SERIES,
    "origin",  # the last input row's timestamp
    "target_time",  # when the averaged span ends (row origin + horizon)
    "horizon",
    "version",  # the champion that served the origin
    "served_by",  # "lstm" or "baseline:<naive forecast>"
    "predicted_ma",
    "lower",  # the served interval: the calibrated one widened on each side by margin x its width
    "upper",
    "margin",
    "actual",  # the moving average that came true
    "abs_error",
    "naive",  # the naive forecast that was best when `version` was published
    "naive_ma",
    "naive_abs_error",
    "covered",  # 1.0 when lower <= actual <= upper, NaN without a calibrated interval
    "level",
    "publish_mae",  # `version`'s test MAE at publish
    "scored_at",
]
STATE_ORDER: dict[str, int] = {"degraded": 0, "stale": 1, "no champion": 2, "ok": 3}
log = logging.getLogger("movavg.monitor")


def project_slug(artifacts_dir: Path | str) -> str:
    """A short name for the project an artifacts folder belongs to, for Prefect artifact keys and event
    resources: its folder (the parent's when it is called `artifacts`) plus a hash of its path, e.g.
    `demand-3fa2c1`; lowercase letters, digits and dashes only."""
    folder = Path(artifacts_dir).resolve()
    name = folder.parent.name if folder.name == "artifacts" and folder.parent.name else folder.name
    readable = "".join(c if c.isalnum() else "-" for c in safe_name(name, limit=30).lower()).strip("-") or "project"
    return f"{readable}-{sha256_bytes(str(folder).encode())[:6]}"


def live_dir(artifacts_dir: Path) -> Path:
    return artifacts_dir / LIVE_DIR


def live_path(artifacts_dir: Path, series: str) -> Path:
    """The live log of one series."""
    return live_dir(artifacts_dir) / f"{series_key(series)}.parquet"


LIVE_TEXT = {SERIES, "version", "served_by", "naive", "scored_at"}
LIVE_TIMES = {"origin", "target_time"}  # the others are numbers


def _live_type_ok(column: str, kind: pa.DataType) -> bool:
    """A live-log column holds what scoring writes there (or only nulls)."""
    if pa.types.is_null(kind):
        return True
    if column in LIVE_TEXT:
        return pa.types.is_string(kind) or pa.types.is_large_string(kind)
    if column in LIVE_TIMES:
        return pa.types.is_timestamp(kind)
    return pa.types.is_integer(kind) or pa.types.is_floating(kind)


def read_live(artifacts_dir: Path, series: str) -> pd.DataFrame:
    """The series' live log (empty with LIVE_COLUMNS before its first scored origin). A log that cannot be read
    is set aside (`.damaged`, kept) and started again: it is derived from the champions and the data."""
    path = live_path(artifacts_dir, series)
    if not path.exists():
        return pd.DataFrame(columns=LIVE_COLUMNS)
    try:
        if not path.is_file():
            raise ValueError("not a regular file")
        table = pq.read_table(path)
        if missing := [column for column in LIVE_COLUMNS if column not in table.column_names]:
            raise ValueError(f"no column(s) {missing}")
        types = {column: table.schema.field(column).type for column in LIVE_COLUMNS}
        if wrong := [f"{column} ({kind})" for column, kind in types.items() if not _live_type_ok(column, kind)]:
            raise ValueError(f"column(s) of the wrong type: {', '.join(wrong)}")
        return table.to_pandas()
    except Exception as error:
        aside = set_aside(path)
        log.warning("series %r: live log %s unreadable (%s): set aside as %s, scored again", series, path, error, aside)
        return pd.DataFrame(columns=LIVE_COLUMNS)


def serving_timeline(artifacts_dir: Path, series: str, fallback_origin: pd.Timestamp | None) -> list[tuple[str, Any]]:
    """[(version, first origin it served)] of the series' champions in the order they served. A switch recorded
    without its first origin (a promote without data, artifacts from before live scoring) takes over from the
    switch before it; when none has one, the current champion serves from `fallback_origin` (the origin of the
    forecast `latest.parquet` holds)."""
    timeline: list[tuple[str, Any]] = []
    damaged: list[str] = []
    for line in history(artifacts_dir, series, damaged):
        start = _timestamp_or_none(line.get("first_origin"))
        if start is None and timeline:
            start = timeline[-1][1]
        timeline.append((str(line.get("version")), start))
    if damaged:
        log.warning(
            "series %r: %d line(s) of its champion history cannot be read; scored from the rest", series, len(damaged)
        )
    if timeline and all(start is None for _, start in timeline):
        timeline = [(timeline[-1][0], fallback_origin)]
    return [(version, start) for version, start in timeline if start is not None]


def _timestamp_or_none(value: Any) -> pd.Timestamp | None:
    try:
        stamp = pd.Timestamp(value) if value else None
    except (ValueError, TypeError):  # a hand-edited record: that switch takes over from the one before
        return None
    return None if stamp is None or pd.isna(stamp) else stamp


def version_at(timeline: list[tuple[str, Any]], origins: pd.DatetimeIndex) -> np.ndarray:
    """For each origin, the version serving it ("" before the first champion's first origin)."""
    served = np.full(len(origins), "", dtype=object)
    for version, start in timeline:  # later switches overwrite earlier ones from their first origin on
        served[np.asarray(origins >= start)] = version
    return served


class Champions:
    """The versions a series' origins are scored with: each one's spec and metrics read once, its model
    loaded once and only when an origin needs it (a run with nothing to score never imports TensorFlow)."""

    def __init__(self, artifacts_dir: Path) -> None:
        self.artifacts_dir = artifacts_dir
        self.records: dict[str, tuple[BundleSpec, dict[str, Any]] | None] = {}
        self.models: dict[str, Any] = {}

    def record(self, version: str) -> tuple[BundleSpec, dict[str, Any]] | None:
        """(bundle spec, {series: metrics}) of `version`, or None when its files cannot be read."""
        if version not in self.records:
            folder = self.artifacts_dir / "models" / version
            try:
                self.records[version] = (read_spec(folder), metrics_of(folder))
            except Exception as error:
                log.warning("version %s cannot be read for live scoring (%s: %s)", version, type(error).__name__, error)
                self.records[version] = None
        return self.records[version]

    def model(self, version: str) -> Any:
        """The Keras model of `version` (None for a naive one); call inside `keras_session()`."""
        if version not in self.models:
            self.models[version] = load_bundle(self.artifacts_dir / "models" / version)[0]
        return self.models[version]


def score_origins(
    rows: pd.DataFrame, series: str, version: str, loaded: tuple[Any, Any, dict[str, Any]], at: np.ndarray
) -> pd.DataFrame:
    """The forecasts of `version` from the origins at row positions `at` of `rows` (one series, sorted by time,
    original units) next to the moving averages that came true, with the calibrated interval (`margin` 0) and
    the naive forecast that was best when it was published. Each forecast reads only rows up to its origin.
    Returns one row per origin with enough history (LIVE_COLUMNS but `scored_at`)."""
    model, bundle, metrics = loaded
    record = metrics.get(series, {})
    spec = bundle.window_for(series)
    first = rows_read(bundle, series) - 1
    at = at[at >= max(first, spec.lookback)]
    if len(at) == 0:
        return pd.DataFrame(columns=LIVE_COLUMNS[:-1])
    start = int(at.min()) - max(first, spec.lookback)  # enough rows before the first origin for its window and scale
    part = rows.iloc[start : int(at.max()) + 1].reset_index(drop=True)
    forecasts = forecast_frame(model, bundle, series, part).iloc[at - start - first]
    target = rows[bundle.columns[0]].to_numpy(dtype="float64")
    actual = moving_average(target, spec.ma_window)[at + spec.horizon]
    naive_name = str(record.get("best_baseline") or "naive_last")
    naive = NaiveForecast(NaiveSpec.parse(naive_name), spec).predict(target, at)
    interval = record.get("interval") or {}
    scale = forecasts["scale"].to_numpy()
    predicted = forecasts["predicted_ma"].to_numpy()
    low, high = interval.get("lower_factor", math.nan), interval.get("upper_factor", math.nan)
    return pd.DataFrame(
        {
            SERIES: series,
            "origin": forecasts[TIMESTAMP].to_numpy(),
            "target_time": rows[TIMESTAMP].to_numpy()[at + spec.horizon],
            "horizon": spec.horizon,
            "version": version,
            "served_by": str(record.get("kind", "lstm")),
            "predicted_ma": predicted,
            "lower": predicted + low * scale,
            "upper": predicted + high * scale,
            "margin": 0.0,
            "actual": actual,
            "abs_error": np.abs(predicted - actual),
            "naive": naive_name,
            "naive_ma": naive,
            "naive_abs_error": np.abs(naive - actual),
            "covered": np.nan,
            "level": float(interval.get("level", math.nan)),
            "publish_mae": float(record.get("mae", math.nan)),
        }
    )


def adapt_intervals(scored: pd.DataFrame, earlier: pd.DataFrame, rate: float) -> pd.DataFrame:
    """The interval that was served at each of one version's newly scored origins (`scored`; `earlier`: its
    origins scored before): the calibrated one widened on each side by `margin` times its calibrated width, with
    the margin in force since the last run, the one `latest.parquet` and `predict` gave (adaptive conformal
    inference with the feedback of each run: every outcome known by then, replayed in order by `replay_margin`;
    0 for a version with none yet). Fills `lower`, `upper`, `margin` and `covered`."""
    if scored.empty:
        return scored
    level = float(scored["level"].iloc[0])
    alpha = 1.0 - level if math.isfinite(level) else math.nan
    margin = replay_margin(0.0, [miss for _, miss in known_outcomes(earlier)], alpha, rate)
    lower, upper, actual = (scored[c].to_numpy(dtype="float64") for c in ("lower", "upper", "actual"))
    bounded = np.isfinite(lower) & np.isfinite(upper) & math.isfinite(alpha)
    margins = np.where(bounded, margin, 0.0)
    width = np.where(bounded, upper - lower, 0.0)
    lower, upper = lower - margins * width, upper + margins * width
    covered = np.where(np.isfinite(alpha), ((lower <= actual) & (actual <= upper)).astype("float64"), np.nan)
    return scored.assign(lower=lower, upper=upper, margin=margins, covered=covered)


def known_outcomes(scored: pd.DataFrame) -> list[tuple[int, float]]:
    """(target_time in ns, miss 0/1) of scored origins with an interval, in the order their outcomes came."""
    known = scored[["target_time", "covered"]].dropna()
    times = pd.DatetimeIndex(known["target_time"]).asi8
    misses = 1.0 - known["covered"].to_numpy(dtype="float64")
    return sorted(zip((int(t) for t in times), (float(m) for m in misses), strict=True))


def replay_margin(margin: float, misses: list[float], alpha: float, rate: float) -> float:
    """The adaptive margin after the outcomes `misses` (in order), each step kept within -0.5 .. MAX_MARGIN."""
    if not math.isfinite(alpha):
        return 0.0
    for miss in misses:
        margin = min(max(margin + rate * (miss - alpha), -0.5), MAX_MARGIN)
    return margin


def score_series(
    artifacts_dir: Path,
    series: str,
    rows: pd.DataFrame,
    champions: Champions,
    rate: float,
    fallback_origin: pd.Timestamp | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(live log, origins newly scored): every origin after the log's newest whose averaged span is complete in
    `rows`, each scored by the version that served it, appended to the log (written atomically). An origin is
    never scored twice; one whose version cannot be loaded is passed over."""
    earlier = read_live(artifacts_dir, series)
    stamps = pd.DatetimeIndex(rows[TIMESTAMP])
    timeline = serving_timeline(artifacts_dir, series, fallback_origin)
    if not timeline or len(rows) == 0:
        return earlier, earlier.iloc[0:0]
    newest_scored = pd.Timestamp(earlier["origin"].max()) if len(earlier) else None
    served = version_at(timeline, stamps)
    fresh = []
    for version in dict.fromkeys(v for v in served if v):
        record = champions.record(version)
        if record is None or series not in record[1]:
            continue
        spec, metrics = record
        at = np.flatnonzero((served == version) & (np.arange(len(rows)) + spec.window_for(series).horizon < len(rows)))
        if newest_scored is not None:
            at = at[np.asarray(stamps[at] > newest_scored)]
        if len(at) == 0:
            continue
        try:
            with keras_session():
                scored = score_origins(rows, series, version, (champions.model(version), spec, metrics), at)
        except Exception as error:  # a champion that cannot be loaded: its origins are passed over
            log.warning("series %r: %s cannot score live (%s: %s)", series, version, type(error).__name__, error)
            continue
        fresh.append(adapt_intervals(scored, earlier[earlier["version"] == version], rate))
    new = pd.concat([f for f in fresh if len(f)], ignore_index=True) if any(len(f) for f in fresh) else None
    if new is None:
        return earlier, earlier.iloc[0:0]
    new = new.assign(scored_at=utc_now()).sort_values("origin", kind="stable")
    combined = new if earlier.empty else pd.concat([earlier, new], ignore_index=True)
    atomic_write_parquet(live_path(artifacts_dir, series), combined)
    return combined, new


def window_figures(live: pd.DataFrame, window: int) -> dict[str, Any]:
    """Live MAE, the naive's MAE, their ratio, coverage and count over the newest `window` scored origins."""
    recent = live.tail(window)
    if recent.empty:
        return {"live_windows": 0}
    mae, naive = float(recent["abs_error"].mean()), float(recent["naive_abs_error"].mean())
    covered = recent["covered"].dropna()
    return {
        "live_mae": mae,
        "live_baseline_mae": naive,
        "live_ratio": mae / naive if naive > 0 else None,
        "live_coverage": float(covered.mean()) if len(covered) else None,
        "live_windows": len(recent),
        "window_publish_mae": float(recent["publish_mae"].mean()),
        "level": float(recent["level"].iloc[-1]) if math.isfinite(recent["level"].iloc[-1]) else None,
        "naive": str(recent["naive"].iloc[-1]),
    }


def degraded_reasons(figures: dict[str, Any], config: MonitorConfig) -> list[str]:
    """Why the window's figures call the series degraded (empty: they do not). With at least `min_windows`
    scored origins: live MAE over `degraded_factor` x the MAE at publish, live MAE over `max_live_ratio` x the
    naive's, or coverage more than `coverage_tolerance` under the interval's level."""
    if figures.get("live_windows", 0) < config.min_windows:
        return []
    reasons = []
    mae, publish = figures["live_mae"], figures.get("window_publish_mae")
    if publish and math.isfinite(publish) and mae > config.degraded_factor * publish:
        reasons.append(f"live MAE {mae:.4g} is {mae / publish:.1f}x the MAE at publish ({publish:.4g})")
    if figures.get("live_ratio") is not None and figures["live_ratio"] > config.max_live_ratio:
        reasons.append(f"live MAE {figures['live_ratio']:.2f}x the naive forecast's")
    level, coverage = figures.get("level"), figures.get("live_coverage")
    if level is not None and coverage is not None and coverage < level - config.coverage_tolerance:
        reasons.append(f"interval covered {coverage:.0%} (level {level:.0%})")
    return reasons


def data_age(arrived: pd.Timestamp, now: pd.Timestamp, step: pd.Timedelta | None) -> int | None:
    """Whole steps of the series' own cadence since rows new to it last arrived (ingest time), never measured
    against other series: historic data that arrives on schedule is 0 steps old. None without a step."""
    if step is None or step <= pd.Timedelta(0):
        return None
    return max(int((now - arrived) // step), 0)


def health_state(
    champion: bool, figures: dict[str, Any], age_steps: int | None, config: MonitorConfig
) -> tuple[HealthState, list[str]]:
    """The state and its reasons: `no champion`; `degraded` (`degraded_reasons`); `stale` (no new rows for more
    than `stale_after_steps` of its steps); else `ok`."""
    if not champion:
        return "no champion", ["nothing serves it yet"]
    if reasons := degraded_reasons(figures, config):
        return "degraded", reasons
    if age_steps is not None and age_steps > config.stale_after_steps:
        return "stale", [f"no new rows arrived for {age_steps} of its steps"]
    return "ok", []


def series_health(
    artifacts_dir: Path,
    series: str,
    live: pd.DataFrame,
    newest: pd.Timestamp | None,
    step: pd.Timedelta | None,
    arrived: pd.Timestamp | None,
    config: MonitorConfig,
    now: pd.Timestamp | None = None,
) -> SeriesHealth:
    """One series' health from its live log and the age of its data (whole steps since its rows last
    `arrived`), for the champion serving it now."""
    champion, _ = champion_state(artifacts_dir, series)
    figures = window_figures(live, config.window)
    now = now or pd.Timestamp.now(tz="UTC")
    age_steps = data_age(arrived, now, step) if arrived is not None else None
    state, reasons = health_state(champion is not None, figures, age_steps, config)
    health = SeriesHealth(series=series, state=state, reasons=reasons, age_steps=age_steps, **figures)
    if newest is not None:
        stamp = newest if newest.tzinfo else newest.tz_localize("UTC")
        health.newest, health.age = stamp.isoformat(), human_duration(max(now - stamp, pd.Timedelta(0)))
    if champion is not None:
        health.version = champion.version
        if serving := serving_fields(champion):
            health = health.model_copy(update=serving)
        own = live[live["version"] == champion.version]
        if len(own):
            health.interval_margin = next_margin(own, config.adaptive_rate)
    return health


def serving_fields(champion: ChampionRef) -> dict[str, Any]:
    """What a series' health says of the champion serving it: `served_by`, `publish_mae` and `label`, from one
    read of its metrics; {} when its records cannot be read."""
    try:
        record = metrics_of(Path(champion.path))[champion.series]
        return {
            "served_by": str(record.get("kind", "lstm")),
            "publish_mae": float(record["mae"]),
            "label": champion_label(champion, record),
        }
    except (DamagedState, KeyError, TypeError, ValueError):
        return {}


def next_margin(own: pd.DataFrame, rate: float) -> float:
    """The adaptive margin the champion's next forecast gets: every scored origin of it replayed in order."""
    level = float(own["level"].iloc[-1])
    alpha = 1.0 - level if math.isfinite(level) else math.nan
    return replay_margin(0.0, [miss for _, miss in known_outcomes(own)], alpha, rate)


def series_step(stamps: pd.Series) -> pd.Timedelta | None:
    """The series' usual step (`movavg.frequency.infer_frequency` over its newest 200 steps; a calendar step's
    median length); None without one."""
    frequency = infer_frequency(stamps[-201:])
    return pd.Timedelta(seconds=frequency.step_seconds) if frequency.step_seconds > 0 else None


def monitor_series(
    artifacts_dir: Path,
    series: str,
    processed: Path,
    columns: list[str],
    arrived: pd.Timestamp | None,
    config: MonitorConfig,
    champions: Champions,
    latest: pd.DataFrame | None = None,
    now: pd.Timestamp | None = None,
) -> SeriesHealth:
    """Score the series' served forecasts up to its newest complete origin and return its health.

    `processed`: the series' normalized rows (original units, sorted); `arrived`: when rows new to it last
    arrived (`movavg.rawstore.arrivals`; None: not recorded); `latest`: `forecasts/latest.parquet`, whose origin
    is where the current champion's live scores start when its history does not say.
    """
    rows = pd.read_parquet(processed, columns=[TIMESTAMP, *columns])
    fallback = None
    if latest is not None and len(mine := latest[latest[SERIES] == series]):
        fallback = pd.Timestamp(mine[TIMESTAMP].iloc[0])
    live, new = score_series(artifacts_dir, series, rows, champions, config.adaptive_rate, fallback)
    newest = pd.Timestamp(rows[TIMESTAMP].iloc[-1]) if len(rows) else None
    step = series_step(rows[TIMESTAMP])
    health = series_health(artifacts_dir, series, live, newest, step, arrived, config, now)
    health.scored = len(new)
    return health


def read_latest(artifacts_dir: Path) -> pd.DataFrame | None:
    """`forecasts/latest.parquet`, or None without (a readable) one."""
    path = artifacts_dir / "forecasts" / "latest.parquet"
    try:
        return pd.read_parquet(path) if path.exists() else None
    except Exception:
        return None


def read_health(artifacts_dir: Path) -> tuple[dict[str, dict[str, Any]], str | None]:
    """(each series' last health record, what is wrong with health.json or None). Before the first run, or when
    it cannot be read, the records are {}: they are derived from the live logs, and the next run writes them."""
    path = live_dir(artifacts_dir) / HEALTH_FILE
    try:
        record = read_record(path) if path.exists() else {}
    except DamagedState as problem:
        return {}, str(problem)
    series = record.get("series", {})
    if not isinstance(series, dict):
        return {}, f"{path} holds no health records"
    return series, None


def served_margins(artifacts_dir: Path) -> tuple[dict[str, tuple[str, float]], str | None]:
    """(per series, (champion, adaptive interval margin) in force since the last run, as health.json recorded
    them: what `predict` widens that champion's interval by, as the run's `latest.parquet` did; what is wrong
    with health.json, or None). Unreadable: no margins (the calibrated intervals) until the next run."""
    margins = {}
    records, problem = read_health(artifacts_dir)
    for series, record in records.items():
        if (
            isinstance(record, dict)
            and record.get("version")
            and isinstance(record.get("interval_margin"), int | float)
        ):
            margins[series] = (str(record["version"]), float(record["interval_margin"]))
    return margins, problem


def previous_health(artifacts_dir: Path) -> dict[str, dict[str, Any]]:
    """Each series' last health record ({} before the first, or when it cannot be read: see `read_health`)."""
    return read_health(artifacts_dir)[0]


def record_health(
    artifacts_dir: Path, healths: list[SeriesHealth], refresh: Callable[[SeriesHealth], SeriesHealth]
) -> tuple[list[SeriesHealth], list[tuple[SeriesHealth, str | None]]]:
    """After publish: each health `refresh`ed to the champion serving now (its state kept: the window is what
    was served), saved in health.json (series not in `healths` keep their record); returns the refreshed
    healths, worst first, and the state changes [(health, previous state or None)]."""
    earlier, problem = read_health(artifacts_dir)
    if problem:  # the previous states are lost: every series not ok announces its state again
        log.warning("%s: written anew; the states it held are announced again", problem)
    fresh = sorted((refresh(h) for h in healths), key=lambda h: (*worst_first(h.state, h.live_ratio), h.series))
    changes = [(h, earlier.get(h.series, {}).get("state")) for h in fresh]
    changes = [(h, before) for h, before in changes if before != h.state]
    records = {**earlier, **{h.series: h.model_dump(mode="json") for h in fresh}}
    atomic_write_json(live_dir(artifacts_dir) / HEALTH_FILE, {"at": utc_now(), "series": records})
    return fresh, changes


def worst_first(state: str, live_ratio: float | None) -> tuple[int, float]:
    """Sort key: degraded, stale, no champion, ok; within a state the highest live ratio first (unscored last)."""
    return STATE_ORDER[state], -(live_ratio if live_ratio is not None else -1.0)


def with_champion(artifacts_dir: Path, health: SeriesHealth, forecast: dict[str, Any] | None) -> SeriesHealth:
    """`health` for the champion serving now (after a publish), with the forward forecast serving it."""
    champion, _ = champion_state(artifacts_dir, health.series)
    update: dict[str, Any] = {"forecast": forecast}
    if champion is None:
        return health.model_copy(update={**update, "version": None, "served_by": "", "label": "", "publish_mae": None})
    if champion.version != health.version:
        update["interval_margin"] = 0.0  # a new champion's interval starts as calibrated
        update["version"] = champion.version
        update |= serving_fields(champion) or {"served_by": "", "publish_mae": None, "label": ""}
    if health.state == "no champion":
        update |= {"state": "ok", "reasons": []}
    return health.model_copy(update=update)


def event_name(state: HealthState, previous: str | None) -> str | None:
    """The event a state change emits: `movavg.series.degraded` / `.stale` on entering those states,
    `movavg.series.recovered` on leaving one of them for `ok`; None otherwise."""
    if state in ("degraded", "stale"):
        return f"movavg.series.{state}"
    if state == "ok" and previous in ("degraded", "stale"):
        return "movavg.series.recovered"
    return None


def event_payload(health: SeriesHealth, previous: str | None) -> dict[str, Any]:
    """The figures an event carries."""
    keys = ("series", "state", "version", "served_by", "live_mae", "live_baseline_mae", "live_ratio")
    more = ("live_coverage", "live_windows", "publish_mae", "age_steps", "reasons", "naive")
    record = health.model_dump(mode="json")
    return {"previous": previous, **{key: record[key] for key in keys + more}}


def series_resource(artifacts_dir: Path, series: str) -> dict[str, str]:
    """The event resource of one series of this artifacts folder."""
    return {
        "prefect.resource.id": f"movavg.series.{project_slug(artifacts_dir)}.{series_key(series)}",
        "prefect.resource.name": series,
        "movavg.series": series,
        "movavg.artifacts-dir": str(Path(artifacts_dir).resolve()),
    }


def arrival_times(raw_dir: Path) -> dict[str, pd.Timestamp]:
    """{series: when rows new to it last arrived} (what each series' age is measured from), where recorded."""
    recorded = pd.Series(arrivals(raw_dir), dtype=object)
    when = pd.to_datetime(recorded, errors="coerce", utc=True, format="ISO8601")  # a damaged value: not recorded
    return {str(series): stamp for series, stamp in when.dropna().items()}


def fall_back(evaluation: Evaluation, health: SeriesHealth | None, on_degraded: str) -> Evaluation:
    """With `on_degraded=fallback`, a degraded champion that lost to the naive forecast over the live window and
    that the gate would keep is replaced by the best naive forecast on the test windows (published like any
    naive champion: a compare-and-swap from the champion, recorded in the series' history)."""
    if on_degraded != "fallback" or health is None or evaluation.winner != "champion":
        return evaluation
    if health.state != "degraded" or health.live_ratio is None or health.live_ratio <= 1.0:
        return evaluation
    if health.served_by.startswith("baseline") or not evaluation.best_baseline:
        return evaluation
    reason = (
        f"fallback: champion {health.version} degraded ({'; '.join(health.reasons)}), so the naive "
        f"{describe_naive(evaluation.best_baseline)} serves"
    )
    return evaluation.model_copy(update={"winner": "naive", "reason": reason})
