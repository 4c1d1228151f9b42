"""Model registry on disk: versions, one champion pointer and history per series.

    models/v<N>/                 model.keras, bundle.json, run.json (series, model key, created),
                                 metrics.json ({series: metrics}), series/<key>/ (predictions, plot)
    champions/<key>/champion.json  {"series", "version", "model_key", "since", "reason"}; replaced atomically
    champions/<key>/history.jsonl  one line per champion change of that series (publish or promote)

Versions count up once per artifacts folder, whatever the series. `<key>` is `series_key(series)`: a safe
path component that no two series ids share. A champion switch is a compare-and-swap on the pointer under
its own lock, so a promote racing a publish never loses either change. Artifacts written before many
series were modelled (one root `champion.json`, flat `metrics.json`) are read as their series' entries.

Damaged state stops only its own series: a pointer that cannot be read is rebuilt from the newest line of the
series' history that names a readable version (the pointer is derived from the history), or else the series
has no usable champion; a version whose files cannot be read is left out of listings. `champion_problem` says
what is wrong, for `status`, `models` and the run's line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from movavg.bundle import bundle_intact
from movavg.labels import metrics_label
from movavg.lock import folder_lock, run_lock
from movavg.schema import ChampionRef
from movavg.storage import (
    append_jsonl,
    atomic_write_json,
    parsed_once,
    read_json,
    read_jsonl,
    safe_name,
    sha256_bytes,
    utc_now,
)

VERSION_PATTERN = re.compile(r"^v(\d+)$")
POINTER = "champion.json"
HISTORY = "history.jsonl"
POINTER_LOCK_SECONDS = 30.0


class DamagedState(ValueError):
    """A file of the registry that cannot be read; the message names it and why."""


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


def read_record(path: Path) -> dict[str, Any]:
    """A registry JSON object; DamagedState when it is missing, torn, not JSON or not an object."""
    try:
        record = read_json(path)
    except (OSError, ValueError) as error:
        raise DamagedState(f"{path} cannot be read ({type(error).__name__})") from None
    if not isinstance(record, dict):
        raise DamagedState(f"{path} is not a JSON object")
    return record


def metrics_of(version_dir: Path) -> dict[str, dict[str, Any]]:
    """{series: metrics} of a published version folder (one of the one-series layout has one entry); parsed
    once per version of the file and shared (`movavg.storage.parsed_once`): do not change it."""
    try:
        metrics = parsed_once(version_dir / "metrics.json", read_record)
    except OSError:
        metrics = read_record(version_dir / "metrics.json")  # raises DamagedState naming the file
    if "mae" in metrics:  # written before many series were modelled: one series, named in run.json
        return {read_record(version_dir / "run.json").get("series", "default"): metrics}
    return metrics


def version_label(version_dir: Path, series: str, metrics: dict[str, Any] | None = None) -> str:
    """What the published version in `version_dir` serves `series` with, in words (`movavg.labels.metrics_label`;
    a global model names its series count); `metrics`: that series' record when already read. DamagedState,
    KeyError when its records cannot say."""
    metrics = metrics_of(version_dir)[series] if metrics is None else metrics
    if metrics.get("kind", "lstm") != "lstm":
        return metrics_label(metrics)
    trained_for = read_record(version_dir / "run.json").get("trained_for", [series])
    return metrics_label(metrics, len(trained_for) if isinstance(trained_for, list) else 1)


def champion_label(champion: ChampionRef | None, metrics: dict[str, Any] | None = None) -> str:
    """`version_label` of a champion; "" without one or when its records cannot be read."""
    return "" if champion is None else readable_label(Path(champion.path), champion.series, "", metrics)


def readable_label(version_dir: Path, series: str, unreadable: str, metrics: dict[str, Any] | None = None) -> str:
    """`version_label`, or `unreadable` when the version's records cannot say."""
    try:
        return version_label(version_dir, series, metrics)
    except (DamagedState, KeyError, TypeError, ValueError):
        return unreadable


def version_metrics(artifacts_dir: Path, version: str) -> dict[str, dict[str, Any]]:
    """{series: metrics} of a published version."""
    return metrics_of(models_dir(artifacts_dir) / check_version(version))


def series_files(version_dir: Path, series: str) -> Path:
    """The folder of a version holding one series' predictions and plot (the version folder itself in the
    one-series layout)."""
    folder = version_dir / "series" / series_key(series)
    return folder if folder.exists() else version_dir


def current_champion(artifacts_dir: Path | str, series: str) -> ChampionRef | None:
    """The champion of `series`: None before its first publish, or when neither its pointer nor its history
    names a readable version (see `champion_problem`)."""
    return champion_state(Path(artifacts_dir), series)[0]


def champion_problem(artifacts_dir: Path | str, series: str) -> str | None:
    """What is wrong with the champion state of `series` (None when nothing is), in one line."""
    return champion_state(Path(artifacts_dir), series)[1]


def champion_state(artifacts_dir: Path, series: str) -> tuple[ChampionRef | None, str | None]:
    """(`current_champion`, `champion_problem`) of `series`, from one read of its pointer and history."""
    pointer = champion_dir(artifacts_dir, series) / POINTER
    if not pointer.exists():
        return _legacy_champion(artifacts_dir, series), None
    try:
        return _ref(artifacts_dir, series, read_record(pointer)), None
    except DamagedState as problem:
        damage = str(problem)
    for line in reversed(read_jsonl(champion_dir(artifacts_dir, series) / HISTORY)):
        try:
            ref = _ref(artifacts_dir, series, line)
        except DamagedState:
            continue
        return ref, f"champion pointer damaged ({damage}); serving {ref.version}, the newest in its history"
    return None, f"champion pointer damaged ({damage}) and no readable version in its history: no usable champion"


def _ref(artifacts_dir: Path, series: str, record: dict[str, Any]) -> ChampionRef:
    """The champion a pointer (or history line) names, once it names a published version (one with metrics)."""
    try:
        version, model_key = check_version(str(record["version"])), str(record["model_key"])
    except (KeyError, ValueError) as error:
        raise DamagedState(f"champion record without a valid version ({type(error).__name__}: {error})") from None
    if not (models_dir(artifacts_dir) / version / "metrics.json").is_file():
        raise DamagedState(f"{version} is not a published version (no metrics.json)")
    folder = models_dir(artifacts_dir) / version
    return ChampionRef(
        series=series, version=version, model_key=model_key, path=str(folder), loadable=bundle_intact(folder)
    )


def _legacy_champion(artifacts_dir: Path, series: str) -> ChampionRef | None:
    """The champion of the one-series layout (a root `champion.json`), if it names a version holding `series`."""
    if not (artifacts_dir / POINTER).exists():
        return None
    try:
        ref = _ref(artifacts_dir, series, read_record(artifacts_dir / POINTER))
        return ref if series in metrics_of(Path(ref.path)) else None
    except DamagedState:
        return None


def repair_pointer(artifacts_dir: Path, series: str) -> bool:
    """Rewrite a damaged pointer from the history line `current_champion` serves (call under the run lock);
    the damaged file is kept beside it. Returns whether it repaired one."""
    champion, problem = champion_state(artifacts_dir, series)
    if champion is None or problem is None:
        return False
    target = champion_dir(artifacts_dir, series)
    with folder_lock(target, POINTER_LOCK_SECONDS):
        (target / POINTER).replace(target / f"{POINTER}.damaged")
        line = next(h for h in reversed(read_jsonl(target / HISTORY)) if h.get("version") == champion.version)
        atomic_write_json(
            target / POINTER,
            {
                key: line[key]
                for key in ("series", "version", "model_key", "since", "reason", "first_origin")
                if key in line
            },
        )
    return True


def set_champion(
    artifacts_dir: Path,
    series: str,
    version: str,
    reason: str,
    expected: str | None,
    first_origin: str | None = None,
    by_hand: bool = False,
) -> None:
    """Point `series` at `version` if its champion is still `expected` (compare-and-swap), atomically, and
    record the change in its history. A promote of the current champion changes nothing. `first_origin` is the
    newest row of the series when the switch happened: the first origin the new champion serves (live scores).
    `by_hand`: a promotion, which holds against challengers until newer rows arrive (`promoted_by_hand`)."""
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
        record = {
            "series": series,
            "version": version,
            "model_key": read_record(folder / "run.json")["model_key"],
            "since": utc_now(),
            "reason": reason,
            **({"first_origin": first_origin} if first_origin else {}),
            **({"by_hand": True} if by_hand else {}),
        }
        atomic_write_json(target / POINTER, record)
        append_jsonl(target / HISTORY, {**record, "previous": now})


def promote(
    artifacts_dir: Path,
    version: str,
    series: str | None = None,
    wait_seconds: float = 60.0,
    newest: dict[str, str] | None = None,
    then: Callable[[list[str]], None] | None = None,
) -> list[str]:
    """Make `version` champion of `series` (default: every series it was published for), under the run
    lock so a promote never interleaves with a run's publish; returns the series switched (a series `version`
    already serves is left as it is, its history unchanged). `newest` (per series, its newest row) marks where
    the promoted version's live scores start; `then(switched)` runs under the same lock (the outputs that name
    what serves: `movavg.promotion.serve_promoted`)."""
    if not (models_dir(artifacts_dir) / check_version(version) / "metrics.json").exists():
        raise ValueError(f"no published model {version!r}; see `movavg models` for the versions there are")
    names = [series] if series is not None else sorted(version_metrics(artifacts_dir, version))
    switched = []
    with run_lock([artifacts_dir], wait_seconds):
        for name in names:
            current = current_champion(artifacts_dir, name)
            if current is not None and current.version == version:
                continue
            switched.append(name)
            set_champion(
                artifacts_dir,
                name,
                version,
                f"promoted by hand to {version}",
                current.version if current else None,
                (newest or {}).get(name),
                by_hand=True,
            )
        if then is not None and switched:
            then(switched)
    return switched


def pointer_record(artifacts_dir: Path, series: str) -> dict[str, Any] | None:
    """The champion pointer of `series` (`version`, `since`, `reason`, ...); None without a readable one."""
    try:
        return read_record(champion_dir(artifacts_dir, series) / POINTER)
    except DamagedState:
        return None


def promoted_by_hand(artifacts_dir: Path, series: str) -> dict[str, Any] | None:
    """The champion pointer of `series` when its champion was promoted by hand (`since`, `version` and, when the
    data was known, `first_origin`: its newest row then); None otherwise, or when the pointer cannot be read."""
    record = pointer_record(artifacts_dir, series)
    return record if record is not None and record.get("by_hand") is True else None


def history(artifacts_dir: Path, series: str, damaged: list[str] | None = None) -> list[dict[str, Any]]:
    """Champion changes of one series, oldest first (with those of the one-series layout before them); the
    records inside a damaged line are recovered (`movavg.storage.read_jsonl`), what is left of it goes into
    `damaged`."""
    legacy = [h for h in read_jsonl(artifacts_dir / HISTORY) if _holds(artifacts_dir, h.get("version"), series)]
    return legacy + read_jsonl(champion_dir(artifacts_dir, series) / HISTORY, damaged)


def history_problem(artifacts_dir: Path, series: str) -> str | None:
    """One line on the series' champion history when some of it cannot be read (None when all of it can)."""
    damaged: list[str] = []
    kept = history(artifacts_dir, series, damaged)
    if not damaged:
        return None
    path = champion_dir(artifacts_dir, series) / HISTORY
    return (
        f"{len(damaged)} line(s) of {path} cannot be read ({len(kept)} change(s) read): the file is left as it "
        "is; origins served by a version only those lines name are not scored live"
    )


def _holds(artifacts_dir: Path, version: Any, series: str) -> bool:
    try:
        return series in version_metrics(artifacts_dir, str(version))
    except (DamagedState, ValueError):
        return False


def damaged_versions(artifacts_dir: Path) -> list[str]:
    """One line per published version whose metrics or run record cannot be read (left out of listings)."""
    problems = []
    for number in version_numbers(artifacts_dir):
        try:
            read_record(models_dir(artifacts_dir) / f"v{number}" / "run.json")
            version_metrics(artifacts_dir, f"v{number}")
        except DamagedState as problem:
            problems.append(f"v{number} left out: {problem}")
    return problems


def list_versions(artifacts_dir: Path, series: str | None = None) -> list[dict[str, Any]]:
    """One row per (version, series): created, metrics, and whether it is that series' champion. Versions
    whose files cannot be read are left out (`damaged_versions` names them)."""
    rows, champions = [], {}
    for number in version_numbers(artifacts_dir):
        version = f"v{number}"
        try:
            created = read_record(models_dir(artifacts_dir) / version / "run.json").get("created", "")
            metrics_by_series = version_metrics(artifacts_dir, version)
        except DamagedState:
            continue
        for name, metrics in sorted(metrics_by_series.items()):
            if series is not None and name != series:
                continue
            if name not in champions:
                champions[name] = current_champion(artifacts_dir, name)
            champion = champions[name]
            rows.append(
                {
                    "version": version,
                    "series": name,
                    "created": created,
                    "metrics": metrics,
                    "champion": champion is not None and champion.version == version,
                }
            )
    return rows


LISTED_METRICS = (
    "mae",
    "rmse",
    "baseline_mae",
    "train_seconds",
    "epochs_run",
    "train_windows",
    "test_windows",
    "kind",
    "best_baseline",
    "interval",
    "backtest",
    "lstm",
    "ensemble",
    "blend",
)


def listing(artifacts_dir: Path, series: str | None = None) -> list[dict[str, Any]]:
    """What `movavg models --json` prints: one entry per (version, series) with its key metrics."""
    return [
        {
            "version": row["version"],
            "series": row["series"],
            "created": row["created"],
            "champion": row["champion"],
            "metrics": {key: row["metrics"].get(key, "lstm" if key == "kind" else None) for key in LISTED_METRICS},
        }
        for row in list_versions(artifacts_dir, series)
    ]


def registry_rows(artifacts_dir: Path, series: str | None = None) -> list[dict[str, Any]]:
    """`list_versions` flattened for tables: version, series, created, mae, rmse, baseline_mae, champion."""
    return [
        {
            "version": row["version"],
            "series": row["series"],
            "created": row["created"],
            "mae": row["metrics"]["mae"],
            "rmse": row["metrics"]["rmse"],
            "baseline_mae": row["metrics"]["baseline_mae"],
            "champion": row["champion"],
            "kind": row["metrics"].get("kind", "lstm"),
            "ensemble": row["metrics"].get("ensemble", 1),
            "blend": row["metrics"].get("blend"),
            "label": readable_label(models_dir(artifacts_dir) / row["version"], row["series"], "?", row["metrics"]),
            "best_naive": row["metrics"].get("best_baseline") or "",
        }
        for row in list_versions(artifacts_dir, series)
    ]
