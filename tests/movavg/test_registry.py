"""Registry: versions, the champion pointer, promotion history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from movavg.registry import current_champion, history, list_versions, next_version, set_champion


def fake_version(root: Path, version: str, mae: float) -> None:
    folder = root / "models" / version
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"mae": mae, "rmse": mae, "baseline_mae": 2.0}))
    (folder / "run.json").write_text(json.dumps({"model_key": f"key-{version}", "created": "2026-01-01T00:00:00+00:00"}))


def test_versions_and_champion(tmp_path: Path) -> None:
    assert next_version(tmp_path) == "v1" and current_champion(tmp_path) is None
    fake_version(tmp_path, "v1", 1.0)
    fake_version(tmp_path, "v2", 0.5)
    (tmp_path / "models" / "v3.tmp-123").mkdir()  # an unfinished publish is not a version
    assert next_version(tmp_path) == "v3"
    set_champion(tmp_path, "v2", "published")
    set_champion(tmp_path, "v1", "rollback")
    champion = current_champion(tmp_path)
    assert champion is not None and (champion.version, champion.model_key) == ("v1", "key-v1")
    assert [row["champion"] for row in list_versions(tmp_path)] == [True, False]
    assert [(h["version"], h["previous"]) for h in history(tmp_path)] == [("v2", None), ("v1", "v2")]


def test_unknown_version_cannot_become_champion(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no published model 'v9'"):
        set_champion(tmp_path, "v9", "x")
