"""Every bash block of the docs and the README runs as written, as a reader would type it (with
a Temporal server and a worker, and without an LLM), unless the line before it says
`<!-- not run: REASON -->`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_docs import Block, blocks_of


@pytest.mark.parametrize("block", blocks_of("bash"))
def test_bash_blocks_run_as_written(block: Block, stack, tmp_path: Path):
    env = {**stack.env, "WORKSPACE_DIR": str(tmp_path / "workspace"), "LOG_LEVEL": "WARNING"}
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):  # the docs' readers start without an LLM
        env.pop(name, None)

    finished = subprocess.run(["bash", "-euo", "pipefail", "-c", block.code], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=180)  # fmt: skip

    assert finished.returncode == 0, (
        f"{block.where}:\n{finished.stdout[-2000:]}\n{finished.stderr[-3000:]}"
    )
