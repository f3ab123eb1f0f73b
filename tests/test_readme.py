"""The README stays an introduction: short, its Python example runs as written and prints what
it says, and every page it links to exists. (tests/test_docs.py checks its plans and blocks.)"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid

from tests.conftest import REPO

README = (REPO / "README.md").read_text()
MAX_LINES = 250


def readme_block(heading: str) -> str:
    """The first ```python block after `heading` in the README."""
    section = README[README.index(heading) :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, f"no python block after {heading!r}"
    return match.group(1)


def test_the_readme_is_short():
    assert len(README.splitlines()) <= MAX_LINES


def test_the_python_example_runs_as_written(stack, tmp_path):
    script = tmp_path / "smallest.py"
    script.write_text(readme_block("## The smallest Python"))
    env = {**stack.env, "TASK_QUEUE": f"readme-{uuid.uuid4().hex[:6]}", "LOG_LEVEL": "WARNING"}

    finished = subprocess.run([sys.executable, str(script)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    assert finished.returncode == 0, finished.stderr[-2000:]
    assert finished.stdout.splitlines() == ["completed ['ada', 'cy']"]


def test_every_link_in_the_readme_leads_to_a_file():
    targets = re.findall(r"\]\(((?:docs/|CHANGELOG)[^)#]*)", README)
    assert len(targets) >= 10
    assert [target for target in targets if not (REPO / target).exists()] == []
