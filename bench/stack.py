"""What `bench/run.py` starts and measures with: a tuned Temporal dev server in memory (and, for
the rows against LangGraph's SQLite file, a second one persisting to a SQLite file), the local
backends, the scripted LLM, clients for the engine and for bare Temporal, worker processes."""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from temporalio.client import Client

from agentic.client import AgentClient
from agentic.core.messages import RunOptions, RunResult
from agentic.core.plan import Task
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


def start_dev_server(db_file: Path | None = None) -> TemporalDevServer:
    """A tuned dev server, in memory or persisting to `db_file` (`--db-filename`)."""
    return TemporalDevServer(
        free_port(), free_port(), db_file=db_file, headless=True, tuned=True
    ).start()


@functools.cache
def worker_processes_available() -> bool:
    """Whether `python worker.py` takes `--processes N` (a supervisor and N workers)."""
    helped = subprocess.run(
        [sys.executable, "worker.py", "--help"], cwd=REPO, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    return "--processes" in helped.stdout


def local_activities_available() -> bool:
    """Whether reads may run as local activities: a task takes `"local": false` to opt out."""
    return "local" in Task.model_fields


@dataclass
class Stack:
    """Servers, clients and workers of one bench run; `close()` stops what it started.

    `server`, `temporal` and `bare` are the in-memory dev server's; `on_file()` gives the same
    stack (backends, LLM, the one list of workers) on a dev server writing to a SQLite file."""

    root: Path
    server: TemporalDevServer
    api: BenchAPI
    load_api: CountingAPI
    llm: ScriptedLLM
    settings: Settings
    temporal: Client
    bare: Client
    workers: list[WorkerProcess] = field(default_factory=list)
    persisted: bool = False  # whether `server` writes to a file
    _on_file: list[Stack] = field(default_factory=list)  # shared with on_file()'s stack

    @classmethod
    async def start(cls, root: Path) -> Stack:
        server = await asyncio.to_thread(start_dev_server)
        api = BenchAPI().start()
        load_api = CountingAPI(LOAD_API_DELAY_SECONDS).start()
        with_backlog(load_api)
        llm = ScriptedLLM().start()
        # The settings `python worker.py` reads from this environment: the engine's defaults.
        settings = Settings(temporal_address=server.address)
        temporal = (await AgentClient.connect(settings)).temporal
        bare = await Client.connect(server.address)
        return cls(root, server, api, load_api, llm, settings, temporal, bare)

    async def on_file(self) -> Stack:
        """This stack on a tuned dev server persisting to a SQLite file in the workspace,
        as LangGraph's checkpointer does (started the first time it is asked for)."""
        if not self._on_file:
            server = await asyncio.to_thread(start_dev_server, self.root / "temporal.sqlite")
            settings = self.settings.model_copy(update={"temporal_address": server.address})
            temporal = (await AgentClient.connect(settings)).temporal
            bare = await Client.connect(server.address)
            self._on_file.append(
                replace(self, server=server, settings=settings, temporal=temporal, bare=bare,
                        persisted=True)
            )  # fmt: skip
        return self._on_file[0]

    @property
    def where(self) -> str:
        """Where its server keeps histories, for the rows' labels."""
        return "server on a file" if self.persisted else "server in memory"

    @property
    def options(self) -> RunOptions:
        """The engine's default run options (as `start` gives them), without approvals."""
        return RunOptions(**{**self.settings.run_option_defaults(), "approval": "none"})

    def server_cpu_seconds(self) -> float:
        """The CPU time the dev server has used so far."""
        assert self.server.process is not None
        return cpu_seconds(self.server.process.pid)

    def engine(self, task_queue: str, task_timeout: float | None = None) -> AgentClient:
        """An engine client starting runs on `task_queue` (with workflow tasks timing out after
        `task_timeout` seconds, when given)."""
        update: dict[str, Any] = {"task_queue": task_queue}
        if task_timeout is not None:
            update["workflow_task_timeout_seconds"] = task_timeout
        return AgentClient(self.temporal, self.settings.model_copy(update=update))

    def engine_worker(self, task_queue: str, processes: int = 1) -> WorkerProcess:
        """Start (not wait for) `python worker.py [--processes N]` on `task_queue`, the LLM set
        to ours."""
        allow = f"127.0.0.1:{self.api.port},127.0.0.1:{self.load_api.port}"
        llm = {
            "OPENAI_BASE_URL": self.llm.base_url,
            "OPENAI_API_KEY": "bench",
            "OPENAI_MODEL": MODEL_ID,
        }
        log_path = self.log_path("engine", task_queue, processes)
        worker = engine_worker(self.server.address, task_queue, log_path, allow, llm, processes)
        self.workers.append(worker)
        return worker

    def bare_worker(self, task_queue: str) -> WorkerProcess:
        """Start (not wait for) the bare worker on `task_queue`, with the engine's settings."""
        log_path = self.log_path("bare", task_queue)
        worker = bare_worker(self.server.address, task_queue, log_path, self.settings)
        self.workers.append(worker)
        return worker

    def log_path(self, kind: str, task_queue: str, processes: int = 1) -> Path:
        """A worker's log: one per kind, server and queue (a log read for the ready line must
        be the worker's own), and a number when that worker was started before."""
        name = f"{kind}-{'file-' if self.persisted else ''}{task_queue}"
        name += f"-{processes}p" if processes > 1 else ""
        started_before = sum(
            re.fullmatch(rf"{re.escape(name)}(-\d+)?", worker.log_path.stem) is not None
            for worker in self.workers
        )
        return self.root / f"{name}{f'-{started_before + 1}' if started_before else ''}.log"

    async def run_engine(
        self,
        task_queue: str,
        run_id: str,
        *,
        plan: dict[str, Any] | None = None,
        goal: str | None = None,
        options: RunOptions | None = None,
        task_timeout: float | None = None,
    ) -> tuple[float, RunResult]:
        """Run `plan` (or plan `goal`) with `options` (the defaults unless given): (seconds,
        result)."""
        started = time.perf_counter()
        handle = await self.engine(task_queue, task_timeout).start(
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
        for persisted in self._on_file:
            persisted.server.stop()
        if not keep_files:
            shutil.rmtree(self.root, ignore_errors=True)
