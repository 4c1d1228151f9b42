"""`movavg clean`: a dry run by default; with --yes it removes exactly what the pipeline wrote and moves the
input files back to incoming/, so the next run starts the project anew (where `make clean` used to leave
champions/ behind and break the next demo)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from movavg.cli import app
from movavg.config import PipelineConfig
from movavg.flows.retrain import retrain
from movavg.samples import synthetic_series
from tests.helpers import settled, write_csv

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != ".movavg.lock"}


def test_clean_removes_what_the_pipeline_wrote_and_the_next_run_starts_anew(
    tmp_path: Path, tiny_config: PipelineConfig
) -> None:
    data, art = tmp_path / "data", tmp_path / "artifacts"
    write_csv(synthetic_series(500, seed=3), data / "incoming", "good.csv")
    settled(data / "incoming" / "bad.csv", "when,what\n1,2\n")  # quarantined whole
    (data / "README.md").write_text("the user's own notes\n")
    (data / "processed" / "mine").mkdir(parents=True)  # a folder someone put there: never the pipeline's
    (data / "processed" / "mine" / "notes.txt").write_text("keep me\n")
    assert retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art)).published_version == "v1"
    before = tree(data), tree(art)
    dirs = ["-d", str(data), "-a", str(art)]

    dry = CliRunner().invoke(app, ["clean", *dirs])
    assert dry.exit_code == 0 and "pass --yes" in dry.stdout and f"would remove {art / 'champions'}" in dry.stdout
    assert (tree(data), tree(art)) == before  # a dry run changes nothing

    kept = CliRunner().invoke(app, ["clean", *dirs, "--yes", "--keep-models"])
    assert kept.exit_code == 0, kept.stdout
    assert {p.split("/")[0] for p in tree(art)} == {"models", "champions"}  # the registry stays

    done = CliRunner().invoke(app, ["clean", *dirs, "--yes"])
    assert done.exit_code == 0, done.stdout
    assert tree(art) == set()
    assert tree(data) == {"README.md", "incoming/good.csv", "incoming/bad.csv", "processed/mine/notes.txt"}
    assert "nothing to clean" in CliRunner().invoke(app, ["clean", *dirs]).stdout

    again = retrain(config=tiny_config, data_dir=str(data), artifacts_dir=str(art))
    assert again.published_version == "v1" and "no champion to compare with" in again.message
    assert (data / "quarantine" / "bad.csv").exists() and (data / "processed" / "good.csv").exists()
