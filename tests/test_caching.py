"""Cache keys: content, config and code enter the key; stale or torn Prefect records are not trusted."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from tasks.caching import COMPLETE_MARKER, content_cache_key, stage_output_dir
from tasks.window import make_windows


def context(results: Path) -> SimpleNamespace:
    return SimpleNamespace(result_store=SimpleNamespace(result_storage=SimpleNamespace(basepath=str(results))))


def test_key_depends_on_every_input_and_names_the_output_folder(tmp_path: Path) -> None:
    key_fn = content_cache_key("window", make_windows)
    ctx = context(tmp_path / "results")
    one = key_fn(ctx, {"cache_dir": str(tmp_path), "normalized": {"content_hash": "a"}, "config": {"lookback": 5}})
    assert one == key_fn(ctx, {"cache_dir": str(tmp_path), "normalized": {"content_hash": "a"}, "config": {"lookback": 5}})
    assert one != key_fn(ctx, {"cache_dir": str(tmp_path), "normalized": {"content_hash": "b"}, "config": {"lookback": 5}})
    assert one != key_fn(ctx, {"cache_dir": str(tmp_path), "normalized": {"content_hash": "a"}, "config": {"lookback": 6}})
    assert one != content_cache_key("train", make_windows)(ctx, {"cache_dir": str(tmp_path),
                                                                 "normalized": {"content_hash": "a"}, "config": {"lookback": 5}})
    assert stage_output_dir("window", make_windows, tmp_path, normalized={"content_hash": "a"},
                            config={"lookback": 5}).name == one


def test_records_are_trusted_only_with_a_complete_output_and_valid_json(tmp_path: Path) -> None:
    key_fn = content_cache_key("window", make_windows)
    params = {"cache_dir": str(tmp_path / "cache"), "normalized": {"content_hash": "a"}, "config": {}}
    results = tmp_path / "results"
    results.mkdir()
    key = key_fn(context(results), params)
    record, output = results / key, tmp_path / "cache" / "window" / key

    record.write_text('{"ok": true}')
    key_fn(context(results), params)
    assert not record.exists(), "output missing: the record is stale"

    output.mkdir(parents=True)
    (output / COMPLETE_MARKER).touch()
    record.write_text('{"ok": tr')  # torn by a crash
    key_fn(context(results), params)
    assert not record.exists()

    record.write_text('{"ok": true}')
    key_fn(context(results), params)
    assert record.exists()
