"""Model registry on disk: versions under `<artifacts>/models/`, the champion pointer, its history.

    models/v<N>/          model.keras, bundle.json, metrics.json, run.json, forecast_vs_actual.png
    champion.json         {"version", "model_key", "since", "reason"}; replaced atomically
    history.jsonl         one line per champion change (publish or promote)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from movavg.schema import ChampionRef
from movavg.storage import append_jsonl, atomic_write_json, read_json, read_jsonl, utc_now

VERSION_PATTERN = re.compile(r"^v(\d+)$")


def models_dir(artifacts_dir: Path) -> Path:
    """Where the published versions live."""
    return artifacts_dir / "models"


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


def current_champion(artifacts_dir: Path | str) -> ChampionRef | None:
    """The champion named by `champion.json`, or None before the first publish."""
    pointer = Path(artifacts_dir) / "champion.json"
    if not pointer.exists():
        return None
    record = read_json(pointer)
    path = models_dir(Path(artifacts_dir)) / check_version(record["version"])
    return ChampionRef(version=record["version"], model_key=record["model_key"], path=str(path))


def set_champion(artifacts_dir: Path, version: str, reason: str) -> None:
    """Point `champion.json` at `version` atomically and record the change in `history.jsonl`."""
    folder = models_dir(artifacts_dir) / check_version(version)
    if not (folder / "metrics.json").exists():
        raise ValueError(f"no published model {version!r}; see `movavg models` for the versions there are")
    previous = current_champion(artifacts_dir)
    run = read_json(folder / "run.json")
    record = {"version": version, "model_key": run["model_key"], "since": utc_now(), "reason": reason}
    atomic_write_json(artifacts_dir / "champion.json", record)
    append_jsonl(artifacts_dir / "history.jsonl", {**record, "previous": previous.version if previous else None})


def list_versions(artifacts_dir: Path) -> list[dict[str, Any]]:
    """Every published version with its creation time, metrics and whether it is champion."""
    champion = current_champion(artifacts_dir)
    rows = []
    for number in version_numbers(artifacts_dir):
        version = f"v{number}"
        folder = models_dir(artifacts_dir) / version
        run = read_json(folder / "run.json")
        rows.append({
            "version": version,
            "created": run["created"],
            "metrics": read_json(folder / "metrics.json"),
            "champion": champion is not None and champion.version == version,
        })
    return rows


def registry_rows(artifacts_dir: Path) -> list[dict[str, Any]]:
    """`list_versions` flattened for tables: version, created, mae, rmse, baseline_mae, champion."""
    return [{"version": row["version"], "created": row["created"], "mae": row["metrics"]["mae"],
             "rmse": row["metrics"]["rmse"], "baseline_mae": row["metrics"]["baseline_mae"],
             "champion": row["champion"]} for row in list_versions(artifacts_dir)]


def history(artifacts_dir: Path) -> list[dict[str, Any]]:
    """Champion changes, oldest first."""
    return read_jsonl(artifacts_dir / "history.jsonl")
