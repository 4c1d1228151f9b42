"""Rolling-origin backtest: before the test slice, expanding-window folds, each a model trained only on the
rows before its origin and scored, with every naive forecast, on the block after it.

With `folds` k and a test slice of B rows starting at row T, fold j (1..k) has its origin at T - (k - j + 1) * B
and scores the windows whose targets end in [origin, origin + B): the last fold scores the val slice. Each
fold re-fits the scaler on its own train rows and re-chooses the residual baseline there, so nothing after its
origin reaches it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from movavg.cache import stage_output
from movavg.config import TrainConfig
from movavg.forecast import score_frame
from movavg.model import TrainedModel, train_models
from movavg.naive import naive_errors
from movavg.scaling import ScalerStats, fit_stats
from movavg.schema import (
    SPLIT,
    SPLITS,
    TIMESTAMP,
    Backtest,
    BacktestFold,
    NormalizeResult,
    UnusableSeries,
    WindowResult,
    WindowSpec,
)
from movavg.series import PreparedSeries, z_columns
from movavg.session import keras_session
from movavg.storage import atomic_write_json
from movavg.windowing import (
    load_prepared,
    located,
    rows_for_targets,
    split_bounds,
    with_best_residual,
    with_profile,
)

RESIDUAL_SAMPLE = 2000  # fold residuals kept per series for calibrating intervals


def fold_origins(rows: dict[str, int], folds: int) -> list[int]:
    """First target rows of the scored blocks, oldest first; folds that would leave no rows to train on are dropped."""
    block, test_start = rows["test"], rows["train"] + rows["val"]
    return [test_start - k * block for k in range(folds, 0, -1) if test_start - k * block > 0]


def fold_frame(
    series: pd.DataFrame, columns: list[str], origin: int, block: int, train_share: float, per_window: bool
) -> tuple[pd.DataFrame, ScalerStats]:
    """The rows up to the end of a fold's block, labelled train | val (before the origin, in the series' own
    proportions) | test (the block), with normalized columns from the fold's own train rows; and those
    rows' scaler statistics."""
    frame = series.iloc[: origin + block].copy()
    train_end = max(1, round(origin * train_share))
    frame[SPLIT] = np.repeat(list(SPLITS), [train_end, origin - train_end, len(frame) - origin])
    values = frame[columns].to_numpy(dtype="float64")
    stats = fit_stats(values[:train_end], columns, per_window)
    for name, normalized in zip(z_columns(columns), stats.transform(values).T, strict=True):
        frame[name] = normalized
    return frame, stats


def fold_series(
    frame: pd.DataFrame, stats: ScalerStats, columns: list[str], spec: WindowSpec, series: str
) -> PreparedSeries:
    """A fold's rows as a located series: its own split bounds, and the residual baseline and the seasonal
    profile fitted again on its own train rows. Raises UnusableSeries when a split has no window."""
    if spec.profile is not None:
        spec = with_profile(spec, frame, z_columns(columns)[0])
    bounds = split_bounds(frame, spec)
    if spec.residual is not None:
        spec = with_best_residual(spec, frame[z_columns(columns)[0]].to_numpy(), bounds)
    return PreparedSeries(series=series, frame=frame, columns=columns, stats=stats, spec=spec, bounds=bounds)


def score_fold(fold: PreparedSeries, trained: TrainedModel) -> tuple[BacktestFold, np.ndarray]:
    """A fold's model and the naive forecasts scored on its block (its test rows); and the model's residuals
    there (m,), in units of each window's scale."""
    frame, spec, columns = fold.frame, located(fold)[0], fold.columns
    block = rows_for_targets(frame, int(np.argmax(frame[SPLIT].to_numpy() == "test")), spec)  # not every window
    windows = score_frame(trained.in_shared_model(), trained.spec, fold.series, block)
    windows = windows[block[SPLIT].to_numpy()[windows["target_row"].to_numpy()] == "test"]
    errors = naive_errors(
        block[columns[0]].to_numpy(dtype="float64"), windows["target_row"].to_numpy() - spec.horizon, spec
    )
    best = min(errors, key=errors.__getitem__)
    residuals = ((windows["actual"] - windows["predicted"]) / windows["scale"]).to_numpy()
    return BacktestFold(
        origin=str(block[TIMESTAMP].iloc[int(windows["target_row"].iloc[0])]),
        mae=float(np.mean(np.abs(windows["predicted"] - windows["actual"]))),
        baseline_mae=errors[best],
        baseline=best,
        windows=len(windows),
        train_windows=trained.result.train_windows,
        epochs_run=trained.result.epochs_run,
        warm_start=trained.result.warm_start,
    ), residuals


def residual_sample(residuals: np.ndarray) -> list[float]:
    """The finite `residuals` sorted, or RESIDUAL_SAMPLE of their order statistics at evenly spaced ranks when
    there are more (a long series' folds would otherwise make its backtest record as long as its test slice)."""
    ordered = np.sort(residuals[np.isfinite(residuals)])
    if len(ordered) > RESIDUAL_SAMPLE:
        ordered = ordered[np.linspace(0, len(ordered) - 1, RESIDUAL_SAMPLE).round().astype(int)]
    return ordered.tolist()


def series_folds(prepared: PreparedSeries, folds: int) -> list[PreparedSeries]:
    """The rolling-origin folds of one located series that have a window in every split, oldest first."""
    columns, spec, rows = prepared.columns, located(prepared)[0], prepared.rows
    series = prepared.frame[[TIMESTAMP, *columns]]
    share = rows["train"] / (rows["train"] + rows["val"])
    out = []
    for origin in fold_origins(rows, folds):
        frame, stats = fold_frame(series, columns, origin, rows["test"], share, prepared.stats.per_window)
        try:
            out.append(fold_series(frame, stats, columns, spec, prepared.series))
        except UnusableSeries:  # too few rows before this origin for one window per split
            continue
    return out


def train_folds(per_series: list[list[PreparedSeries]], config: TrainConfig) -> list[list[TrainedModel]]:
    """The models of each series' folds (oldest first; each with its series' own seed), trained together
    `train.stack` at a time: all at once, or, with `train.warm_start_folds`, round by round (every series'
    oldest fold, then each next fold from the weights of the one before it)."""
    if not config.warm_start_folds:
        trained = iter(train_models([[fold] for chosen in per_series for fold in chosen], config))
        return [[next(trained) for _ in chosen] for chosen in per_series]
    out: list[list[TrainedModel]] = [[] for _ in per_series]
    for round_ in range(max(map(len, per_series), default=0)):
        members = [i for i, chosen in enumerate(per_series) if len(chosen) > round_]
        starts = [out[i][-1].final_weights() if round_ else None for i in members]
        trained = train_models([[per_series[i][round_]] for i in members], config, starts=starts)
        for i, model in zip(members, trained, strict=True):
            out[i].append(model)
    return out


def backtest_many(prepared: list[PreparedSeries], config: TrainConfig, folds: int) -> list[Backtest]:
    """The rolling-origin folds of located series (per-series models of `config`, `train_folds`); folds too
    short to train are left out and counted in `note`."""
    per_series = [series_folds(p, folds) for p in prepared]
    models = train_folds(per_series, config)
    out = []
    with keras_session():
        for series, chosen, trained in zip(prepared, per_series, models, strict=True):
            results = [score_fold(fold, model) for fold, model in zip(chosen, trained, strict=True)]
            missing = folds - len(results)
            note = f"{missing} fold(s) left out: too few rows before their origin" if missing else ""
            residuals = residual_sample(np.concatenate([np.empty(0), *(r for _, r in results)]))
            out.append(Backtest(series=series.series, folds=[f for f, _ in results], note=note, residuals=residuals))
    return out


def backtest_series(prepared: PreparedSeries, config: TrainConfig, folds: int) -> Backtest:
    """`backtest_many` of one series."""
    return backtest_many([prepared], config, folds)[0]


def run_backtest(
    windows: WindowResult, normalized: NormalizeResult, config: TrainConfig, folds: int, out_dir: Path
) -> Backtest:
    """`backtest_series` of one cached series, written to `out_dir/backtest.json` atomically."""
    return run_backtests([(windows, normalized, out_dir)], config, folds)[0]


def run_backtests(
    series: Sequence[tuple[WindowResult, NormalizeResult, Path]], config: TrainConfig, folds: int
) -> list[Backtest]:
    """`backtest_many` of cached series, each written to its (windows, normalized, output folder)'s
    `backtest.json` atomically."""
    backtests = backtest_many([load_prepared(n, w) for w, n, _ in series], config, folds)
    for backtest, (*_, out_dir) in zip(backtests, series, strict=True):
        with stage_output(out_dir) as tmp:
            atomic_write_json(tmp / "backtest.json", backtest.model_dump())
    return backtests
