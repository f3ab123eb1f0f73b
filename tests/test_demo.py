"""`python cli.py demo` on a machine with nothing running: it starts, runs, reports, stops."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from temporalio.client import Client

from agentic.devstack import TemporalDevServer, free_port, port_open
from tests.conftest import REPO


def free_port_pair() -> int:
    """A port whose +1000 neighbour (the Web UI) is free too."""
    while True:
        port = free_port()
        if port + 1000 < 65536 and not port_open("127.0.0.1", port + 1000):
            return port


async def demo_runs_in_history(address: str) -> list[str]:
    client = await Client.connect(address)
    return [run.id async for run in client.list_workflows("WorkflowType = 'AgentRun'")]


def test_demo_from_scratch_twice_keeps_history(tmp_path):
    port = free_port_pair()
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("OPENAI_")},
        "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "TEMPORAL_UI_URL": f"http://localhost:{port + 1000}",
        "DATA_DIR": str(tmp_path / ".data"),
        "WORKSPACE_DIR": str(tmp_path / "workspace"),
    }

    def demo() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "cli.py", "demo"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=180)  # fmt: skip

    first, second = demo(), demo()

    for finished in (first, second):
        assert finished.returncode == 0, finished.stderr
        assert ": completed" in finished.stdout
        assert "rows in table demo_users: 13" in finished.stdout, "the upsert keeps 13 rows"
        assert "OPENAI_API_KEY" in finished.stdout, "it says how to run a goal with an LLM"
    assert (tmp_path / "workspace" / "demo" / "report.md").exists()
    assert not port_open("127.0.0.1", port), "the demo stopped the server it started"

    server = TemporalDevServer(port, free_port(), db_file=tmp_path / ".data" / "temporal.db",
                               headless=True).start()  # fmt: skip
    try:
        runs = asyncio.run(demo_runs_in_history(f"127.0.0.1:{port}"))
    finally:
        server.stop()
    assert len([run for run in runs if run.startswith("demo-")]) == 2
