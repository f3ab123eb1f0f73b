"""The architecture holds: arrows point down only (entry points -> agentic -> workflows /
activities -> agents -> core), and workflow code loads no I/O library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

FIRST_PARTY = {"agentic", "core", "workflows", "activities", "agents", "examples", "tests"}
# What each package may import of the project (itself included).
ALLOWED = {
    "core": {"core"},
    "workflows": {"core", "workflows"},
    "agents": {"core", "agents"},
    "activities": {"core", "agents", "activities"},
}
IO_LIBRARIES = ("httpx", "httpx2", "asyncpg", "aiofiles", "openai")


def project_imports(path: Path) -> set[str]:
    """The first-party packages a module imports."""
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    return imported & FIRST_PARTY


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_down_only(package):
    wrong = {
        str(path.relative_to(REPO)): sorted(project_imports(path) - ALLOWED[package])
        for path in sorted((REPO / package).rglob("*.py"))
    }
    assert {module: names for module, names in wrong.items() if names} == {}


def test_workflow_modules_load_no_io_library():
    code = (
        "import importlib, pkgutil, sys, workflows, core, core.actions\n"
        "for package in (workflows, core, core.actions):\n"
        "    for module in pkgutil.iter_modules(package.__path__):\n"
        "        importlib.import_module(f'{package.__name__}.{module.name}')\n"
        f"print(sorted(name for name in {IO_LIBRARIES!r} if name in sys.modules))\n"
    )

    finished = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                              text=True, check=True)  # fmt: skip

    assert finished.stdout.strip() == "[]"
