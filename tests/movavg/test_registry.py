"""Registry: versions shared by all series, one champion pointer and history per series, compare-and-swap
switches, safe folders for hostile ids, and artifacts of the one-series layout read as they were."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from movavg.lock import RunLockedError, run_lock
from movavg.registry import (
    ChampionChangedError,
    champion_dir,
    champion_problem,
    current_champion,
    damaged_versions,
    history,
    list_versions,
    listing,
    next_version,
    promote,
    repair_pointer,
    series_key,
    set_champion,
)
from movavg.storage import safe_name
from tests.helpers import FIXTURES


def fake_version(root: Path, version: str, maes: dict[str, float]) -> None:
    folder = root / "models" / version
    folder.mkdir(parents=True)
    metrics = {
        series: {"mae": mae, "rmse": mae, "baseline_mae": 2.0, "train_windows": 10} for series, mae in maes.items()
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "run.json").write_text(
        json.dumps({"model_key": f"key-{version}", "created": "2026-01-01T00:00:00+00:00"})
    )


def test_each_series_has_its_own_champion_and_one_can_be_rolled_back(tmp_path: Path) -> None:
    assert next_version(tmp_path) == "v1" and current_champion(tmp_path, "a") is None
    fake_version(tmp_path, "v1", {"a": 1.0})
    fake_version(tmp_path, "v2", {"b": 0.9})
    fake_version(tmp_path, "v3", {"a": 0.5, "b": 0.4})  # a global model, better on both
    (tmp_path / "models" / "v4.tmp-123").mkdir()  # an unfinished publish is not a version
    assert next_version(tmp_path) == "v4"
    set_champion(tmp_path, "a", "v1", "published", None)
    set_champion(tmp_path, "b", "v2", "published", None)
    set_champion(tmp_path, "a", "v3", "published", "v1")
    set_champion(tmp_path, "b", "v3", "published", "v2")
    promote(tmp_path, "v1", "a")  # roll back one series only
    assert current_champion(tmp_path, "a").version == "v1"  # type: ignore[union-attr]
    assert current_champion(tmp_path, "b").version == "v3"  # type: ignore[union-attr]
    assert [(h["version"], h["previous"]) for h in history(tmp_path, "a")] == [("v1", None), ("v3", "v1"), ("v1", "v3")]
    assert [(r["version"], r["series"], r["champion"]) for r in list_versions(tmp_path)] == [
        ("v1", "a", True),
        ("v2", "b", False),
        ("v3", "a", False),
        ("v3", "b", True),
    ]
    assert [r["version"] for r in list_versions(tmp_path, "b")] == ["v2", "v3"]


def test_a_switch_is_a_compare_and_swap(tmp_path: Path) -> None:
    fake_version(tmp_path, "v1", {"a": 1.0})
    fake_version(tmp_path, "v2", {"a": 0.5})
    set_champion(tmp_path, "a", "v1", "published", None)
    with pytest.raises(ChampionChangedError, match="changed to v1 meanwhile"):
        set_champion(tmp_path, "a", "v2", "a publish that read no champion", None)
    assert current_champion(tmp_path, "a").version == "v1"  # type: ignore[union-attr]
    assert len(history(tmp_path, "a")) == 1


def test_promoting_the_champion_again_changes_nothing(tmp_path: Path) -> None:
    fake_version(tmp_path, "v1", {"a": 1.0})
    assert promote(tmp_path, "v1") == ["a"]
    assert promote(tmp_path, "v1") == []  # nothing switched: the CLI says v1 already serves it
    assert len(history(tmp_path, "a")) == 1


def test_promote_waits_for_a_run_holding_the_lock(tmp_path: Path) -> None:
    fake_version(tmp_path, "v1", {"a": 1.0})
    with run_lock([tmp_path]), pytest.raises(RunLockedError, match="another run holds the lock"):
        promote(tmp_path, "v1", wait_seconds=0.5)
    assert current_champion(tmp_path, "a") is None


def test_unknown_version_or_series_cannot_become_champion(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no published model 'v9'"):
        promote(tmp_path, "v9")
    fake_version(tmp_path, "v1", {"a": 1.0})
    with pytest.raises(ValueError, match="v1 was not published for series 'b'"):
        set_champion(tmp_path, "b", "v1", "x", None)
    with pytest.raises(ValueError, match="not a version name"):
        promote(tmp_path, "../../etc")


@pytest.mark.parametrize("hostile", ["../../x", "/etc/passwd", "..", "a/b", "a\\b", ".hidden", "x" * 500])
def test_series_folders_are_safe_and_never_shared(tmp_path: Path, hostile: str) -> None:
    folder = champion_dir(tmp_path, hostile)
    assert folder.parent == tmp_path / "champions" and "/" not in series_key(hostile)
    assert len(series_key(hostile)) < 80
    twins = {safe_name(hostile, limit=60), hostile[:-1] + "_"} - {hostile}  # ids with the same readable prefix
    assert all(series_key(twin) != series_key(hostile) for twin in twins)


def test_the_one_series_layout_is_read_as_that_series(tmp_path: Path) -> None:
    """Artifacts published before many series were modelled: a root champion.json, flat metrics."""
    shutil.copytree(FIXTURES / "legacy_artifacts", tmp_path / "art")
    art = tmp_path / "art"
    champion = current_champion(art, "default")
    assert champion is not None and champion.version == "v1" and current_champion(art, "other") is None
    entry = listing(art)[0]
    assert (entry["version"], entry["series"], entry["champion"]) == ("v1", "default", True)
    assert entry["metrics"]["mae"] > 0 and entry["metrics"]["train_windows"] is None  # not recorded then
    assert [h["version"] for h in history(art, "default")] == ["v1"]


@pytest.mark.parametrize("garbage", [b'{"version": "v2", "mod', b"\x00\xff garbage", b"[1, 2]", b'{"version": "../x"}'])
def test_a_damaged_pointer_is_served_from_its_history_and_repaired(tmp_path: Path, garbage: bytes) -> None:
    fake_version(tmp_path, "v1", {"a": 1.0, "b": 1.0})
    fake_version(tmp_path, "v2", {"a": 0.5})
    set_champion(tmp_path, "a", "v1", "published", None)
    set_champion(tmp_path, "a", "v2", "published", "v1")
    set_champion(tmp_path, "b", "v1", "published", None)
    (champion_dir(tmp_path, "a") / "champion.json").write_bytes(garbage)
    assert current_champion(tmp_path, "a").version == "v2"  # type: ignore[union-attr]
    assert "serving v2, the newest in its history" in (champion_problem(tmp_path, "a") or "")
    assert champion_problem(tmp_path, "b") is None and current_champion(tmp_path, "b").version == "v1"  # type: ignore[union-attr]
    assert [(row["version"], row["series"], row["champion"]) for row in list_versions(tmp_path)] == [
        ("v1", "a", False),
        ("v1", "b", True),
        ("v2", "a", True),
    ]
    assert repair_pointer(tmp_path, "a") and champion_problem(tmp_path, "a") is None
    assert (champion_dir(tmp_path, "a") / "champion.json.damaged").read_bytes() == garbage  # kept for a look
    set_champion(tmp_path, "a", "v1", "rolled back", "v2")  # the compare-and-swap works on the repaired pointer
    assert [h["version"] for h in history(tmp_path, "a")] == ["v1", "v2", "v1"]


def test_a_damaged_pointer_without_a_readable_history_means_no_champion(tmp_path: Path) -> None:
    fake_version(tmp_path, "v1", {"a": 1.0})
    set_champion(tmp_path, "a", "v1", "published", None)
    (champion_dir(tmp_path, "a") / "champion.json").write_text("{")
    (champion_dir(tmp_path, "a") / "history.jsonl").write_text("not json\n")
    assert current_champion(tmp_path, "a") is None
    assert "no usable champion" in (champion_problem(tmp_path, "a") or "")
    set_champion(tmp_path, "a", "v1", "published again", None)  # the next publish replaces it
    assert current_champion(tmp_path, "a").version == "v1" and champion_problem(tmp_path, "a") is None  # type: ignore[union-attr]


def test_a_version_with_unreadable_records_is_left_out_and_named(tmp_path: Path) -> None:
    fake_version(tmp_path, "v1", {"a": 1.0})
    fake_version(tmp_path, "v2", {"b": 1.0})
    (tmp_path / "models" / "v2" / "metrics.json").write_text('{"b": {"mae"')
    assert [row["version"] for row in listing(tmp_path)] == ["v1"]
    assert damaged_versions(tmp_path) == [
        f"v2 left out: {tmp_path / 'models' / 'v2' / 'metrics.json'} cannot be read (JSONDecodeError)"
    ]


def _switch(root: str, version: str, start: Any, results: Any) -> None:
    start.wait()
    try:
        set_champion(Path(root), "a", version, f"racing to {version}", "v1")
        results.put(version)
    except ChampionChangedError:
        results.put("lost")


@pytest.mark.parametrize("round_", range(4))  # a race: repeated, so a missing lock cannot slip through
def test_concurrent_switches_of_one_pointer_have_exactly_one_winner(tmp_path: Path, round_: int) -> None:
    import multiprocessing

    contenders = [f"v{n}" for n in range(2, 12)]
    fake_version(tmp_path, "v1", {"a": 1.0})
    for version in contenders:
        fake_version(tmp_path, version, {"a": 0.5})
    set_champion(tmp_path, "a", "v1", "published", None)
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(len(contenders)), context.Queue()
    workers = [context.Process(target=_switch, args=(str(tmp_path), version, start, results)) for version in contenders]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    outcomes = [results.get(timeout=5) for _ in contenders]
    winners = [outcome for outcome in outcomes if outcome != "lost"]
    assert len(winners) == 1, outcomes
    assert current_champion(tmp_path, "a").version == winners[0]  # type: ignore[union-attr]
    assert [(h["version"], h["previous"]) for h in history(tmp_path, "a")] == [("v1", None), (winners[0], "v1")]
