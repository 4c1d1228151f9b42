"""Model bundles: a saved Keras model plus the versioned spec needed to feed it.

A bundle folder holds `model.keras` and `bundle.json`. The spec is this module's own record (format
version, columns, scaler statistics, window offsets, and the training settings as plain data), not the
live config classes, so renaming a config field never makes a published model unreadable. Bundles of
format 1 (one series, written before the spec had a version) are read by `read_spec` and upgraded in memory.
Models load with Keras safe mode on, so a `.keras` file cannot run arbitrary code.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from movavg.scaling import ScalerStats
from movavg.schema import NaiveBlend, WindowSpec
from movavg.storage import atomic_write_json, parsed_once, read_json

if TYPE_CHECKING:
    import keras

MODEL_FILE = "model.keras"
BUNDLE_FILE = "bundle.json"
BUNDLE_FORMAT = 5  # 3: seasons, calendar, residual, baseline bundles; 4: seasonal profiles, ensembles, blends;
# 5: the series' frequency (`WindowSpec.frequency`, `SeasonProfile.frequency`)


class BundleSpec(BaseModel):
    """What a model needs besides its weights: inputs, scaling per series and the target it predicts.

    A per-series model has one series; a global model every series it was trained on, each with the
    scaler statistics of its own train slice.
    """

    model_config = ConfigDict(extra="ignore")

    format: int = BUNDLE_FORMAT
    kind: Literal["model", "baseline"] = "model"  # a baseline bundle has no model.keras
    series: list[str]
    columns: list[str]
    stats: dict[str, ScalerStats]
    window: WindowSpec
    train: dict[str, Any]  # the training settings it was built with, for the record
    windows: dict[str, WindowSpec] = {}  # per series, where it differs from `window` (its seasons, its residual)
    baselines: dict[str, str] = {}  # per series, the naive forecast a baseline bundle serves
    blends: dict[str, NaiveBlend] = {}  # per series, the naive forecast a model's is combined with

    def window_for(self, series: str) -> WindowSpec:
        """The window spec of `series`."""
        return self.windows.get(series, self.window)

    def stats_for(self, series: str) -> ScalerStats:
        """The scaler statistics of `series`; a model was never fitted for a series it has none for."""
        if series not in self.stats:
            raise ValueError(f"the model was not trained for series {series!r}")
        return self.stats[series]

    def same_target(self, other: BundleSpec) -> bool:
        """True when both models predict the same quantity (column, MA length, horizon)."""
        return (self.columns[0], self.window.ma_window, self.window.horizon) == (
            other.columns[0],
            other.window.ma_window,
            other.window.horizon,
        )


def baseline_bundle(windows: dict[str, WindowSpec], columns: list[str], baselines: dict[str, str]) -> BundleSpec:
    """The spec of a bundle in which, for each series (its window spec in `windows`), the naive forecast named
    in `baselines` is the model."""
    return BundleSpec(
        kind="baseline",
        series=list(windows),
        columns=columns,
        stats={},
        window=next(iter(windows.values())),
        train={},
        windows=windows,
        baselines=baselines,
    )


def upgrade(record: dict[str, Any]) -> dict[str, Any]:
    """A `bundle.json` record of any known format, in the current format."""
    version = record.get("format", 1)
    if version > BUNDLE_FORMAT:
        raise ValueError(f"bundle format {version} is newer than this movavg reads ({BUNDLE_FORMAT}): upgrade movavg")
    if version == 1:  # one series: "series" a string and "stats" that series' statistics (format 2 only adds fields)
        record = {**record, "series": [record["series"]], "stats": {record["series"]: record["stats"]}}
    return {**record, "format": BUNDLE_FORMAT}


def read_spec(folder: Path) -> BundleSpec:
    """The spec of the bundle in `folder`, upgraded to the current format; parsed once per version of the file
    and shared (`movavg.storage.parsed_once`): do not change it."""
    return parsed_once(folder / BUNDLE_FILE, lambda path: BundleSpec.model_validate(upgrade(read_json(path))))


def save_bundle(model: keras.Model | None, spec: BundleSpec, folder: Path) -> None:
    """Write `model.keras` (none for a baseline bundle) and `bundle.json` into `folder` (call inside an atomic
    folder)."""
    if model is not None:
        model.save(folder / MODEL_FILE)
    atomic_write_json(folder / BUNDLE_FILE, spec.model_dump(mode="json"))


KERAS_MEMBERS = ("config.json", "metadata.json")  # and the weights, in one of WEIGHTS_MEMBERS
WEIGHTS_MEMBERS = ("model.weights.h5", "model.weights.npz")


def bundle_intact(folder: Path) -> bool:
    """Cheap check that a bundle's files are there and whole: the .keras file is a zip archive holding what
    Keras loads (config, metadata, weights) with every member's checksum right; a baseline bundle has none.
    A model only Keras can judge further (weights of another shape) fails at load, where callers catch it."""
    if not (folder / BUNDLE_FILE).exists():
        return False
    model = folder / MODEL_FILE
    if not model.exists():
        return _is_baseline(folder)
    return keras_archive_whole(model)


def keras_archive_whole(path: Path) -> bool:
    """`path` is a zip with Keras's config, metadata and weights, none of them torn (CRC checked)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            complete = set(KERAS_MEMBERS) <= names and bool(names & set(WEIGHTS_MEMBERS))
            return complete and archive.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return False


def _is_baseline(folder: Path) -> bool:
    try:
        return read_json(folder / BUNDLE_FILE).get("kind") == "baseline"
    except (OSError, ValueError):
        return False


def load_bundle(folder: Path) -> tuple[keras.Model | None, BundleSpec]:
    """Load `model.keras` (safe mode) and its spec from a bundle folder; no model for a baseline bundle."""
    spec = read_spec(folder)
    if spec.kind == "baseline":
        return None, spec
    import keras

    model = keras.saving.load_model(folder / MODEL_FILE, safe_mode=True, compile=False)
    return model, spec
