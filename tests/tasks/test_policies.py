"""The Prefect side of the cache: the key is the library's stage key, stale or torn records are not
trusted, and only transient I/O errors are retried."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from movavg.cache import COMPLETE_MARKER, batch_dir, stage_dir, stage_key
from tasks.policies import transient_io
from tasks.train import train
from tasks.window import window


def context(results: Path) -> SimpleNamespace:
    return SimpleNamespace(result_store=SimpleNamespace(result_storage=SimpleNamespace(basepath=str(results))))


def key_fn(stage: Any = window) -> Any:
    return stage.cache_policy.cache_key_fn


def test_prefects_key_is_the_library_stage_key(tmp_path: Path) -> None:
    params = {"cache_dir": str(tmp_path), "normalized": {"content_hash": "a"}, "config": {"lookback": 5}}
    key = key_fn()(context(tmp_path / "results"), params)
    assert key == stage_key("window", "movavg.windowing", params)
    assert key != key_fn(train)(context(tmp_path / "results"), params)


def test_records_are_trusted_only_with_complete_outputs_and_valid_json(tmp_path: Path) -> None:
    params = {"cache_dir": str(tmp_path / "cache"), "normalized": {"content_hash": "a"}, "config": {}}
    results = tmp_path / "results"
    results.mkdir()
    key = key_fn()(context(results), params)
    record, batch = results / key, batch_dir(tmp_path / "cache", "window", key)
    member = stage_dir(tmp_path / "cache", "window", "member-key")

    record.write_text('{"ok": true}')
    key_fn()(context(results), params)
    assert not record.exists(), "outputs missing: the record is stale"

    for folder in (batch, member):
        folder.mkdir(parents=True)
        (folder / COMPLETE_MARKER).touch()
    (batch / "members.json").write_text('["member-key"]')
    record.write_text('{"ok": tr')  # torn by a crash
    key_fn()(context(results), params)
    assert not record.exists()

    record.write_text('{"ok": true}')
    key_fn()(context(results), params)
    assert record.exists()

    shutil.rmtree(member)  # one series' output deleted: the batch runs again (and reuses the others)
    key_fn()(context(results), params)
    assert not record.exists()


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (OSError(5, "Input/output error"), True),
        (TimeoutError("slow disk"), True),
        (FileNotFoundError("data/incomming"), False),
        (PermissionError("read-only"), False),
        (ValueError("the val slice has 5 rows"), False),
        (RuntimeError("another run holds the lock"), False),
    ],
)
def test_only_transient_io_errors_are_retried(error: Exception, retried: bool) -> None:
    assert transient_io(None, None, SimpleNamespace(data=error)) is retried
