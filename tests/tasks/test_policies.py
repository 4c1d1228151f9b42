"""The Prefect side of the cache, on a real (test) Prefect API: each member of a batch is cached on its own key
whatever the batch, a record is trusted only while its output folder is whole and its JSON is, a batch of
hits ends `Cached`, and only transient I/O errors are retried."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prefect import flow
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

from movavg.cache import stage_dir, stage_key, stage_output
from movavg.schema import Batch
from movavg.tasks.policies import each_member, stage_task, transient_io

RUNS: list[str] = []


def write_marker(member: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """A stand-in stage: records that it ran and writes a complete output folder."""
    RUNS.append(member["name"])
    with stage_output(out_dir) as tmp:
        (tmp / "value.json").write_text(f'"{member["name"]}"')
    return {"name": member["name"], "out": str(out_dir)}


@stage_task("window", task_run_name="window-{batch.label}")
def marker_stage(cache_dir: str, batch: Batch[str]) -> Any:
    members = [(name, {"name": name}) for name in batch.members]
    return each_member("window", write_marker, cache_dir, members, write_marker)


@flow
def run_batches(cache_dir: str, batches: list[list[str]]) -> list[tuple[str, list[Any]]]:
    states = [marker_stage(cache_dir, Batch(label=names[0], members=names), return_state=True) for names in batches]
    return [(state.name, state.result()) for state in states]


def record_path(cache_dir: Path, name: str) -> Path:
    key = stage_key("window", write_marker.__module__, {"cache_dir": str(cache_dir), "name": name})
    return Path(PREFECT_LOCAL_STORAGE_PATH.value()) / f"window-{key}"


@pytest.mark.usefixtures("prefect_api")
def test_each_member_is_cached_on_its_own_key_whatever_the_batch(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    RUNS.clear()
    first = run_batches(str(cache), [["a", "b"], ["c"]])
    assert [name for name, _ in first] == ["Completed", "Completed"] and RUNS == ["a", "b", "c"]
    assert [[result["name"] for result in results] for _, results in first] == [["a", "b"], ["c"]]
    assert Path(first[0][1][0]["out"]).parent == stage_dir(cache, "window", "x").parent

    RUNS.clear()
    regrouped = run_batches(str(cache), [["c", "a"], ["b"]])  # other batches: every member still a hit
    assert [name for name, _ in regrouped] == ["Cached", "Cached"] and RUNS == []
    assert regrouped[0][1] == [first[1][1][0], first[0][1][0]]

    shutil.rmtree(first[0][1][1]["out"])  # b's output deleted: only b runs again, and its batch is not `Cached`
    record_path(cache, "c").write_text('{"result": "tor')  # c's record torn by a crash: c runs again
    RUNS.clear()
    again = run_batches(str(cache), [["a", "b", "c"]])
    assert again[0][0] == "Completed" and RUNS == ["b", "c"]
    assert again[0][1] == [first[0][1][0], first[0][1][1], first[1][1][0]]

    RUNS.clear()
    assert run_batches(str(cache), [["a", "b", "c"]])[0][0] == "Cached" and RUNS == []  # the records were replaced


def write_markers_together(items: list[tuple[dict[str, Any], Path]]) -> list[dict[str, str]]:
    """A stand-in stage run together (a stack): fails as a whole when any member is "bad"."""
    if any(member["name"] == "bad" for member, _ in items):
        raise ValueError("a member of the stack is bad")
    RUNS.append("together:" + ",".join(member["name"] for member, _ in items))
    return [write_marker(member, out) for member, out in items]


@stage_task("window", task_run_name="window-{batch.label}")
def stacked_stage(cache_dir: str, batch: Batch[str]) -> Any:
    members = [(name, {"name": name}) for name in batch.members]
    return each_member("window", write_marker, cache_dir, members, run_many=write_markers_together)


@flow
def run_stacked(cache_dir: str, names: list[str]) -> list[Any]:
    return stacked_stage(cache_dir, Batch(label=names[0], members=names), return_state=True).result()


@pytest.mark.usefixtures("prefect_api")
def test_members_run_together_and_one_bad_member_fails_only_itself(tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    RUNS.clear()
    assert [r["name"] for r in run_stacked(cache, ["a", "b"])] == ["a", "b"] and RUNS == ["together:a,b", "a", "b"]
    RUNS.clear()
    results = run_stacked(cache, ["a", "c", "bad", "d"])  # a is a hit; c, bad, d fail together, then run alone
    assert results[0]["name"] == "a" and results[1]["name"] == "c" and results[3]["name"] == "d"
    assert results[2].failed and "bad" in results[2].reason and results[2].series == "bad"
    assert RUNS == ["together:c", "c", "together:d", "d"]  # each alone, the same stage function


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (OSError(5, "Input/output error"), True),
        (TimeoutError("slow disk"), True),
        (FileNotFoundError("data/incomming"), False),
        (PermissionError("read-only"), False),
        (OSError(28, "No space left on device"), False),
        (OSError(30, "Read-only file system"), False),
        (ValueError("the val slice has 5 rows"), False),
        (RuntimeError("another run holds the lock"), False),
    ],
)
def test_only_transient_io_errors_are_retried(error: Exception, retried: bool) -> None:
    assert transient_io(None, None, SimpleNamespace(data=error)) is retried
