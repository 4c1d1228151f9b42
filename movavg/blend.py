"""Combining a model with a naive forecast: the weight fitted on the validation windows, so the combination is
a candidate like any other (the gate scores it on the test windows, which never chose it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from movavg.bundle import BundleSpec
from movavg.forecast import score_frame
from movavg.naive import NaiveForecast, NaiveSpec, naive_errors
from movavg.schema import SPLIT, NaiveBlend
from movavg.series import PreparedSeries
from movavg.windowing import located, rows_for_targets

if TYPE_CHECKING:
    import keras

WEIGHTS = np.linspace(0.0, 1.0, 21)  # the model's weights tried


def best_weight(actual: np.ndarray, model: np.ndarray, naive: np.ndarray) -> float:
    """The weight w of WEIGHTS whose w x model + (1 - w) x naive has the lowest MAE against `actual` (all (m,));
    on a tie the larger (more of the model)."""
    errors = np.abs(WEIGHTS[:, None] * model[None, :] + (1 - WEIGHTS[:, None]) * naive[None, :] - actual[None, :])
    mae = errors.mean(axis=1)
    return float(WEIGHTS[np.flatnonzero(mae <= mae.min() + 1e-12)[-1]])


def fit_blend(model: keras.Model, bundle: BundleSpec, prepared: PreparedSeries) -> NaiveBlend | None:
    """The blend of a `model`'s (fed by `bundle`) forecast of one of its series with the naive forecast that has
    the lowest MAE on the series' validation windows, weighted by `best_weight` there; None without validation
    windows or where the model's forecasts are not finite. Call inside `keras_session()`."""
    spec, rows = located(prepared)[0], prepared.rows
    before_test = prepared.frame.iloc[: rows["train"] + rows["val"]]
    frame = rows_for_targets(before_test, rows["train"], spec)  # from the first val window's inputs to the val's end
    windows = score_frame(model, bundle, prepared.series, frame)
    val = windows[frame[SPLIT].to_numpy()[windows["target_row"].to_numpy()] == "val"]
    if val.empty or not np.isfinite(val["predicted"]).all():
        return None
    target, ends = frame[prepared.columns[0]].to_numpy(dtype="float64"), val["target_row"].to_numpy() - spec.horizon
    errors = naive_errors(target, ends, spec)
    best = min(errors, key=errors.__getitem__)
    naive = NaiveForecast(NaiveSpec.parse(best), spec).predict(target, ends)
    return NaiveBlend(naive=best, weight=best_weight(val["actual"].to_numpy(), val["predicted"].to_numpy(), naive))
