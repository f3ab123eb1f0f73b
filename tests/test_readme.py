"""The README's "From Python" example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid

from tests.conftest import REPO


def readme_block(heading: str) -> str:
    """The first ```python block after `heading` in the README."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index(heading) :]
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
