"""Where every series stands: its data, its champion and the last run's outcome (`movavg status`); and
whether a new run could change anything at all (the CLI's fast no-op path)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pandas as pd

from movavg.bundle import bundle_intact
from movavg.ingest import partial_download, pending_files, waiting_reason
from movavg.monitor import STATE_ORDER, previous_health, worst_first
from movavg.rawstore import fingerprint, index_summary
from movavg.registry import (
    DamagedState,
    champion_state,
    check_version,
    history,
    history_problem,
    metrics_of,
    models_dir,
    read_record,
    version_label,
)
from movavg.report import no_new_data, summary_line
from movavg.schema import IngestResult, RunSummary, Skipped
from movavg.storage import atomic_write_json, read_json, sha256_file, stable_hash, utc_now

LAST_RUN = Path("runs") / "last.json"


def record_run(artifacts_dir: Path, summary: RunSummary, key: str | None) -> None:
    """Remember each series' outcome of this run (series it did not touch keep their earlier outcome) and,
    for a complete run, its `run_key` and the line an identical rerun would end with (`nothing_to_do`)."""
    path = artifacts_dir / LAST_RUN
    earlier = last_outcomes(artifacts_dir)
    now = utc_now()
    outcomes = {
        o.series: {"status": o.status, "message": o.message, "at": now, "champion": o.champion_version}
        for o in summary.series
    }
    atomic_write_json(
        path,
        {
            "at": now,
            "message": summary.message,
            "series": {**earlier, **outcomes},
            "key": key,
            "replay": replay(summary) if key else None,
        },
    )


def last_run(artifacts_dir: Path) -> dict[str, Any]:
    """`runs/last.json`, or {} when there is none or it cannot be read (it is rewritten by the next run)."""
    try:
        return read_record(artifacts_dir / LAST_RUN) if (artifacts_dir / LAST_RUN).exists() else {}
    except DamagedState:
        return {}


def last_outcomes(artifacts_dir: Path) -> dict[str, Any]:
    """Each series' outcome in the runs that last touched it ({} when unknown)."""
    outcomes = last_run(artifacts_dir).get("series", {})
    return outcomes if isinstance(outcomes, dict) else {}


def data_summary(raw_dir: Path) -> pd.DataFrame:
    """Per series: distinct timestamps ingested and the newest one, from the store's index; index: series id."""
    summary = index_summary(raw_dir)
    return pd.DataFrame(
        {
            "rows": pd.Series({name: rows for name, (rows, _) in summary.items()}, dtype=int),
            "newest": pd.Series({name: pd.Timestamp(last) for name, (_, last) in summary.items()}, dtype=object),
        }
    )


def series_status(data_dir: Path, artifacts_dir: Path, series: str | None = None) -> list[dict[str, Any]]:
    """One entry per series with data or a champion, worst health first: rows, newest data, champion version
    and kind, its test MAE vs the better naive baseline, when it was published, the last run's outcome and its
    live health (`health`)."""
    data = data_summary(data_dir / "raw")
    last = last_outcomes(artifacts_dir)
    healths = previous_health(artifacts_dir)
    names = sorted(set(data.index) | set(last)) if series is None else [series]
    rows = [_one(name, data, last.get(name), artifacts_dir) for name in names]
    for row in rows:
        row["health"] = health_entry(row, healths.get(row["series"]))
        if row.pop("unloadable"):  # nothing can serve from it: said as such, and why
            row["health"] |= {"state": "no champion", "reasons": [row["problem"]]}
    return sorted(rows, key=lambda row: worst_first(row["health"]["state"], row["health"]["live_ratio"]))


HEALTH_FIELDS = (
    "live_mae",
    "live_baseline_mae",
    "live_ratio",
    "live_coverage",
    "live_windows",
    "age_steps",
    "age",
    "newest",
    "naive",
    "interval_margin",
    "reasons",
)


def health_entry(row: dict[str, Any], recorded: dict[str, Any] | None) -> dict[str, Any]:
    """A series' `health` in `status`: its state and live figures as the last run recorded them, for
    the champion serving it now (`publish_mae` is that champion's test MAE); a series no run has monitored
    yet is `ok` with no live figures, or `no champion`."""
    recorded = recorded if isinstance(recorded, dict) else {}
    state = recorded.get("state") if recorded.get("state") in STATE_ORDER else "ok"
    if row["champion"] is None:
        state = "no champion"
    elif state == "no champion":
        state = "ok"
    entry: dict[str, Any] = {"state": state, "publish_mae": row["mae"]}
    entry |= {
        key: recorded.get(key, 0 if key == "live_windows" else [] if key == "reasons" else None)
        for key in HEALTH_FIELDS
    }
    if recorded.get("version") not in (None, row["champion"]):  # promoted since: the figures are of the window
        entry["reasons"] = [*entry["reasons"], f"window scored before {row['champion']} became champion"]
    if state == "no champion":
        entry["reasons"] = entry["reasons"] or ["nothing serves it yet"]
    return entry


def _one(name: str, data: pd.DataFrame, last: dict[str, Any] | None, artifacts_dir: Path) -> dict[str, Any]:
    champion, problem = champion_state(artifacts_dir, name)
    problem = problem or history_problem(artifacts_dir, name)
    entry: dict[str, Any] = {
        "series": name,
        "rows": int(data.loc[name, "rows"]) if name in data.index else 0,
        "newest": data.loc[name, "newest"].isoformat() if name in data.index else None,
        "champion": champion.version if champion else None,
        "kind": None,
        "served_by": None,
        "ensemble": None,
        "blend": None,
        "mae": None,
        "baseline_mae": None,
        "best_naive": None,
        "published": None,
        "last_run": last,
        "problem": problem,
        "unloadable": False,
    }
    if champion is None:
        return entry
    if not champion.loadable:
        return entry | {"unloadable": True, "problem": unloadable_problem(champion.version)}
    try:
        entry |= _champion_figures(name, Path(champion.path), artifacts_dir)
    except (DamagedState, KeyError, TypeError, ValueError) as error:
        entry["problem"] = f"{champion.version}'s records cannot be read ({type(error).__name__}: {error})"
    return entry


def unloadable_problem(version: str) -> str:
    """Why a champion whose bundle is incomplete serves nothing, and what replaces it."""
    return (
        f"champion {version}'s model cannot be loaded (its files are incomplete or damaged): the next "
        "`movavg run` retrains the series and publishes a new champion, or `movavg promote` an earlier version"
    )


def _champion_figures(name: str, folder: Path, artifacts_dir: Path) -> dict[str, Any]:
    """What serves (`kind`, in words: `movavg.labels.serving_label`), the naive forecast that gated it, test MAEs
    and publish time of the champion in `folder`."""
    metrics = metrics_of(folder)[name]
    changes = history(artifacts_dir, name)
    return {
        "kind": version_label(folder, name, metrics),
        "served_by": metrics.get("kind", "lstm"),
        "ensemble": metrics.get("ensemble", 1),
        "blend": metrics.get("blend"),
        "mae": metrics["mae"],
        "baseline_mae": metrics["baseline_mae"],
        "best_naive": metrics.get("best_baseline") or None,
        "published": changes[-1].get("since") if changes else None,
    }


def pipeline_code() -> str:
    """Hash of the source of the whole pipeline (library, stage tasks, flow): any edit changes it."""
    digests = []
    for package in ("movavg", "movavg.tasks", "movavg.flows"):
        spec = importlib.util.find_spec(package)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            digests += [
                (str(path.relative_to(folder)), sha256_file(path)) for path in sorted(Path(folder).rglob("*.py"))
            ]
    return stable_hash(digests)


def run_key(run_config: dict[str, Any], raw_dir: Path, artifacts_dir: Path) -> str:
    """Everything a run's outcome depends on besides new files: config, code, ingested data, and each champion
    pointer with whether the model it names is still whole (a damaged champion makes a run replace it)."""
    pointers = sorted(
        (str(p.relative_to(artifacts_dir)), sha256_file(p), _names_whole_model(p, artifacts_dir))
        for p in [*artifacts_dir.glob("champions/*/champion.json"), *artifacts_dir.glob("champion.json")]
    )
    return stable_hash(run_config, pipeline_code(), fingerprint(raw_dir), pointers)


def _names_whole_model(pointer: Path, artifacts_dir: Path) -> bool:
    try:
        return bundle_intact(models_dir(artifacts_dir) / check_version(read_json(pointer)["version"]))
    except (ValueError, KeyError, TypeError, OSError):
        return False


def replay(summary: RunSummary) -> str:
    """The one line an identical rerun (no new file, nothing changed) ends with: published series are then
    unchanged, every other outcome repeats."""
    outcomes = [
        o.model_copy(update={"status": "unchanged", "message": no_new_data(o.champion_version)})
        if o.status == "published"
        else o
        for o in summary.series
    ]
    if len(outcomes) == 1:
        return outcomes[0].message
    skipped = [
        Skipped(series=o.series, stage=None, reason=o.message, failed=o.status == "failed")
        for o in outcomes
        if o.status in {"skipped", "failed"}
    ]
    return summary_line(outcomes, skipped)


def nothing_to_do(run_config: dict[str, Any], data_dir: Path, artifacts_dir: Path, settle_seconds: float) -> str | None:
    """The outcome line of the last run when a new run could change nothing (no file in incoming/ but ones named
    like partial downloads, which the line names; config, code, data and champions as the last complete run
    left them); None when a run is needed (a file still settling counts: the run waits for it)."""
    ready, waiting = pending_files(data_dir / "incoming", settle_seconds)
    if ready or any(not partial_download(path) for path in waiting):
        return None
    last = last_run(artifacts_dir)
    if not last or last.get("key") != run_key(run_config, data_dir / "raw", artifacts_dir) or not last.get("replay"):
        return None
    left = IngestResult(
        fingerprint="",
        raw_dir="",
        waiting=[path.name for path in waiting],
        waiting_why={path.name: waiting_reason(path, settle_seconds) for path in waiting},
    )
    return str(last["replay"]) + left.waiting_line()
