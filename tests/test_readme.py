"""The README's "Use it from Python" example runs as written, in a fresh interpreter, without Prefect."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_example() -> str:
    """The first ```python block of the README's "Use it from Python" section."""
    section = README.read_text(encoding="utf-8").split("## Use it from Python", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "the section has no python example"
    return found.group(1)


@pytest.mark.slow
def test_the_python_example_runs_as_written_and_never_imports_prefect(tmp_path: Path) -> None:
    check = "\nimport sys\nassert 'prefect' not in sys.modules, sorted(m for m in sys.modules if 'prefect' in m)\n"
    done = subprocess.run(
        [sys.executable, "-c", python_example() + check], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "served_by" in done.stdout and "predicted_ma" in done.stdout
    assert (tmp_path / "co2-forecaster" / "forecaster.json").exists()
