"""Builds the Temporal client and worker from settings, in one place, so they always match."""

from __future__ import annotations

import dataclasses
import os
import sys
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, NoReturn

import structlog
from pydantic import ValidationError
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.failure.v1 import Failure
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DefaultFailureConverter, PayloadConverter
from temporalio.exceptions import (
    ApplicationError,
    CancelledError,
    TerminatedError,
    TimeoutError,
)
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from settings import Settings
from workflows.agent_run import WORKFLOW_NAME, AgentRunWorkflow
from workflows.results import OUTCOME_ERROR_TYPES, RunInput, RunResult
from workflows.visibility import (
    GOAL,
    GOAL_MAX_CHARS,
    SEARCH_ATTRIBUTES,
    STATUS,
    TASK_COUNT,
    AgentStatus,
    plan_details,
    plan_summary,
)

WORKFLOWS = [AgentRunWorkflow]
# Pure-data modules the workflow imports: shared with the sandbox instead of re-imported.
PASSTHROUGH_MODULES = (
    "activities",
    "workflows.plan",
    "workflows.references",
    "workflows.results",
    "workflows.risk",
    "workflows.visibility",
)
# A worker that died loses its sticky cache; other workers take over after this long.
STICKY_QUEUE_TIMEOUT = timedelta(seconds=2)
# Heartbeats reach the server at least this often, so a cancel reaches a running action within
# about this long (the SDK's default throttle is 80% of the 10 s heartbeat timeout).
HEARTBEAT_THROTTLE = timedelta(seconds=2)
# On SIGTERM, actions in flight get this long to finish before they are cancelled.
GRACEFUL_SHUTDOWN = timedelta(seconds=5)


def exit_now(code: int) -> NoReturn:
    """Exit without interpreter teardown, where the Temporal client's native threads can
    abort the process (temporalio/sdk-python#300)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class EngineFailureConverter(DefaultFailureConverter):
    """Temporal's failure converter, minus the Python stack trace of an `ApplicationError`:
    the engine raises those on purpose (a run's outcome, a classified action error), and their
    frames are the SDK's and ours, not the problem. The stack of an unexpected exception, kept
    as the cause, stays."""

    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure
    ) -> None:
        super().to_failure(exception, payload_converter, failure)
        if isinstance(exception, ApplicationError):
            failure.stack_trace = ""


# The converter of every client, worker and replayer: pydantic models, lean failures.
DATA_CONVERTER = dataclasses.replace(
    pydantic_data_converter, failure_converter_class=EngineFailureConverter
)


class ServerUnreachable(RuntimeError):
    """The Temporal server did not answer at the configured address."""


def metrics_runtime(bind_address: str) -> Runtime:
    """A Temporal runtime serving the SDK's metrics (tasks, latencies, failures) to Prometheus."""
    metrics = PrometheusConfig(bind_address=bind_address)
    return Runtime(telemetry=TelemetryConfig(metrics=metrics))


async def connect(settings: Settings, serve_metrics: bool = False) -> Client:
    """A client for the configured server and namespace, with the pydantic data converter.

    With `serve_metrics` (the worker) and METRICS_ADDRESS set, Prometheus metrics are served."""
    runtime = None
    if serve_metrics and settings.metrics_address:
        runtime = metrics_runtime(settings.metrics_address)
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=DATA_CONVERTER,
            runtime=runtime,
        )
    except RuntimeError as error:
        raise ServerUnreachable(
            f"cannot reach the Temporal server at {settings.temporal_address} ({error}). "
            "Start one with 'python cli.py server' or set TEMPORAL_ADDRESS."
        ) from error


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Register the run's search attributes (AgentStatus, ...) where they are missing.

    Where the operator API is closed to us (a managed cluster), say what to register instead."""
    try:
        await _register_missing_attributes(client, namespace)
    except RPCError as error:
        if error.status not in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
            raise
        wanted = ", ".join(f"{name} ({kind})" for name, kind in SEARCH_ATTRIBUTES.items())
        structlog.get_logger("runtime").warning(
            "search_attributes_not_registered",
            error=str(error),
            hint=f"register these in namespace {namespace}: {wanted}",
        )


async def _register_missing_attributes(client: Client, namespace: str) -> None:
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = {
        name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper()}")
        for name, kind in SEARCH_ATTRIBUTES.items()
        if name not in listed.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(search_attributes=missing, namespace=namespace)
        )


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandboxed runner, with our pure-data modules passed through."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    return SandboxedWorkflowRunner(restrictions=restrictions)


def build_worker(
    client: Client, settings: Settings, activities: list[Callable[..., Any]]
) -> Worker:
    """A worker on the configured task queue with every workflow and the given activities."""
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=activities,
        workflow_runner=workflow_runner(),
        sticky_queue_schedule_to_start_timeout=STICKY_QUEUE_TIMEOUT,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        max_concurrent_activities=100,
    )


def build_replayer() -> Replayer:
    """A replayer with the worker's workflows, converter and sandbox: replays histories to
    prove that the current code makes the same decisions as the code that recorded them."""
    return Replayer(
        workflows=WORKFLOWS,
        data_converter=DATA_CONVERTER,
        workflow_runner=workflow_runner(),
    )


def web_ui_link(settings: Settings, workflow_id: str) -> str:
    """The run's page in the Temporal Web UI."""
    base = settings.temporal_ui_url.rstrip("/")
    return f"{base}/namespaces/{settings.temporal_namespace}/workflows/{workflow_id}"


SUMMARY_MAX_CHARS = 200
RESULT_QUERY_TIMEOUT = timedelta(seconds=10)


class RunResultUnavailable(RuntimeError):
    """A run ended without a result the engine can read (terminated, timed out)."""


def new_workflow_id() -> str:
    """A fresh run id."""
    return f"run-{uuid.uuid4().hex[:12]}"


async def start_run(
    client: Client, settings: Settings, run_input: RunInput, workflow_id: str | None = None
) -> WorkflowHandle[Any, RunResult]:
    """Start a run: every run, however started, gets the same summary, details, memo and
    search attributes in the Web UI."""
    goal = run_input.goal_text
    memo: dict[str, Any] = {"goal": goal}
    attributes: list[SearchAttributePair[Any]] = [
        SearchAttributePair(STATUS, AgentStatus.PLANNING.value),
        SearchAttributePair(GOAL, goal[:GOAL_MAX_CHARS]),
    ]
    details = "The planner turns the goal into a plan."
    if run_input.plan is not None:
        labels = [task.label for task in run_input.plan.tasks]
        memo["plan"] = plan_summary(labels)
        attributes.append(SearchAttributePair(TASK_COUNT, len(labels)))
        details = plan_details(run_input.plan)
    return await client.start_workflow(
        WORKFLOW_NAME,
        run_input,
        id=workflow_id or new_workflow_id(),
        task_queue=settings.task_queue,
        result_type=RunResult,
        memo=memo,
        search_attributes=TypedSearchAttributes(attributes),
        static_summary=(goal or "plan run")[:SUMMARY_MAX_CHARS],
        static_details=details,
    )


async def run_result(handle: WorkflowHandle[Any, Any]) -> RunResult:
    """The run's typed result, whatever its outcome: a run that did not complete ends as a
    failed (or canceled) workflow execution, and its result is read back from there."""
    try:
        return await handle.result()
    except WorkflowFailureError as error:
        carried = _result_in_failure(error.cause)
        if carried is not None:
            return carried
        if isinstance(error.cause, CancelledError):
            return await _cancelled_run_result(handle)
        raise RunResultUnavailable(
            f"run {handle.id} {_ended_how(error.cause)} and has no result; "
            f"'status {handle.id}' shows its tasks"
        ) from error


def _ended_how(cause: BaseException | None) -> str:
    why = getattr(cause, "message", "") or str(cause)
    if isinstance(cause, TerminatedError):
        return f"was terminated ({why})"
    if isinstance(cause, TimeoutError):
        return "timed out"
    return f"failed ({why})"


async def _cancelled_run_result(handle: WorkflowHandle[Any, Any]) -> RunResult:
    """A canceled execution carries no result: a worker reads it from the history."""
    try:
        answered = await handle.query(
            "result", result_type=RunResult | None, rpc_timeout=RESULT_QUERY_TIMEOUT
        )
    except RPCError as error:
        raise RunResultUnavailable(
            f"run {handle.id} was cancelled; its result is read by a worker, and none answered "
            f"({error.message}): start one with 'python worker.py'"
        ) from error
    if answered is None:
        raise RunResultUnavailable(f"run {handle.id} was cancelled before it had a result")
    return answered


def _result_in_failure(cause: BaseException | None) -> RunResult | None:
    """The result that a run's failure carries in its details (see raise_for_outcome)."""
    if not isinstance(cause, ApplicationError) or cause.type not in OUTCOME_ERROR_TYPES.values():
        return None
    try:
        return RunResult.model_validate(cause.details[0])
    except (IndexError, ValidationError):
        return None
