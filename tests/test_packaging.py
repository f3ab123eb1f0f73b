"""The package a user installs: one top-level import name, `agentic`, that an application's own
`core` or `workflows` package cannot shadow, with every module and data file the engine needs.
(.ci/run also installs the built wheel into a fresh virtualenv and runs `agentic demo` from it.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

import agentic
from agentic.devstack import TemporalDevServer
from tests.conftest import REPO

LAYERS = ("core", "workflows", "activities", "agents", "examples")
NOT_SHIPPED = shutil.ignore_patterns(
    ".git", ".data", "workspace", "__pycache__", "build", "dist", "site", "*.egg-info", ".venv"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The wheel `python -m build` makes from a copy of the checkout (symlinks kept, as git
    has them), so the build leaves nothing in the repository."""
    source = tmp_path_factory.mktemp("source") / "repo"
    shutil.copytree(REPO, source, symlinks=True, ignore=NOT_SHIPPED)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(source)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    [built] = out.glob("agentic_temporal-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_adds_one_top_level_name(wheel: zipfile.ZipFile) -> None:
    top_level = {name.split("/")[0] for name in wheel.namelist()}
    assert {name for name in top_level if not name.endswith(".dist-info")} == {"agentic"}
    [top_level_txt] = [name for name in wheel.namelist() if name.endswith("top_level.txt")]
    assert wheel.read(top_level_txt).decode().split() == ["agentic"]


def test_the_wheel_holds_every_module_and_data_file(wheel: zipfile.ZipFile) -> None:
    shipped = set(wheel.namelist())
    expected = {
        f"agentic/{path.relative_to(REPO).as_posix()}"
        for layer in LAYERS
        for path in (REPO / layer).rglob("*")
        if path.suffix in (".py", ".json") and "__pycache__" not in path.parts
    } | {
        f"agentic/{path.relative_to(REPO / 'agentic').as_posix()}"
        for path in (REPO / "agentic").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert expected - shipped == set()
    assert "agentic/examples/data/users.json" in shipped


def test_the_wheel_has_the_one_version_and_the_agentic_command(wheel: zipfile.ZipFile) -> None:
    [metadata] = [name for name in wheel.namelist() if name.endswith(".dist-info/METADATA")]
    assert f"\nVersion: {agentic.__version__}\n" in wheel.read(metadata).decode()
    [entry_points] = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "agentic = agentic.cli:main" in wheel.read(entry_points).decode()


SHADOWED_RUN = """
import asyncio, sys

import core, workflows  # the application's own packages, found first on sys.path
assert core.OWNER == workflows.OWNER == "application"

import agentic
from agentic import AgentClient, Plan, RunOptions, Settings, run_worker
from agentic.core import plan as engine_plan

assert SHADOW not in engine_plan.__file__, engine_plan.__file__

async def main() -> None:
    settings = Settings(temporal_address=ADDRESS, task_queue="shadowed")
    stop, ready = asyncio.Event(), asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop=stop, ready=ready))
    await ready.wait()
    client = await AgentClient.connect(settings)
    plan = Plan.model_validate({"goal": "count", "tasks": [
        {"id": "pause", "action_type": "wait", "action_config": {"seconds": 0.1}},
        {"id": "count", "action_type": "data_transform", "depends_on": ["pause"],
         "action_config": {"input": [1, 2, 3], "expression": "length(@)"}}]})
    result = await client.run(plan=plan, options=RunOptions(approval="none"))
    print(result.status, result.tasks[-1].output)
    stop.set()
    await worker
    loaded = [name for name, module in list(sys.modules.items())
              if SHADOW in (getattr(module, "__file__", None) or "")]
    print(sorted(loaded))

asyncio.run(main())
"""


def test_an_application_with_its_own_core_and_workflows_packages_runs_the_engine(
    tmp_path: Path, temporal_server: TemporalDevServer
) -> None:
    shadow = tmp_path / "application"
    for layer in LAYERS:
        (shadow / layer).mkdir(parents=True)
        (shadow / layer / "__init__.py").write_text('OWNER = "application"\n')
    script = f"SHADOW = {str(shadow)!r}\nADDRESS = {temporal_server.address!r}\n"
    script += textwrap.dedent(SHADOWED_RUN)
    environment = {**os.environ, "PYTHONPATH": str(shadow)}
    environment.pop("PYTHONSAFEPATH", None)

    finished = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=environment, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip

    assert finished.returncode == 0, finished.stderr
    status_line, loaded_line = finished.stdout.strip().splitlines()
    assert status_line == "completed 3"
    # Only the two the script imported itself: the engine loaded none of the application's.
    assert loaded_line == "['core', 'workflows']"
