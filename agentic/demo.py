"""`python cli.py demo`: the newcomer's first run on a machine with nothing running.

Starts what is missing (the Temporal dev server unless one answers at TEMPORAL_ADDRESS, an
embedded PostgreSQL, the sample API, a worker), runs the data_pipeline example on the sample
data, and stops what it started. The servers keep their data under DATA_DIR (.data/), so a
second demo finds the first one's history and rows.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

from agentic.client import AgentClient
from agentic.core.messages import RunOptions, RunResult
from agentic.devstack import EmbeddedPostgres, TemporalDevServer, port_open, split_address
from agentic.errors import ServerUnreachable, WorkerUnavailable
from agentic.examples.data_pipeline import data_pipeline
from agentic.examples.sample_api import SampleAPI
from agentic.settings import Settings
from agentic.worker import run_worker

DEMO_TASK_QUEUE = "agentic-demo"
DEMO_TABLE = "demo_users"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
WORKER_START_TIMEOUT_SECONDS = 30


@dataclass
class DemoRun:
    """What the demo ran, for the CLI to print."""

    result: RunResult
    settings: Settings
    started_temporal: bool
    database_url: str


async def _ensure_temporal(settings: Settings, resources: AsyncExitStack) -> tuple[str, bool]:
    """The address of a Temporal server: the configured one, or a dev server we start."""
    host, port = split_address(settings.temporal_address)
    if port_open(host, port):
        return settings.temporal_address, False
    if host not in LOCAL_HOSTS:
        raise ServerUnreachable(
            f"no Temporal server answers at {settings.temporal_address}, and the demo starts "
            "one only on this machine: unset TEMPORAL_ADDRESS or start the server"
        )
    server = TemporalDevServer(
        port,
        port + 1000,
        db_file=settings.data_dir / "temporal.db",
        log_path=settings.data_dir / "temporal.log",
    )
    await asyncio.to_thread(server.start)
    resources.callback(server.stop)
    return server.address, True


async def _start_worker(settings: Settings, resources: AsyncExitStack) -> None:
    stop, ready = asyncio.Event(), asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop=stop, ready=ready))

    async def stop_worker() -> None:
        stop.set()
        await worker

    resources.push_async_callback(stop_worker)
    ready_wait = asyncio.create_task(ready.wait())
    await asyncio.wait(
        {worker, ready_wait},
        timeout=WORKER_START_TIMEOUT_SECONDS,
        return_when=asyncio.FIRST_COMPLETED,
    )
    ready_wait.cancel()
    if worker.done():
        worker.result()  # raises the worker's error
    if not ready.is_set():
        raise WorkerUnavailable(
            f"the demo worker did not start within {WORKER_START_TIMEOUT_SECONDS} s"
        )


async def wait_for_interrupt() -> None:
    """Until Ctrl-C (or SIGTERM)."""
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, interrupted.set)
    await interrupted.wait()


async def run_demo(
    settings: Settings, keep: bool, on_result: Callable[[DemoRun], Awaitable[None]]
) -> DemoRun:
    """Start what is missing, run the data pipeline, report, and stop what was started."""
    async with AsyncExitStack() as resources:
        address, started_temporal = await _ensure_temporal(settings, resources)
        postgres = EmbeddedPostgres(settings.data_dir / "postgres")
        await asyncio.to_thread(postgres.start)
        resources.callback(postgres.stop)
        sample_api = SampleAPI(port=0).start()
        resources.callback(sample_api.stop)
        demo_settings = settings.model_copy(
            update={
                "temporal_address": address,
                "task_queue": DEMO_TASK_QUEUE,
                "database_url": postgres.url,
                # The network policy opens the sample API the demo started, and nothing else.
                "http_allow_hosts": f"127.0.0.1:{sample_api.port}",
            }
        )
        await _start_worker(demo_settings, resources)
        client = await AgentClient.connect(demo_settings)
        plan = data_pipeline(
            source_url=f"{sample_api.url}/users",
            output_path="demo/adults.json",
            report_path="demo/report.md",
            table=DEMO_TABLE,
        )
        result = await client.run(
            plan=plan,
            options=RunOptions(approval="none"),
            workflow_id=f"demo-{uuid.uuid4().hex[:8]}",
        )
        demo_run = DemoRun(result, demo_settings, started_temporal, postgres.url)
        await on_result(demo_run)
        if keep:
            await wait_for_interrupt()
        return demo_run
