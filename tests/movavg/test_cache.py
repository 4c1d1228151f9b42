"""Cache keys: content, config and the code of every library module a stage depends on enter the key;
a stage folder counts only once complete."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd
import pytest

from movavg import cache
from movavg.cache import COMPLETE_MARKER, code_fingerprint, is_complete, stage_dir, stage_key, stage_output


def test_key_depends_on_stage_and_every_input() -> None:
    inputs = {"cache_dir": "/c", "normalized": {"content_hash": "a"}, "config": {"lookback": 5}}
    key = stage_key("window", "movavg.windowing", inputs)
    assert key == stage_key("window", "movavg.windowing", dict(inputs))
    assert len(key) == cache.KEY_LENGTH
    assert key != stage_key("window", "movavg.windowing", {**inputs, "normalized": {"content_hash": "b"}})
    assert key != stage_key("window", "movavg.windowing", {**inputs, "config": {"lookback": 6}})
    assert key != stage_key("train", "movavg.windowing", inputs)


def test_code_fingerprint_covers_the_modules_a_stage_imports() -> None:
    covered = set()
    pending = ["movavg.evaluation"]
    while pending:
        name = pending.pop()
        covered.add(name)
        pending += sorted(cache._library_imports(name) - covered)
    # Evaluation scores through forecast and windowing: editing either must invalidate evaluations.
    assert {"movavg.forecast", "movavg.windowing", "movavg.bundle", "movavg.scaling"} <= covered
    assert "movavg.cli" not in covered


def test_editing_an_imported_module_changes_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "stagelib"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text("X = 1\n")
    (package / "unrelated.py").write_text("Y = 1\n")
    (package / "stage.py").write_text("from stagelib.low import X\nimport json\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = code_fingerprint("stagelib.stage")
    (package / "unrelated.py").write_text("Y = 2\n")
    code_fingerprint.cache_clear()
    assert code_fingerprint("stagelib.stage") == before
    (package / "low.py").write_text("X = 2\n")
    code_fingerprint.cache_clear()
    assert code_fingerprint("stagelib.stage") != before


def test_stage_output_is_complete_only_after_a_whole_write(tmp_path: Path) -> None:
    out = stage_dir(tmp_path, "window", "k")
    assert out == tmp_path.resolve() / "window" / "k"
    with pytest.raises(RuntimeError), stage_output(out) as tmp:
        (tmp / "windows.parquet").write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    assert not out.exists() and not is_complete(out)
    with stage_output(out) as tmp:
        pd.DataFrame({"x": [1.0, 2.0]}).to_parquet(tmp / "windows.parquet")
        (tmp / "result.json").write_text('{"rows": 2}')
    assert is_complete(out) and (out / COMPLETE_MARKER).exists()


@pytest.mark.parametrize("name", ["windows.parquet", "result.json", "model.keras"])
def test_a_damaged_cache_entry_is_a_miss(tmp_path: Path, name: str) -> None:
    out = stage_dir(tmp_path, "window", "k")
    with stage_output(out) as tmp:
        pd.DataFrame({"x": [1.0, 2.0]}).to_parquet(tmp / "windows.parquet")
        (tmp / "result.json").write_text('{"rows": 2}')
        with zipfile.ZipFile(tmp / "model.keras", "w") as archive:
            archive.writestr("config.json", "{}")
    assert is_complete(out)
    (out / name).write_bytes((out / name).read_bytes()[:7])  # truncated by a full disk
    assert not is_complete(out)
