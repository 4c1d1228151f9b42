"""Config: presets, files, dotted overrides, and impossible values named by field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from movavg.config import PRESETS, PipelineConfig, build_config, parse_override


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_is_valid(preset: str) -> None:
    assert isinstance(build_config(preset), PipelineConfig)


def test_overrides_parse_json_values_and_nest() -> None:
    assert parse_override("window.horizon=5") == {"window": {"horizon": 5}}
    assert parse_override("normalize.series=sensor-1") == {"normalize": {"series": "sensor-1"}}
    assert parse_override("train.early_stopping_patience=null") == {"train": {"early_stopping_patience": None}}
    with pytest.raises(ValueError, match="key=value"):
        parse_override("window.horizon")


def test_file_then_overrides_win_over_preset(tmp_path: Path) -> None:
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"train": {"epochs": 7, "batch_size": 16}}))
    config = build_config("seed-basic", path, ["train.epochs=3"])
    assert (config.train.epochs, config.train.batch_size, config.window.lookback) == (3, 16, 5)


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("bad.yaml", "window:\n  horizon: [3\n", "is not valid YAML"),
        ("bad.json", '{"window": ', "Expecting value"),
        ("bad.toml", "[window\n", "Expected"),
    ],
)
def test_a_malformed_config_file_is_one_line_naming_it(tmp_path: Path, name: str, text: str, says: str) -> None:
    from typer.testing import CliRunner

    from movavg.cli import app

    (tmp_path / name).write_text(text)
    result = CliRunner().invoke(app, ["run", "-d", str(tmp_path), "--config", str(tmp_path / name)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("movavg: invalid config") and says in line, line


def test_toml_and_yaml_files(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("[window]\nhorizon = 2\n")
    (tmp_path / "c.yaml").write_text("window:\n  horizon: 3\n")
    assert build_config("default", tmp_path / "c.toml").window.horizon == 2
    assert build_config("default", tmp_path / "c.yaml").window.horizon == 3


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("window.lookback=0", "window.lookback"),
        ("window.horizon=-1", "window.horizon"),
        ("window.ma_window=100", "ma_window"),
        ("normalize.train_fraction=0.9", "must be 1"),
        ("train.epochs=0", "train.epochs"),
        ('train.layers=[{"kind": "dropout"}]', "lstm layer"),
        ("window.lookbak=3", "lookbak"),
    ],
)
def test_impossible_values_are_rejected_naming_the_field(override: str, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        build_config("default", None, [override])
    located = str(info.value).replace("\n", " ")
    assert field.split(".")[-1] in located


def test_unknown_preset() -> None:
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        build_config("nope")


def test_model_columns_put_the_target_first() -> None:
    config = build_config("seed-multifeature")
    assert config.ingest.model_columns == ["value", "feature_1", "feature_2"]
