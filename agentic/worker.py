"""Running a worker: the AgentRun workflow, the actions (built-in, plug-ins, your own) and the
planner and analyst activities, on one task queue, until stopped."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from contextlib import AsyncExitStack
from typing import NoReturn

import structlog
from pydantic import ValidationError

from agentic.activities.actions import action_activities
from agentic.activities.base import ActionContext
from agentic.activities.blobs import Blobs, open_store
from agentic.activities.builtin import BUILTIN_ACTIONS
from agentic.activities.items import item_activities
from agentic.activities.llm import TokenLimits, llm_activities
from agentic.activities.mcp import McpServers
from agentic.activities.network import HttpClients, NetworkPolicy, PlanNetworkCheck
from agentic.activities.postgres import close_pools
from agentic.activities.secrets import ENV_PREFIX as SECRET_ENV_PREFIX
from agentic.activities.secrets import SecretStore
from agentic.agents.client import LLMClient
from agentic.core.actions.base import Action
from agentic.core.actions.postgres import database_host
from agentic.core.mcp import McpServerSetting
from agentic.core.plan import format_validation_error
from agentic.errors import (
    AgenticError,
    BlobStoreError,
    OpenApiSpecError,
    PluginError,
    SecretsError,
)
from agentic.logging import configure_logging
from agentic.plugins import load_actions, register_actions
from agentic.runtime import build_worker, connect, ensure_search_attributes, exit_now
from agentic.settings import Settings, dotenv_variables, get_settings, override_settings
from agentic.supervisor import SUPERVISOR_PID_VARIABLE
from agentic.tracing import flush_tracing, setup_tracing

logger = structlog.get_logger("worker")
# How often a supervisor's child checks that its supervisor is still there.
ORPHAN_CHECK_SECONDS = 1.0


async def run_worker(
    settings: Settings,
    actions: list[Action] | None = None,
    *,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Serve the task queue until `stop` is set (by default: until SIGINT or SIGTERM), then
    let in-flight actions finish and close.

    `actions` are action types of your own, added to the built-in ones and to the plug-ins
    named by ACTION_MODULES and the `agentic.actions` entry points. `ready` is set once the
    worker polls its task queue. A plug-in that cannot be loaded raises `PluginError`.
    """
    if not structlog.is_configured():  # embedded in an application that left logging alone
        configure_logging(settings.log_level, settings.log_format)
    every_action = distinct_actions([*BUILTIN_ACTIONS, *load_actions(settings), *(actions or [])])
    register_actions(every_action)
    stop = stop or _stop_on_signals()
    secrets = load_secrets(settings)  # a bad secrets file is said before anything starts
    # OpenAPI services' operations are action types too; a bad document stops the start here.
    openapi = distinct_actions([*every_action, *await openapi_service_actions(settings)])
    register_actions(openapi[len(every_action) :])
    every_action = openapi
    blobs = open_blobs(settings)
    setup_tracing("agentic-worker")  # with OTEL_EXPORTER_OTLP_ENDPOINT; connect() adds the rest
    client = await connect(settings, serve_metrics=True)
    await ensure_search_attributes(client, settings.temporal_namespace)
    settings.workspace_dir.mkdir(parents=True, exist_ok=True)
    async with AsyncExitStack() as resources:
        # Pushed first, so it runs last: the spans of everything below are sent.
        resources.push_async_callback(asyncio.to_thread, flush_tracing)
        clients = HttpClients(
            NetworkPolicy(settings.allow_rules),
            max_redirects=settings.http_max_redirects,
            runs_may_add=settings.http_run_allow_hosts,
        )
        resources.push_async_callback(clients.aclose)
        # MCP servers' tools become action types before the worker polls: the workflow
        # validates plans against the registry (a server that cannot be reached is logged).
        mcp_servers = McpServers(mcp_server_settings(settings), secrets, clients.policy_for())
        resources.push_async_callback(mcp_servers.aclose)
        mcp_actions = await mcp_servers.discover()
        register_actions(mcp_actions)
        every_action = [*every_action, *mcp_actions]
        context = ActionContext(
            http=clients.for_run(),
            network=clients.policy_for(),
            http_clients=clients,
            workspace_dir=settings.workspace_dir,
            database_url=settings.database_url,
            db_row_limit=settings.db_row_limit,
            db_statement_timeout_seconds=settings.db_statement_timeout_seconds,
            file_max_read_bytes=settings.file_max_read_bytes,
            max_response_bytes=settings.http_max_response_bytes,
            secrets=secrets,
            blobs=blobs,
        )
        resources.push_async_callback(close_pools, context)
        served = settings.served_roles
        serves_llm = any("llm" in roles for roles in served.values())
        llm = LLMClient.from_settings(settings) if serves_llm else None  # openai loads here
        if llm is not None:
            resources.push_async_callback(llm.close)
        limits = TokenLimits(settings.llm_planner_max_tokens, settings.llm_analyst_max_tokens)
        plan_check = PlanNetworkCheck(clients, trusted=own_destinations(settings))
        by_role = {
            "actions": [*action_activities(every_action, context), *item_activities(blobs)],
            "llm": llm_activities(llm, limits, plan_check) if serves_llm else [],
        }
        for task_queue, roles in served.items():
            activities = [activity for role in roles for activity in by_role.get(role, [])]
            worker = build_worker(client, settings, activities, task_queue=task_queue,
                                  with_workflows="workflows" in roles)  # fmt: skip
            await resources.enter_async_context(worker)
        logger.info(
            "worker_ready",
            task_queue=settings.task_queue,
            serves=served,
            address=settings.temporal_address,
            namespace=settings.temporal_namespace,
            workspace=str(settings.workspace_dir.resolve()),
            actions=sorted(action.action_type for action in every_action),
            llm=[endpoint.label for endpoint in llm.endpoints] if llm else None,
            metrics=settings.metrics_address,
            pid=os.getpid(),
        )
        if ready is not None:
            ready.set()
        await stop.wait()
        logger.info("worker_stopping")


def load_secrets(settings: Settings) -> SecretStore:
    """The worker's secrets (SECRETS_FILE, AGENTIC_SECRET_* of the environment, then of .env);
    a bad file is a PluginError-like AgenticError with one line."""
    environ = {**dotenv_variables(SECRET_ENV_PREFIX), **os.environ}
    try:
        return SecretStore.load(settings.secrets_file, environ)
    except ValueError as error:
        raise SecretsError(str(error)) from None


async def openapi_service_actions(settings: Settings) -> list[Action]:
    """The actions of OPENAPI_SERVICES' operations; a document that cannot be read or is not
    valid OpenAPI is an OpenApiSpecError of one line, naming the service."""
    if not settings.openapi_services:
        return []
    # Imported here: the OpenAPI validator loads only when services are set.
    from agentic.activities.openapi import openapi_actions

    try:
        return await openapi_actions(settings.openapi_services)
    except ValueError as error:
        raise OpenApiSpecError(str(error)) from None


def mcp_server_settings(settings: Settings) -> dict[str, McpServerSetting]:
    """MCP_SERVERS and MCP_SERVERS_FILE's servers; a bad file is a PluginError of one line."""
    try:
        return settings.mcp_server_settings()
    except ValueError as error:
        raise PluginError(str(error)) from None


def open_blobs(settings: Settings) -> Blobs:
    """The blob store BLOB_STORE names, with BLOB_THRESHOLD_BYTES; a bad one is one line."""
    try:
        return Blobs(open_store(settings.blob_location), settings.blob_threshold_bytes)
    except ValueError as error:
        raise BlobStoreError(str(error)) from None


def own_destinations(settings: Settings) -> frozenset[tuple[str, int]]:
    """Where the worker itself connects for actions: its DATABASE_URL's host."""
    if not settings.database_url:
        return frozenset()
    host, port = database_host(settings.database_url)
    return frozenset({(host, port)}) if host else frozenset()


def distinct_actions(actions: list[Action]) -> list[Action]:
    """Each action once (a plug-in may also be passed in); two different actions of one type
    are a PluginError."""
    by_type: dict[str, Action] = {}
    for action in actions:
        known = by_type.setdefault(action.action_type, action)
        if known is not action and not (known.describes_same(action) and known.run is action.run):
            raise PluginError(f"two different actions are named {action.action_type!r}")
    return list(by_type.values())


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """`python worker.py [--queues workflows,actions,llm]`."""
    parser = argparse.ArgumentParser(
        prog="worker.py",
        description="Serve the engine's task queues until SIGINT or SIGTERM (see the README's "
        "Settings).",
    )
    parser.add_argument(
        "--queues",
        metavar="ROLES",
        help="what this process serves, comma-separated: workflows (TASK_QUEUE), actions "
        "(ACTION_TASK_QUEUE), llm (LLM_TASK_QUEUE); default: WORKER_QUEUES, else all three",
    )
    parser.add_argument(
        "--processes",
        metavar="N",
        help=PROCESSES_HELP,
    )
    return parser.parse_args(argv)


PROCESSES_HELP = (
    "worker processes on these queues under one supervisor that restarts them: a number, or "
    "auto (one per core); default: WORKER_PROCESSES, else 1 (this process serves alone)"
)


def main() -> None:
    """`python worker.py`: settings from the environment, one line on stderr for a bad one."""
    arguments = parse_arguments(sys.argv[1:])
    serve(arguments.queues, arguments.processes)


def serve(queues: str | None = None, processes: str | None = None) -> NoReturn:
    """Serve the task queues (`queues`, default WORKER_QUEUES) until SIGINT or SIGTERM, then
    exit: `python worker.py` and `agentic worker`. With more than one process (`processes`,
    default WORKER_PROCESSES), a supervisor runs that many workers instead."""
    override_settings(worker_queues=queues, worker_processes=processes)
    try:
        settings = get_settings()
    except ValidationError as error:
        print(f"error: invalid setting: {format_validation_error(error)}", file=sys.stderr)
        exit_now(1)
    configure_logging(settings.log_level, settings.log_format)
    try:
        if settings.worker_processes > 1:
            check_before_start(settings)
            from agentic.supervisor import supervise

            exit_now(supervise(settings))
        asyncio.run(serve_until_stopped(settings))
    except AgenticError as error:
        print(f"error: {error}", file=sys.stderr)
        exit_now(1)
    logger.info("worker_stopped")
    exit_now(0)


async def serve_until_stopped(settings: Settings) -> None:
    """Run the worker until SIGINT or SIGTERM, or, for a supervisor's child, until its
    supervisor is gone (killed without a chance to drain it)."""
    stop = _stop_on_signals()
    supervisor_pid = os.environ.get(SUPERVISOR_PID_VARIABLE)
    watch = (
        asyncio.create_task(stop_when_orphaned(int(supervisor_pid), stop))
        if supervisor_pid
        else None
    )
    try:
        await run_worker(settings, stop=stop)
    finally:
        if watch is not None:
            watch.cancel()


async def stop_when_orphaned(supervisor_pid: int, stop: asyncio.Event) -> None:
    """Set `stop` once this process's parent is no longer `supervisor_pid`."""
    while os.getppid() == supervisor_pid:
        await asyncio.sleep(ORPHAN_CHECK_SECONDS)
    logger.warning("supervisor_gone", supervisor_pid=supervisor_pid)
    stop.set()


def check_before_start(settings: Settings) -> None:
    """What would stop every worker at start, said once by the supervisor: the plug-ins, the
    secrets file, the blob store, the MCP servers' settings (each an AgenticError)."""
    load_actions(settings)
    load_secrets(settings)
    open_blobs(settings)
    mcp_server_settings(settings)


if __name__ == "__main__":  # a supervisor's child: python -m agentic.worker
    main()
