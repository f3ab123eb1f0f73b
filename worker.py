"""Runs a Temporal worker with every workflow and activity registered, until stopped.

    python worker.py

Settings (environment): TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TASK_QUEUE, WORKSPACE_DIR,
OPENAI_API_KEY / OPENAI_BASE_URL / OPENAI_MODEL, DATABASE_URL, LOG_LEVEL.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from contextlib import AsyncExitStack

import httpx
import structlog

from activities.actions import action_activities
from activities.base import ActionContext
from activities.llm import TokenLimits, llm_activities
from activities.postgres import close_pools
from agents.client import LLMClient
from logging_setup import configure_logging
from runtime import (
    ServerUnreachable,
    build_worker,
    connect,
    ensure_search_attributes,
    exit_now,
)
from settings import Settings, get_settings

logger = structlog.get_logger("worker")


async def run_worker(
    settings: Settings, stop: asyncio.Event, ready: asyncio.Event | None = None
) -> None:
    """Serve the task queue until `stop` is set, then finish in-flight work and close.

    `ready` is set once the worker polls its task queue.
    """
    client = await connect(settings, serve_metrics=True)
    await ensure_search_attributes(client, settings.temporal_namespace)
    settings.workspace_dir.mkdir(parents=True, exist_ok=True)
    async with AsyncExitStack() as resources:
        http = await resources.enter_async_context(httpx.AsyncClient(follow_redirects=True))
        context = ActionContext(
            http=http,
            workspace_dir=settings.workspace_dir,
            database_url=settings.database_url,
            db_row_limit=settings.db_row_limit,
        )
        resources.push_async_callback(close_pools, context)
        llm = LLMClient.from_settings(settings)
        if llm is not None:
            resources.push_async_callback(llm.close)
        limits = TokenLimits(settings.llm_planner_max_tokens, settings.llm_analyst_max_tokens)
        activities = [*action_activities(context), *llm_activities(llm, limits)]
        worker = build_worker(client, settings, activities)
        async with worker:
            logger.info(
                "worker_ready",
                task_queue=settings.task_queue,
                address=settings.temporal_address,
                namespace=settings.temporal_namespace,
                workspace=str(settings.workspace_dir.resolve()),
                llm=[endpoint.label for endpoint in llm.endpoints] if llm else None,
                metrics=settings.metrics_address,
            )
            if ready is not None:
                ready.set()
            await stop.wait()
            logger.info("worker_stopping")


def main() -> None:
    """Entry point: run until SIGINT or SIGTERM."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_worker(settings, stop)

    try:
        asyncio.run(serve())
    except ServerUnreachable as error:
        print(f"error: {error}", file=sys.stderr)
        exit_now(1)
    exit_now(0)


if __name__ == "__main__":
    main()
