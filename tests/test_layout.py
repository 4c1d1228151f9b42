"""The layering: library (`movavg/`) below `tasks/` below `flows/` below the CLI; the library never
imports Prefect; no import cycles between the project's modules; stage tasks stay thin."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = {"movavg": 0, "tasks": 1, "flows": 2}
CLI = "movavg.cli"


def module_name(path: Path) -> str:
    """The module's installed name: tasks/ and flows/ install as movavg.tasks and movavg.flows."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    parts = ("movavg", *parts) if parts[0] in ("tasks", "flows") else parts
    return ".".join(parts).removesuffix(".__init__")


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for package in LAYER for p in (ROOT / package).rglob("*.py")}
    return {name: {m for m in imports(path) if m in modules} for name, path in modules.items()}


def is_cli(module: str) -> bool:
    """The CLI package (`movavg.cli` and its modules) is the top layer."""
    return module == CLI or module.startswith(f"{CLI}.")


def layer(module: str) -> int:
    parts = module.split(".")
    return 3 if is_cli(module) else LAYER[parts[1] if parts[1:2] in (["tasks"], ["flows"]) else parts[0]]


def test_every_import_points_down_and_the_library_is_free_of_prefect() -> None:
    upward = [(a, b) for a, targets in graph().items() for b in targets if layer(b) > layer(a)]
    assert upward == []
    prefect_in_library = [
        p.name
        for p in (ROOT / "movavg").rglob("*.py")
        if not is_cli(module_name(p)) and any(m.split(".")[0] == "prefect" for m in imports(p))
    ]
    assert prefect_in_library == []


def test_no_import_cycles() -> None:
    try:
        order = list(TopologicalSorter(graph()).static_order())
    except CycleError as error:
        raise AssertionError(f"import cycle: {error.args[1]}") from None
    assert order.index("movavg.storage") < order.index("movavg.publishing") < order.index("movavg.tasks.publish")


def test_stage_tasks_are_thin() -> None:
    for path in (ROOT / "tasks").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) <= 120, path.name
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno < 30, f"{path.name}:{node.name}"  # type: ignore[operator]


def test_tasks_and_flows_install_inside_the_package_not_as_generic_top_level_packages(tmp_path: Path) -> None:
    import subprocess
    import sys

    probe = (
        "import importlib.util as u, pathlib as p; "
        "print(u.find_spec('tasks') is None, u.find_spec('flows') is None, "
        "*(p.Path(u.find_spec(f'movavg.{name}').origin).parent.name for name in ('tasks', 'flows')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "True", "tasks", "flows"]  # the folders users know, under movavg.*
