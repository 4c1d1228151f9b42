"""Model registry on disk: versions, one champion pointer and history per series.

    models/v<N>/                 model.keras, bundle.json, run.json (series, model key, created),
                                 metrics.json ({series: metrics}), series/<key>/ (predictions, plot)
    champions/<key>/champion.json  {"series", "version", "model_key", "since", "reason"}; replaced atomically
    champions/<key>/history.jsonl  one line per champion change of that series (publish or promote)

Versions count up once per artifacts folder, whatever the series. `<key>` is `series_key(series)`: a safe
path component that no two series ids share. A champion switch is a compare-and-swap on the pointer under
its own lock, so a promote racing a publish never loses either change. Artifacts written before many
series were modelled (one root `champion.json`, flat `metrics.json`) are read as their series' entries.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from movavg.lock import folder_lock, run_lock
from movavg.schema import ChampionRef
from movavg.storage import append_jsonl, atomic_write_json, read_json, read_jsonl, safe_name, sha256_bytes, utc_now

VERSION_PATTERN = re.compile(r"^v(\d+)$")
POINTER = "champion.json"
HISTORY = "history.jsonl"
POINTER_LOCK_SECONDS = 30.0


class ChampionChangedError(RuntimeError):
    """The champion changed between reading it and switching it; nothing was written."""


def series_key(series: str) -> str:
    """A safe, unique folder name for a series id: a readable prefix plus a hash of the whole id."""
    return f"{safe_name(series, limit=60)}-{sha256_bytes(series.encode())[:10]}"


def models_dir(artifacts_dir: Path) -> Path:
    """Where the published versions live."""
    return artifacts_dir / "models"


def champion_dir(artifacts_dir: Path, series: str) -> Path:
    """Where one series' champion pointer and history live."""
    return artifacts_dir / "champions" / series_key(series)


def version_numbers(artifacts_dir: Path) -> list[int]:
    """Published version numbers, ascending (temp folders of unfinished publishes are ignored)."""
    folder = models_dir(artifacts_dir)
    if not folder.exists():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := VERSION_PATTERN.match(p.name)))


def next_version(artifacts_dir: Path) -> str:
    """The version name the next publish gets."""
    return f"v{max(version_numbers(artifacts_dir), default=0) + 1}"


def check_version(version: str) -> str:
    """`version` if it is a version name (v<N>); anything else, a path in particular, is refused."""
    if not VERSION_PATTERN.match(version):
        raise ValueError(f"{version!r} is not a version name such as v3; see `movavg models`")
    return version


def metrics_of(version_dir: Path) -> dict[str, dict[str, Any]]:
    """{series: metrics} of a published version folder (one of the one-series layout has one entry)."""
    metrics = read_json(version_dir / "metrics.json")
    if "mae" in metrics:  # written before many series were modelled: one series, named in run.json
        return {read_json(version_dir / "run.json").get("series", "default"): metrics}
    return metrics


def version_metrics(artifacts_dir: Path, version: str) -> dict[str, dict[str, Any]]:
    """{series: metrics} of a published version."""
    return metrics_of(models_dir(artifacts_dir) / check_version(version))


def series_files(version_dir: Path, series: str) -> Path:
    """The folder of a version holding one series' predictions and plot (the version folder itself in the
    one-series layout)."""
    folder = version_dir / "series" / series_key(series)
    return folder if folder.exists() else version_dir


def current_champion(artifacts_dir: Path | str, series: str) -> ChampionRef | None:
    """The champion of `series`, or None before its first publish."""
    artifacts_dir = Path(artifacts_dir)
    pointer = champion_dir(artifacts_dir, series) / POINTER
    if not pointer.exists():
        pointer = artifacts_dir / POINTER  # the one-series layout
        if not pointer.exists() or series not in version_metrics(artifacts_dir, read_json(pointer)["version"]):
            return None
    record = read_json(pointer)
    path = models_dir(artifacts_dir) / check_version(record["version"])
    return ChampionRef(series=series, version=record["version"], model_key=record["model_key"], path=str(path))


def set_champion(artifacts_dir: Path, series: str, version: str, reason: str, expected: str | None) -> None:
    """Point `series` at `version` if its champion is still `expected` (compare-and-swap), atomically, and
    record the change in its history. A promote of the current champion changes nothing."""
    folder = models_dir(artifacts_dir) / check_version(version)
    if not (folder / "metrics.json").exists():
        raise ValueError(f"no published model {version!r}; see `movavg models` for the versions there are")
    if series not in version_metrics(artifacts_dir, version):
        raise ValueError(f"{version} was not published for series {series!r}; see `movavg models --series`")
    target = champion_dir(artifacts_dir, series)
    with folder_lock(target, POINTER_LOCK_SECONDS):
        current = current_champion(artifacts_dir, series)
        now = current.version if current else None
        if now != expected:
            raise ChampionChangedError(f"the champion of {series!r} changed to {now} meanwhile; nothing was switched")
        if now == version:
            return
        record = {"series": series, "version": version, "model_key": read_json(folder / "run.json")["model_key"],
                  "since": utc_now(), "reason": reason}
        atomic_write_json(target / POINTER, record)
        append_jsonl(target / HISTORY, {**record, "previous": now})


def promote(artifacts_dir: Path, version: str, series: str | None = None, wait_seconds: float = 60.0) -> list[str]:
    """Make `version` champion of `series` (default: every series it was published for), under the run
    lock so a promote never interleaves with a run's publish; returns the series switched."""
    if not (models_dir(artifacts_dir) / check_version(version) / "metrics.json").exists():
        raise ValueError(f"no published model {version!r}; see `movavg models` for the versions there are")
    names = [series] if series is not None else sorted(version_metrics(artifacts_dir, version))
    with run_lock([artifacts_dir], wait_seconds):
        for name in names:
            current = current_champion(artifacts_dir, name)
            set_champion(artifacts_dir, name, version, f"promoted by hand to {version}",
                         current.version if current else None)
    return names


def history(artifacts_dir: Path, series: str) -> list[dict[str, Any]]:
    """Champion changes of one series, oldest first (with those of the one-series layout before them)."""
    legacy = [h for h in read_jsonl(artifacts_dir / HISTORY)
              if series in version_metrics(artifacts_dir, h["version"])] if (artifacts_dir / HISTORY).exists() else []
    return legacy + read_jsonl(champion_dir(artifacts_dir, series) / HISTORY)


def list_versions(artifacts_dir: Path, series: str | None = None) -> list[dict[str, Any]]:
    """One row per (version, series): created, metrics, and whether it is that series' champion."""
    rows, champions = [], {}
    for number in version_numbers(artifacts_dir):
        version = f"v{number}"
        created = read_json(models_dir(artifacts_dir) / version / "run.json")["created"]
        for name, metrics in sorted(version_metrics(artifacts_dir, version).items()):
            if series is not None and name != series:
                continue
            if name not in champions:
                champions[name] = current_champion(artifacts_dir, name)
            champion = champions[name]
            rows.append({"version": version, "series": name, "created": created, "metrics": metrics,
                         "champion": champion is not None and champion.version == version})
    return rows


LISTED_METRICS = ("mae", "rmse", "baseline_mae", "train_seconds", "epochs_run", "train_windows", "test_windows",
                  "kind", "best_baseline", "interval", "backtest")


def listing(artifacts_dir: Path, series: str | None = None) -> list[dict[str, Any]]:
    """What `movavg models --json` prints: one entry per (version, series) with its key metrics."""
    return [{"version": row["version"], "series": row["series"], "created": row["created"],
             "champion": row["champion"],
             "metrics": {key: row["metrics"].get(key, "lstm" if key == "kind" else None) for key in LISTED_METRICS}}
            for row in list_versions(artifacts_dir, series)]


def registry_rows(artifacts_dir: Path, series: str | None = None) -> list[dict[str, Any]]:
    """`list_versions` flattened for tables: version, series, created, mae, rmse, baseline_mae, champion."""
    return [{"version": row["version"], "series": row["series"], "created": row["created"],
             "mae": row["metrics"]["mae"], "rmse": row["metrics"]["rmse"],
             "baseline_mae": row["metrics"]["baseline_mae"], "champion": row["champion"],
             "kind": row["metrics"].get("kind", "lstm")}
            for row in list_versions(artifacts_dir, series)]
