"""What `bench/run.py` starts and measures with: one tuned Temporal dev server, the local
backends, the scripted LLM, clients for the engine and for bare Temporal, worker processes."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client

from agentic.client import AgentClient
from agentic.core.messages import RunOptions, RunResult
from agentic.devstack import TemporalDevServer, free_port
from agentic.settings import Settings
from bench.load import CountingAPI
from bench.servers import BenchAPI, with_backlog
from bench.workers import REPO, WorkerProcess, bare_worker, cpu_seconds, engine_worker
from tests.fakes.llm_server import MODEL_ID, ScriptedLLM

LOAD_API_DELAY_SECONDS = 0.05  # bench/load.py's default
RUN_TIMEOUT_SECONDS = 600


class BenchFailed(Exception):
    """A run of a shape did not do its work: the figures would mean nothing."""


def langgraph_installed() -> bool:
    """Whether the `bench` extra (langgraph and its SQLite checkpointer) is installed."""
    try:
        return importlib.util.find_spec("langgraph.checkpoint.sqlite.aio") is not None
    except ModuleNotFoundError:
        return False


@dataclass
class Stack:
    """Servers, clients and workers of one bench run; `close()` stops what it started."""

    root: Path
    server: TemporalDevServer
    api: BenchAPI
    load_api: CountingAPI
    llm: ScriptedLLM
    settings: Settings
    temporal: Client
    bare: Client
    workers: list[WorkerProcess] = field(default_factory=list)

    @classmethod
    async def start(cls, root: Path) -> Stack:
        server = TemporalDevServer(free_port(), free_port(), headless=True, tuned=True).start()
        api = BenchAPI().start()
        load_api = CountingAPI(LOAD_API_DELAY_SECONDS).start()
        with_backlog(load_api)
        llm = ScriptedLLM().start()
        # The settings `python worker.py` reads from this environment: the engine's defaults.
        settings = Settings(temporal_address=server.address)
        temporal = (await AgentClient.connect(settings)).temporal
        bare = await Client.connect(server.address)
        return cls(root, server, api, load_api, llm, settings, temporal, bare)

    @property
    def options(self) -> RunOptions:
        """The engine's default run options (as `start` gives them), without approvals."""
        return RunOptions(**{**self.settings.run_option_defaults(), "approval": "none"})

    def server_cpu_seconds(self) -> float:
        """The CPU time the dev server has used so far."""
        assert self.server.process is not None
        return cpu_seconds(self.server.process.pid)

    def engine(self, task_queue: str) -> AgentClient:
        """An engine client starting runs on `task_queue`."""
        return AgentClient(
            self.temporal, self.settings.model_copy(update={"task_queue": task_queue})
        )

    def engine_worker(self, task_queue: str) -> WorkerProcess:
        """Start (not wait for) `python worker.py` on `task_queue`, the LLM set to ours."""
        allow = f"127.0.0.1:{self.api.port},127.0.0.1:{self.load_api.port}"
        llm = {
            "OPENAI_BASE_URL": self.llm.base_url,
            "OPENAI_API_KEY": "bench",
            "OPENAI_MODEL": MODEL_ID,
        }
        worker = engine_worker(self.server.address, task_queue, self.root, allow, llm)
        self.workers.append(worker)
        return worker

    def bare_worker(self, task_queue: str) -> WorkerProcess:
        """Start (not wait for) the bare worker on `task_queue`, with the engine's settings."""
        worker = bare_worker(self.server.address, task_queue, self.root, self.settings)
        self.workers.append(worker)
        return worker

    async def run_engine(
        self,
        task_queue: str,
        run_id: str,
        *,
        plan: dict[str, Any] | None = None,
        goal: str | None = None,
        options: RunOptions | None = None,
    ) -> tuple[float, RunResult]:
        """Run `plan` (or plan `goal`) with `options` (the defaults unless given): (seconds,
        result)."""
        started = time.perf_counter()
        handle = await self.engine(task_queue).start(
            plan=plan, goal=goal, options=options or self.options, workflow_id=run_id
        )
        result = await asyncio.wait_for(handle.result(), RUN_TIMEOUT_SECONDS)
        if result.status.value != "completed":
            raise BenchFailed(f"engine run {run_id} ended {result.status.value}: {result.error}")
        return time.perf_counter() - started, result

    async def run_bare(
        self, task_queue: str, workflow: str, argument: Any, run_id: str
    ) -> tuple[float, Any]:
        """Run a bare workflow to its end: (seconds, result)."""
        started = time.perf_counter()
        result = await self.bare.execute_workflow(
            workflow, argument, id=run_id, task_queue=task_queue
        )
        return time.perf_counter() - started, result

    async def run_langgraph(self, shape: str, *arguments: str) -> dict[str, Any]:
        """`python -m bench.langgraph_shapes SHAPE ...` in a process of its own: its figures."""
        database = self.root / f"langgraph-{shape}-{uuid.uuid4().hex[:6]}.sqlite"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.langgraph_shapes",
            shape,
            "--db",
            str(database),
            *arguments,
            cwd=REPO,
            env=dict(os.environ),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_SECONDS)
        if process.returncode != 0:
            raise BenchFailed(f"LangGraph {shape} failed:\n{stderr.decode()[-2000:]}")
        figures: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
        if figures["wrong"]:
            raise BenchFailed(f"LangGraph {shape}: {figures['wrong']} runs with a wrong result")
        return figures

    def close(self, keep_files: bool = False) -> None:
        """Stop everything; remove the workspace and the workers' logs unless `keep_files`."""
        for worker in self.workers:
            worker.stop()
        self.llm.stop()
        self.load_api.stop()
        self.api.stop()
        self.server.stop()
        if not keep_files:
            shutil.rmtree(self.root, ignore_errors=True)
