"""`movavg.Forecaster`: the pipeline's modelling in memory, for a notebook or a script: no Prefect, no folders.

    from movavg import Forecaster
    forecaster = Forecaster("default").fit(frame)   # frame: [series_id,] timestamp, value[, feature columns]
    forecaster.predict()                            # one row per series: its newest forecast
    forecaster.evaluate()                           # one row per series: test MAE against the best naive forecast

`fit` runs the functions the pipeline's stages wrap (`prepare_series`, `locate_windows`, `train_model`,
`backtest_series`, `evaluate_series`) with the same config, seeds and gate, less the champion: what serves each
series is what the pipeline would publish on its first run, and `predict` gives what it would write to
`forecasts/latest.parquet`. `save` writes the registry's bundles (`model.keras`, `bundle.json`, `metrics.json`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from movavg.backtest import backtest_many
from movavg.bundle import BundleSpec, baseline_bundle, load_bundle, save_bundle
from movavg.config import PipelineConfig, build_config
from movavg.evaluation import evaluate_series, metrics_record
from movavg.forecast import forecast_frame, newest_forecast, rows_read, with_interval
from movavg.model import TrainedModel, model_groups, train_models
from movavg.registry import read_record, series_key
from movavg.schema import (
    BAD_COLUMN,
    BAD_MESSAGE,
    BAD_RULE,
    ROW,
    SERIES,
    TIMESTAMP,
    Backtest,
    SeriesMetrics,
    UnusableSeries,
)
from movavg.series import PreparedSeries, choose_series, fill_gaps, prepare_series, select_series
from movavg.session import keras_session
from movavg.storage import atomic_directory, atomic_write_json, atomic_write_parquet
from movavg.validation import validate_rows
from movavg.windowing import locate_windows

if TYPE_CHECKING:
    import keras

SAVED_FORMAT = 1
INDEX_FILE = "forecaster.json"
DATA_FILE = "data.parquet"
PREDICT_COLUMNS = [SERIES, TIMESTAMP, "target_time", "horizon", "predicted_ma", "lower", "upper", "served_by"]

ConfigLike = PipelineConfig | dict[str, Any] | str | None


def resolve_config(config: ConfigLike) -> PipelineConfig:
    """A `PipelineConfig` from one, a dict of its sections (`{"window": {"horizon": 5}}`), a preset name, or None
    (the defaults)."""
    if config is None:
        return PipelineConfig()
    if isinstance(config, PipelineConfig):
        return config
    if isinstance(config, str):
        return build_config(config)
    if isinstance(config, dict):
        return PipelineConfig.model_validate(config)
    raise TypeError(f"config must be a PipelineConfig, a dict of its sections or a preset name, not {type(config)}")


@dataclass
class FittedSeries:
    """What serves one series after `fit`: the LSTM, or (`model` None) a naive forecast, with the bundle spec that
    feeds it, its metrics record and its rows (original units, gaps filled as configured)."""

    model: keras.Model | None
    bundle: BundleSpec
    metrics: SeriesMetrics
    frame: pd.DataFrame

    @property
    def served_by(self) -> str:
        """`lstm`, or `baseline:<naive forecast>`, as `movavg status` says."""
        return self.metrics.kind


class Forecaster:
    """Per-series (or one global) LSTM moving-average forecasters, each served only when it beats the best naive
    forecast on its test windows; fitted in memory on a long frame."""

    def __init__(self, config: ConfigLike = None) -> None:
        self.config = resolve_config(config)
        self.series_: dict[str, FittedSeries] = {}
        self.skipped_: dict[str, str] = {}  # {series: why it has no forecaster}

    def fit(self, df: pd.DataFrame) -> Forecaster:
        """Fit every series of `df` (columns: `series_id` (optional), `timestamp`, the target and feature columns
        the config names); a series that cannot be modelled is left out, its reason in `skipped_`."""
        rows = canonical_rows(df, self.config)
        available = {str(name): "" for name in rows[SERIES].unique()}
        names, missing = choose_series(available, self.config.normalize.series, Path("<the frame>"))
        if missing:
            raise ValueError(f"normalize.series names series the frame does not hold: {', '.join(missing)}")
        self.series_, self.skipped_ = {}, {}
        prepared = self._prepare(rows, names)
        groups = [
            [prepared[name] for name in members]
            for members in model_groups(list(prepared), self.config.train.scope).values()
        ]
        trained = train_models(groups, self.config.train)  # per-series models `train.stack` at a time
        folds = self.config.evaluate.backtest_folds
        backtests = backtest_many(list(prepared.values()), self.config.train, folds) if folds and prepared else []
        by_series = {backtest.series: backtest for backtest in backtests}
        for members, model in zip(groups, trained, strict=True):
            self._decide(members, model, by_series)
        if not self.series_:
            reasons = "; ".join(f"{name}: {why}" for name, why in list(self.skipped_.items())[:3])
            raise ValueError(f"no series could be modelled: {reasons}")
        return self

    def predict(self, df: pd.DataFrame | None = None, all_origins: bool = False) -> pd.DataFrame:
        """Forecasts of what serves each series: from its newest window (one row per series), or with
        `all_origins` from every origin with enough history. `df` (same columns as for `fit`) gives newer rows;
        without it, the rows `fit` saw.

        Columns: `series_id`, `timestamp` (the last input step), `target_time` (when the averaged span ends,
        `horizon` steps later), `horizon`, `predicted_ma`, `lower`, `upper` (the calibrated interval), `served_by`.
        """
        frames = self._frames(df)
        out = []
        with keras_session():
            for name, frame in frames.items():
                fitted = self.series_[name]
                metrics = fitted.metrics.model_dump()
                needed = rows_read(fitted.bundle, name)
                if len(frame) < needed:
                    raise ValueError(f"series {name!r} has {len(frame)} rows; its forecast reads {needed}: pass more")
                if all_origins:
                    forecast = with_interval(forecast_frame(fitted.model, fitted.bundle, name, frame), metrics)
                else:
                    forecast = newest_forecast(fitted.model, fitted.bundle, name, frame, metrics)
                out.append(forecast.assign(served_by=fitted.served_by))
        return pd.concat(out, ignore_index=True)[PREDICT_COLUMNS] if out else pd.DataFrame(columns=PREDICT_COLUMNS)

    def evaluate(self) -> pd.DataFrame:
        """One row per fitted series: `mae` of what serves it on its test windows, `lstm_mae`, the best naive
        forecast (`best_baseline`, `baseline_mae`), `ratio` (mae / baseline_mae), the interval's `coverage`,
        `served_by` and the rolling-origin `backtest` folds (model and best naive MAE per fold)."""
        rows = []
        for name, fitted in self.series_.items():
            m = fitted.metrics
            rows.append(
                {
                    SERIES: name,
                    "mae": m.mae,
                    "lstm_mae": m.lstm.mae,
                    "best_baseline": m.best_baseline,
                    "baseline_mae": m.baseline_mae,
                    "ratio": m.mae / m.baseline_mae if m.baseline_mae > 0 else math.nan,
                    "coverage": m.interval.coverage if m.interval else math.nan,
                    "served_by": fitted.served_by,
                    "backtest": [fold.model_dump() for fold in m.backtest],
                }
            )
        return pd.DataFrame(rows)

    def save(self, path: str | Path) -> Path:
        """Write every serving bundle (the registry's format), the config and the fitted rows into the folder
        `path`, in one rename. An earlier save there is replaced; anything else at `path` is refused (ValueError),
        never deleted."""
        final = Path(path)
        if final.exists() and not (final / INDEX_FILE).is_file():
            raise ValueError(f"{final} exists and is not a saved forecaster: save into a new folder")
        with atomic_directory(final) as tmp:
            index: dict[str, Any] = {
                "format": SAVED_FORMAT,
                "config": self.config.model_dump(mode="json"),
                "series": {},
                "skipped": self.skipped_,
            }
            for folder, members in self._bundles().items():
                write_bundle(tmp / folder, {name: self.series_[name] for name in members})
                index["series"] |= {name: folder for name in members}
            frames = [fitted.frame for fitted in self.series_.values()]
            atomic_write_parquet(tmp / DATA_FILE, pd.concat(frames, ignore_index=True))
            atomic_write_json(tmp / INDEX_FILE, index)
        return final

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """A forecaster saved by `save`; its models load in Keras' safe mode. A folder that is not one, or whose
        files are damaged or were edited, raises ValueError naming the file."""
        folder = Path(path)
        with _reading(folder / INDEX_FILE):
            index = read_record(folder / INDEX_FILE)
            if index.get("format", 0) > SAVED_FORMAT:
                raise ValueError(f"saved by a newer movavg (format {index['format']}): upgrade movavg")
            forecaster = cls(PipelineConfig.model_validate(index["config"]))
            forecaster.skipped_ = dict(index.get("skipped", {}))
            members = {str(name): str(bundle_folder) for name, bundle_folder in dict(index["series"]).items()}
        with _reading(folder / DATA_FILE):
            data = pd.read_parquet(folder / DATA_FILE)
        loaded: dict[str, tuple[Any, BundleSpec, dict[str, Any]]] = {}
        with keras_session():
            for name, bundle_folder in members.items():
                with _reading(folder / bundle_folder):
                    if bundle_folder not in loaded:
                        metrics = read_record(folder / bundle_folder / "metrics.json")
                        loaded[bundle_folder] = (*load_bundle(folder / bundle_folder), metrics)
                    model, bundle, metrics = loaded[bundle_folder]
                    frame = data[data[SERIES] == name].reset_index(drop=True)
                    forecaster.series_[name] = FittedSeries(
                        model, bundle, SeriesMetrics.model_validate(metrics[name]), frame
                    )
        return forecaster

    def _prepare(self, rows: pd.DataFrame, names: list[str]) -> dict[str, PreparedSeries]:
        prepared = {}
        for name in names:
            try:
                series = prepare_series(rows, name, self.config.ingest.model_columns, self.config.normalize)
                spec, bounds = locate_windows(series, self.config.window)
            except UnusableSeries as reason:
                self.skipped_[name] = str(reason)
                continue
            prepared[name] = replace(series, spec=spec, bounds=bounds)
        return prepared

    def _decide(self, members: list[PreparedSeries], trained: TrainedModel, backtests: dict[str, Backtest]) -> None:
        """Decide, per series of one model's `members`, what serves it."""
        for series in members:
            evaluation, _ = evaluate_series(
                trained.model,
                trained.spec,
                trained.result.finite,
                series,
                self.config.evaluate,
                None,
                backtests.get(series.series),
            )
            frame = series.frame[[TIMESTAMP, SERIES, *series.columns]].reset_index(drop=True)
            if evaluation.winner == "lstm":
                metrics = metrics_record(evaluation, trained.result, series.rows)
                self.series_[series.series] = FittedSeries(trained.model, trained.spec, metrics, frame)
            elif evaluation.winner == "naive":
                metrics = metrics_record(evaluation, trained.result, series.rows, baseline=True)
                bundle = baseline_bundle(
                    {series.series: trained.spec.window_for(series.series)},
                    series.columns,
                    {series.series: evaluation.best_baseline},
                )
                self.series_[series.series] = FittedSeries(None, bundle, metrics, frame)
            else:
                self.skipped_[series.series] = evaluation.reason

    def _frames(self, df: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
        """{series: its rows to forecast from}: the fitted rows, or those of `df` (gaps filled as in `fit`)."""
        if not self.series_:
            raise ValueError("the forecaster is not fitted: call fit(frame) first")
        if df is None:
            return {name: fitted.frame for name, fitted in self.series_.items()}
        rows = canonical_rows(df, self.config)
        columns = self.config.ingest.model_columns
        frames = {}
        for name in rows[SERIES].unique():
            if name not in self.series_:
                why = self.skipped_.get(name, "not in the frame it was fitted on")
                raise ValueError(f"series {name!r} has no forecaster ({why})")
            series = fill_gaps(select_series(rows, name), columns, self.config.normalize.fill_gaps)
            frames[name] = series[[TIMESTAMP, SERIES, *columns]].reset_index(drop=True)
        return frames

    def _bundles(self) -> dict[str, list[str]]:
        """{folder: the series its bundle serves}: one folder per trained model, one per naive-served series."""
        folders: dict[str, list[str]] = {}
        for name, fitted in self.series_.items():
            kind = "naive" if fitted.model is None else "lstm"
            group = name if kind == "naive" or len(fitted.bundle.series) == 1 else "global"
            folders.setdefault(f"{kind}-{series_key(group)}", []).append(name)
        return folders


def write_bundle(folder: Path, fitted: dict[str, FittedSeries]) -> None:
    """One bundle folder: `model.keras` (none for a naive forecast), `bundle.json` and `metrics.json`."""
    first = next(iter(fitted.values()))
    folder.mkdir(parents=True)
    with keras_session():
        save_bundle(first.model, first.bundle, folder)
    atomic_write_json(folder / "metrics.json", {name: f.metrics.model_dump() for name, f in fitted.items()})


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Any failure while reading a saved forecaster's `path` as one ValueError naming it."""
    try:
        yield
    except Exception as error:
        what = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        if isinstance(error, KeyError):
            what = f"no entry {error}"
        where = f"{path}: "
        if str(path) in str(error):  # a registry record's own message names the file already
            where, what = "", str(error)
        raise ValueError(
            f"cannot load the saved forecaster: {where}{what.splitlines()[0]} (damaged or edited: save it again)"
        ) from None


def canonical_rows(df: pd.DataFrame, config: PipelineConfig) -> pd.DataFrame:
    """`df` checked by the ingest rules: `series_id`, `timestamp` (UTC), the model columns, sorted, one row per
    (series, timestamp), the later of two kept (with a warning). Raises ValueError naming the first bad rows."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    frame = df.reset_index(drop=True).assign(**{ROW: np.arange(1, len(df) + 1)})
    good, bad, _ = validate_rows(frame, config.ingest)
    duplicates = bad[bad[BAD_RULE] == "duplicate-timestamp"]
    bad = bad[bad[BAD_RULE] != "duplicate-timestamp"]
    if len(bad):
        shown = "; ".join(
            f"row {row} ({column}): {message}"
            for row, column, message in bad[[ROW, BAD_COLUMN, BAD_MESSAGE]].head(3).itertuples(index=False)
        )
        raise ValueError(f"{len(bad)} row(s) cannot be used: {shown}: fix or drop them (rows are numbered from 1)")
    if len(duplicates):
        warnings.warn(f"{len(duplicates)} duplicate timestamp(s); the last row of each was kept", stacklevel=3)
    if good.empty:
        raise ValueError("the frame has no rows")
    return good.drop(columns=ROW)
