"""The README tells the truth: its "From Python" example runs as written, and its tables
name every setting and every command."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from typing import Any

import typer

from agentic.cli.app import app
from agentic.settings import Settings
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def readme_block(heading: str) -> str:
    """The first ```python block after `heading` in the README."""
    section = README[README.index(heading) :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, f"no python block after {heading!r}"
    return match.group(1)


def test_the_from_python_example_runs_as_written(stack, tmp_path):
    script = tmp_path / "from_python.py"
    script.write_text(readme_block("## From Python"))
    env = {**stack.env, "TASK_QUEUE": f"readme-{uuid.uuid4().hex[:6]}", "LOG_LEVEL": "WARNING"}

    finished = subprocess.run([sys.executable, str(script)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    assert finished.returncode == 0, finished.stderr[-2000:]
    assert finished.stdout.splitlines() == ["completed HELLO! HELLO!", "completed"]


def section(heading: str) -> str:
    start = README.index(heading)
    return README[start : README.index("\n## ", start + 1)]


def test_every_setting_is_in_the_settings_table():
    table = section("## Settings")
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in table]
    assert missing == []


def test_every_command_is_in_the_cli_table():
    table = section("## CLI")
    commands = command_names(typer.main.get_command(app))
    assert "start" in commands and "llm check" in commands
    missing = [name for name in commands if not re.search(rf"\| `{name}[ `]|/ `{name}[ `]", table)]
    assert missing == []


def command_names(group: Any, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group, like `llm`
            names += command_names(command, f"{prefix}{name} ")
        else:
            names.append(prefix + name)
    return names
