"""The servers a command starts on this machine for its own runs, and stops after them: what
`demo` and `eval` share.

`start_local_stack` starts what is missing (the Temporal dev server unless one answers at
TEMPORAL_ADDRESS), an embedded PostgreSQL under DATA_DIR, the sample API on a free port and a
worker in this process, each stopped when the caller's `AsyncExitStack` closes.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass

from agentic.devstack import EmbeddedPostgres, TemporalDevServer, port_open, split_address
from agentic.errors import ServerUnreachable, WorkerUnavailable
from agentic.examples.sample_api import SampleAPI
from agentic.settings import Settings
from agentic.worker import run_worker

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
WORKER_START_TIMEOUT_SECONDS = 30


@dataclass
class LocalStack:
    """What `start_local_stack` started: the settings its worker runs with (server address,
    task queue, database, network policy), and the servers."""

    settings: Settings
    started_temporal: bool
    database_url: str
    sample_api: SampleAPI


async def ensure_temporal(
    settings: Settings, resources: AsyncExitStack, command: str = "demo"
) -> tuple[str, bool]:
    """The address of a Temporal server: the configured one, or a dev server we start (and
    stop with `resources`); True when we started it. `command` names who asks, in errors."""
    host, port = split_address(settings.temporal_address)
    if port_open(host, port):
        return settings.temporal_address, False
    if host not in LOCAL_HOSTS:
        raise ServerUnreachable(
            f"no Temporal server answers at {settings.temporal_address}, and {command} starts "
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


async def start_worker(
    settings: Settings, resources: AsyncExitStack, command: str = "demo"
) -> None:
    """A worker in this process, serving `settings`' task queues until `resources` closes;
    returns once it serves. Raises its error if it stops first, `WorkerUnavailable` if it is
    not serving within WORKER_START_TIMEOUT_SECONDS."""
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
            f"the {command} worker did not start within {WORKER_START_TIMEOUT_SECONDS} s"
        )


async def start_local_stack(
    settings: Settings, resources: AsyncExitStack, task_queue: str, command: str = "demo"
) -> LocalStack:
    """Temporal (unless one runs), PostgreSQL, the sample API and a worker on `task_queue`,
    all stopped when `resources` closes. The worker's network policy opens the sample API it
    started, and nothing else; its `db_query` tasks use the PostgreSQL it started."""
    address, started_temporal = await ensure_temporal(settings, resources, command)
    postgres = EmbeddedPostgres(settings.data_dir / "postgres")
    await asyncio.to_thread(postgres.start)
    resources.callback(postgres.stop)
    sample_api = SampleAPI(port=0).start()
    resources.callback(sample_api.stop)
    stack_settings = settings.model_copy(
        update={
            "temporal_address": address,
            "task_queue": task_queue,
            "database_url": postgres.url,
            "http_allow_hosts": f"127.0.0.1:{sample_api.port}",
        }
    )
    await start_worker(stack_settings, resources, command)
    return LocalStack(stack_settings, started_temporal, postgres.url, sample_api)
