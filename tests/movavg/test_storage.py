"""Storage helpers: safe names for user-supplied ids, atomic writes, hashing, torn JSON lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movavg.storage import (
    append_jsonl,
    atomic_directory,
    atomic_write_bytes,
    atomic_write_json,
    frame_hash,
    read_json,
    read_jsonl,
    remove_stale_temp,
    safe_name,
    temp_path,
)


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../x", "_.._x"),
        ("/etc/passwd", "_etc_passwd"),
        ("..", "_"),
        ("sensor 1 é", "sensor 1 é"),
        ("a\\b", "a_b"),
        (".hidden", "hidden"),
    ],
)
def test_safe_name(name: str, safe: str) -> None:
    assert safe_name(name) == safe and "/" not in safe_name(name)


def test_atomic_json_and_folder_replace_whole(tmp_path: Path) -> None:
    atomic_write_json(tmp_path / "a.json", {"x": 1})
    assert read_json(tmp_path / "a.json") == {"x": 1}
    with atomic_directory(tmp_path / "folder") as tmp:
        (tmp / "f").write_text("one")
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "folder") as tmp:
        (tmp / "f").write_text("two")
        raise RuntimeError("crash while writing")
    assert (tmp_path / "folder" / "f").read_text() == "one"
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_stale_temp_files_are_removed_and_torn_lines_skipped(tmp_path: Path) -> None:
    leftover = temp_path(tmp_path / "champion.json")
    leftover.write_text("{")
    assert remove_stale_temp(tmp_path) == [leftover] and not leftover.exists()
    append_jsonl(tmp_path / "h.jsonl", {"v": 1})
    with (tmp_path / "h.jsonl").open("a") as handle:
        handle.write('{"v": 2')  # torn by a crash
    assert read_jsonl(tmp_path / "h.jsonl") == [{"v": 1}]
    append_jsonl(tmp_path / "h.jsonl", {"v": 3})  # starts a line of its own, never runs on from the torn one
    damaged: list[str] = []
    assert read_jsonl(tmp_path / "h.jsonl", damaged) == [{"v": 1}, {"v": 3}] and damaged == ['{"v": 2']


def test_records_run_together_or_zeroed_by_a_crash_are_recovered(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_bytes(
        b'{"v": 1}\n'
        b'{"v": 2, "torn": {"x": 1}{"v": 3}{"v": 4}\n'  # two records run on from a torn one (an old append)
        b"\x00\x00\x00\x00\n"  # a block a crash zeroed
        b'\x00\x00{"v": 5, "nested": {"a": [1, {"b": 2}]}}\n'
    )
    damaged: list[str] = []
    records = read_jsonl(path, damaged)
    assert [r["v"] for r in records] == [1, 3, 4, 5] and records[3]["nested"] == {"a": [1, {"b": 2}]}
    assert damaged == ['{"v": 2, "torn": {"x": 1}{"v": 3}{"v": 4}']  # the zeros alone lose nothing


def test_frame_hash_follows_content() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    assert frame_hash(frame) == frame_hash(frame.copy())
    assert frame_hash(frame) != frame_hash(frame.assign(a=[1.0, 2.5]))


def test_a_full_disk_names_the_path_and_leaves_no_temp_file(full_disk: Path) -> None:
    with pytest.raises(OSError) as caught:
        atomic_write_bytes(full_disk / "big.bin", b"x" * 100_000)
    assert caught.value.filename == str(full_disk / "big.bin") and caught.value.strerror == "No space left on device"
    with pytest.raises(OSError) as caught, atomic_directory(full_disk / "models" / "v1") as folder:
        pd.DataFrame({"x": np.random.default_rng(0).random(50_000)}).to_parquet(folder / "a.parquet")
    assert caught.value.filename == str(full_disk / "models" / "v1")
    assert str(caught.value) == f"[Errno 28] No space left on device: '{full_disk / 'models' / 'v1'}'"
    assert sorted(p.name for p in full_disk.rglob("*")) == ["filler", "models"]
