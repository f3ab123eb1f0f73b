"""The architecture holds: arrows point down only (entry points -> agentic -> workflows /
activities -> agents -> core), and workflow code loads no I/O library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

LAYERS = {"core", "workflows", "activities", "agents", "examples"}
# What each package may import of the project (itself included).
ALLOWED = {
    "core": {"core"},
    "workflows": {"core", "workflows"},
    "agents": {"core", "agents"},
    "activities": {"core", "agents", "activities"},
}
IO_LIBRARIES = ("httpx", "httpx2", "asyncpg", "aiofiles", "openai")


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name a module imports."""
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module)
    return imported


def project_imports(path: Path) -> set[str]:
    """The engine's layers a module imports (`agentic.core...` -> `core`), and `agentic` for
    the rest of the package."""
    layers = set()
    for module in imported_modules(path):
        parts = module.split(".")
        if parts[0] != "agentic":
            continue
        layers.add(parts[1] if len(parts) > 1 and parts[1] in LAYERS else "agentic")
    return layers


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_down_only(package):
    wrong = {
        str(path.relative_to(REPO)): sorted(project_imports(path) - ALLOWED[package])
        for path in sorted((REPO / package).rglob("*.py"))
    }
    assert {module: names for module, names in wrong.items() if names} == {}


def test_the_code_imports_its_own_packages_only_through_agentic():
    """`from core.plan import ...` would work in a checkout (the folders are at its top) and
    break once installed, where only `agentic` exists."""
    sources = [*REPO.glob("*.py"), *(path for layer in [*LAYERS, "agentic", "tests", "bench"]
                                     for path in (REPO / layer).rglob("*.py"))]  # fmt: skip
    top_level = {
        str(path.relative_to(REPO)): sorted(
            module for module in imported_modules(path) if module.split(".")[0] in LAYERS
        )
        for path in sources
    }
    assert {module: names for module, names in top_level.items() if names} == {}


def test_workflow_modules_load_no_io_library():
    code = (
        "import importlib, pkgutil, sys\n"
        "import agentic.workflows as workflows, agentic.core as core\n"
        "import agentic.core.actions\n"
        "for package in (workflows, core, agentic.core.actions):\n"
        "    for module in pkgutil.iter_modules(package.__path__):\n"
        "        importlib.import_module(f'{package.__name__}.{module.name}')\n"
        f"print(sorted(name for name in {IO_LIBRARIES!r} if name in sys.modules))\n"
    )

    finished = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                              text=True, check=True)  # fmt: skip

    assert finished.stdout.strip() == "[]"
