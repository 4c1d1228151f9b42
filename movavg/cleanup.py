"""A project back to before its first run: what the pipeline wrote is removed, and the input files it moved
(into `processed/` and `quarantine/`) go back to `incoming/`, so nothing a user brought is lost.

Written by the pipeline, and removed: `raw/`, `cache/`, `ledger.jsonl` and the quarantine's `.reason.json` and
`.rows.csv` records in the data folder; `models/`, `champions/` (with `--keep-models` these two stay: the
registry), `forecasts/`, `live/`, `runs/` and the single-series layout's `champion.json` and `history.jsonl` in
the artifacts folder. Nothing else is touched (a README beside them, a user's own files, a folder someone put
into `processed/` or `quarantine/`: ingest never moves one there).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from movavg.lock import run_lock

DATA_WRITTEN = ("raw", "cache", "ledger.jsonl")
REGISTRY = ("models", "champions", "champion.json", "history.jsonl")
ARTIFACTS_WRITTEN = ("forecasts", "live", "runs")
RECORD_SUFFIXES = (".reason.json", ".rows.csv")  # what ingest writes beside a quarantined file
MOVED_BY_INGEST = ("processed", "quarantine")


@dataclass
class CleanPlan:
    """What `clean` removes and which input files it moves back to `incoming/` (source, target)."""

    remove: list[Path] = field(default_factory=list)
    restore: list[tuple[Path, Path]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.remove and not self.restore


def clean_plan(data_dir: Path, artifacts_dir: Path, keep_models: bool = False) -> CleanPlan:
    """What `clean` would do to the project of `data_dir` and `artifacts_dir`; changes nothing."""
    plan = CleanPlan()
    plan.remove += [data_dir / name for name in DATA_WRITTEN if (data_dir / name).exists()]
    written = ARTIFACTS_WRITTEN if keep_models else (*REGISTRY, *ARTIFACTS_WRITTEN)
    plan.remove += [artifacts_dir / name for name in written if (artifacts_dir / name).exists()]
    taken: set[Path] = set()
    for folder in (data_dir / name for name in MOVED_BY_INGEST):
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            if path.is_dir():
                continue  # not the pipeline's: left where it is
            if path.name.endswith(RECORD_SUFFIXES):
                plan.remove.append(path)
            else:
                target = _free_target(data_dir / "incoming" / path.name, taken)
                taken.add(target)
                plan.restore.append((path, target))
    return plan


def _free_target(path: Path, taken: set[Path]) -> Path:
    """`path`, or `path` with a numeric suffix where a file (or an earlier restore) has that name."""
    candidate, counter = path, 1
    while candidate.exists() or candidate.is_symlink() or candidate in taken:
        candidate = path.with_name(f"{path.stem}.{counter}{path.suffix}")
        counter += 1
    return candidate


def clean(data_dir: Path, artifacts_dir: Path, keep_models: bool = False) -> CleanPlan:
    """Carry out `clean_plan` under the run lock (a run in progress makes this fail with RunLockedError): input
    files move back first, then what the pipeline wrote is removed. Returns what was done."""
    with run_lock([data_dir, artifacts_dir]):
        plan = clean_plan(data_dir, artifacts_dir, keep_models)
        for source, target in plan.restore:
            target.parent.mkdir(parents=True, exist_ok=True)
            source.rename(target)
        for path in plan.remove:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        for folder in (data_dir / name for name in MOVED_BY_INGEST):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    return plan
