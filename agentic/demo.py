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
from agentic.examples.data_pipeline import data_pipeline
from agentic.localstack import start_local_stack
from agentic.settings import Settings

DEMO_TASK_QUEUE = "agentic-demo"
DEMO_TABLE = "demo_users"


@dataclass
class DemoRun:
    """What the demo ran, for the CLI to print."""

    result: RunResult
    settings: Settings
    started_temporal: bool
    database_url: str


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
        stack = await start_local_stack(settings, resources, DEMO_TASK_QUEUE)
        demo_settings, sample_api = stack.settings, stack.sample_api
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
        demo_run = DemoRun(result, demo_settings, stack.started_temporal, stack.database_url)
        await on_result(demo_run)
        if keep:
            await wait_for_interrupt()
        return demo_run
