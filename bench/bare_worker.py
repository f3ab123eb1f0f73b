"""A worker process for the bare Temporal workflows of bench/bare.py, for `bench/run.py`.

    python -m bench.bare_worker --address HOST:PORT --task-queue QUEUE --workspace DIR
        [--max-activities 100] [--max-workflow-tasks 100] [--max-cached 1000]
        [--workflow-pollers 5] [--activity-pollers 5] [--sticky-timeout 2]

`bench/run.py` passes the engine worker's own settings, so both workers differ only in what
they run. Prints `bare_worker_ready` once it polls; runs until SIGINT or SIGTERM. It imports
only temporalio, httpx and jmespath, so its memory is what bare Temporal costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jmespath
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from bench.bare import BARE_WORKFLOWS, FileWrite, Post, Transform

READY_LINE = "bare_worker_ready"
HTTP_TIMEOUT_SECONDS = 30  # the engine's api_call default


class BareActivities:
    """The activities of the bare workflows: one shared HTTP client, files in `workspace`."""

    def __init__(self, http: httpx.AsyncClient, workspace: Path) -> None:
        self.http = http
        self.workspace = workspace

    @activity.defn(name="bare_get")
    async def get(self, url: str) -> dict[str, Any]:
        response = await self.http.get(url)
        response.raise_for_status()
        return {"status_code": response.status_code, "body": response.json()}

    @activity.defn(name="bare_post")
    async def post(self, request: Post) -> dict[str, Any]:
        response = await self.http.post(request.url, json=request.json)
        response.raise_for_status()
        return {"status_code": response.status_code, "body": response.json()}

    @activity.defn(name="bare_transform")
    async def transform(self, request: Transform) -> Any:
        return jmespath.search(request.expression, request.input)

    @activity.defn(name="bare_write")
    async def write(self, request: FileWrite) -> int:
        text = request.content if isinstance(request.content, str) else json.dumps(request.content)
        path = self.workspace / request.path
        await asyncio.to_thread(_write_text, path, text)
        return len(text.encode())

    def all(self) -> list[Any]:
        return [self.get, self.post, self.transform, self.write]


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--max-activities", type=int, default=100)
    parser.add_argument("--max-workflow-tasks", type=int, default=100)
    parser.add_argument("--max-cached", type=int, default=1000)
    parser.add_argument("--workflow-pollers", type=int, default=5)
    parser.add_argument("--activity-pollers", type=int, default=5)
    parser.add_argument("--sticky-timeout", type=float, default=2.0, help="seconds")
    return parser.parse_args()


async def serve(arguments: argparse.Namespace) -> None:
    """Serve the task queue until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    client = await Client.connect(arguments.address)
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS, trust_env=False) as http:
        worker = Worker(
            client,
            task_queue=arguments.task_queue,
            workflows=BARE_WORKFLOWS,
            activities=BareActivities(http, arguments.workspace).all(),
            max_concurrent_activities=arguments.max_activities,
            max_concurrent_workflow_tasks=arguments.max_workflow_tasks,
            max_cached_workflows=arguments.max_cached,
            max_concurrent_workflow_task_polls=arguments.workflow_pollers,
            max_concurrent_activity_task_polls=arguments.activity_pollers,
            sticky_queue_schedule_to_start_timeout=timedelta(seconds=arguments.sticky_timeout),
        )
        async with worker:
            print(READY_LINE, flush=True)
            await stop.wait()


def main() -> None:
    asyncio.run(serve(parse_arguments()))
    # Without interpreter teardown, where the client's native threads can abort the process
    # (temporalio/sdk-python#300), as the engine's worker does.
    os._exit(0)


if __name__ == "__main__":
    main()
