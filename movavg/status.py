"""Where every series stands: its data, its champion and the last run's outcome (`movavg status`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from movavg.rawstore import raw_parts
from movavg.registry import current_champion, history, metrics_of
from movavg.schema import SERIES, TIMESTAMP, RunSummary
from movavg.storage import atomic_write_json, read_json, utc_now

LAST_RUN = Path("runs") / "last.json"


def record_run(artifacts_dir: Path, summary: RunSummary) -> None:
    """Remember each series' outcome of this run (series it did not touch keep their earlier outcome)."""
    path = artifacts_dir / LAST_RUN
    earlier = read_json(path)["series"] if path.exists() else {}
    now = utc_now()
    outcomes = {o.series: {"status": o.status, "message": o.message, "at": now} for o in summary.series}
    atomic_write_json(path, {"at": now, "message": summary.message, "series": {**earlier, **outcomes}})


def data_summary(raw_dir: Path) -> pd.DataFrame:
    """Per series: rows ingested (after the later file won) and the newest timestamp; index: series id."""
    parts = [pq.read_table(part, columns=[SERIES, TIMESTAMP]).to_pandas() for part in raw_parts(raw_dir)]
    if not parts:
        return pd.DataFrame({"rows": pd.Series(dtype=int), "newest": pd.Series(dtype=object)})
    rows = pd.concat(parts).drop_duplicates([SERIES, TIMESTAMP])
    return rows.groupby(SERIES)[TIMESTAMP].agg(rows="count", newest="max")


def series_status(data_dir: Path, artifacts_dir: Path, series: str | None = None) -> list[dict[str, Any]]:
    """One entry per series with data or a champion: rows, newest data, champion version and kind, its test
    MAE vs the better naive baseline, when it was published, and the last run's outcome."""
    data = data_summary(data_dir / "raw")
    last = read_json(artifacts_dir / LAST_RUN)["series"] if (artifacts_dir / LAST_RUN).exists() else {}
    names = sorted(set(data.index) | set(last)) if series is None else [series]
    return [_one(name, data, last.get(name), artifacts_dir) for name in names]


def _one(name: str, data: pd.DataFrame, last: dict[str, Any] | None, artifacts_dir: Path) -> dict[str, Any]:
    champion = current_champion(artifacts_dir, name)
    entry: dict[str, Any] = {
        "series": name, "rows": int(data.loc[name, "rows"]) if name in data.index else 0,
        "newest": data.loc[name, "newest"].isoformat() if name in data.index else None,
        "champion": champion.version if champion else None, "kind": None, "mae": None, "baseline_mae": None,
        "published": None, "last_run": last}
    if champion is not None:
        folder = Path(champion.path)
        trained_for = read_json(folder / "run.json").get("trained_for", [name])
        metrics = metrics_of(folder)[name]
        entry |= {"kind": "LSTM" if len(trained_for) == 1 else f"global LSTM ({len(trained_for)} series)",
                  "mae": metrics["mae"], "baseline_mae": metrics["baseline_mae"],
                  "published": history(artifacts_dir, name)[-1]["since"]}
    return entry
