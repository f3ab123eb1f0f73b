"""Builds the Temporal client, the worker and the replayer from settings, in one place, so
that their data converter, workflows and sandbox always match."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import structlog
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.failure.v1 import Failure
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverter, PayloadConverter
from temporalio.exceptions import ApplicationError
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import RPCError, RPCStatusCode, TLSConfig
from temporalio.worker import Replayer, Worker, WorkerDeploymentConfig
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from agentic.codec import EncryptionCodec, EncryptionKeys
from agentic.core.registry import DECODING_STORED
from agentic.errors import ServerUnreachable
from agentic.settings import Settings
from agentic.tracing import tracing_interceptors
from agentic.workflows.agent_run import AgentRunWorkflow
from agentic.workflows.visibility import SEARCH_ATTRIBUTES

WORKFLOWS = [AgentRunWorkflow]
# Shared with the sandbox, not re-imported for each run: the pure contract package, and the
# workflow code itself. Re-importing workflows/ made each run's first workflow task take 19 ms
# instead of 7 (bench/run.py); its modules keep no state between runs, call the world only
# through `workflow.*`, and tests/test_replay.py replays every committed history against it.
PASSTHROUGH_MODULES = ("agentic.core", "agentic.workflows")
# A worker that died loses its sticky cache; other workers take over after this long. With
# 1,000 runs at once on one worker, no workflow task waited this long on a live worker.
STICKY_QUEUE_TIMEOUT = timedelta(seconds=0.5)
# Heartbeats reach the server at least this often, so a cancel reaches a running action within
# about this long (the SDK's default throttle is 80% of the heartbeat timeout).
HEARTBEAT_THROTTLE = timedelta(seconds=0.5)


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


# The converter of every client, worker and replayer: pydantic models, lean failures (and
# encrypted payloads when PAYLOAD_ENCRYPTION_KEYS is set: see data_converter).
class StoredPayloadConverter(PydanticPayloadConverter):
    """The pydantic payload converter, decoding what Temporal stored as such: a plan there may
    use tools this process cannot reach now (core/registry.py, DECODING_STORED)."""

    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: list[type] | None = None
    ) -> list[Any]:
        token = DECODING_STORED.set(True)
        try:
            return super().from_payloads(payloads, type_hints)
        finally:
            DECODING_STORED.reset(token)


DATA_CONVERTER = dataclasses.replace(
    pydantic_data_converter,
    payload_converter_class=StoredPayloadConverter,
    failure_converter_class=EngineFailureConverter,
)


def data_converter(settings: Settings | None = None) -> DataConverter:
    """The engine's data converter, with the payload codec the settings ask for."""
    if settings is None or settings.payload_encryption_keys is None:
        return DATA_CONVERTER
    keys = EncryptionKeys.parse(settings.payload_encryption_keys.get_secret_value())
    return dataclasses.replace(DATA_CONVERTER, payload_codec=EncryptionCodec(keys))


CONNECTION_PROBLEMS = (
    ("ConnectionRefused", "connection refused"),
    ("dns error", "unknown host"),
    ("Name or service not known", "unknown host"),
    ("deadline", "no answer in time"),
    ("TimedOut", "no answer in time"),
    ("tls", "TLS handshake failed"),
)


# The Temporal core's own warnings (a payload near the size limit, ...) go through Python's
# logging, to stderr with the engine's logs: by default the core writes them to stdout, into
# the JSON that `--json` prints.
CORE_LOGGING = LoggingConfig(
    filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
    forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
)


def engine_runtime(metrics_address: str | None = None) -> Runtime:
    """A Temporal runtime that logs through Python's logging and, with `metrics_address`,
    serves the SDK's metrics (tasks, latencies, failures) to Prometheus."""
    metrics = PrometheusConfig(bind_address=metrics_address) if metrics_address else None
    return Runtime(telemetry=TelemetryConfig(logging=CORE_LOGGING, metrics=metrics))


@functools.cache
def shared_runtime() -> Runtime:
    """The process's one runtime for clients without metrics (a runtime owns threads)."""
    return engine_runtime()


async def connect(settings: Settings, serve_metrics: bool = False) -> Client:
    """A client for the configured server and namespace (with its API key, TLS when the key is
    set), with the engine's data converter.

    With `serve_metrics` (the worker) and METRICS_ADDRESS set, Prometheus metrics are served.
    With OTEL_EXPORTER_OTLP_ENDPOINT set, the client and its workers are traced (tracing.py)."""
    runtime = shared_runtime()
    if serve_metrics and settings.metrics_address:
        runtime = engine_runtime(settings.metrics_address)
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            api_key=settings.temporal_api_key,
            tls=tls_config(settings),
            data_converter=data_converter(settings),
            runtime=runtime,
            interceptors=tracing_interceptors(),
        )
    except RuntimeError as error:
        raise ServerUnreachable(
            f"cannot reach the Temporal server at {settings.temporal_address} "
            f"({connection_problem(error)}). Start one with 'python cli.py server' or set "
            "TEMPORAL_ADDRESS (or --address)."
        ) from error


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS as the TEMPORAL_TLS* settings (and an API key) ask: off, on with the system's CAs,
    or with a CA, a client certificate (mTLS) and a server name of their own."""
    if not settings.temporal_tls_on:
        return False
    if not (settings.temporal_tls_ca or settings.temporal_tls_cert or
            settings.temporal_tls_server_name):  # fmt: skip
        return True

    def read(path: Path | None) -> bytes | None:
        return path.read_bytes() if path is not None else None

    return TLSConfig(
        server_root_ca_cert=read(settings.temporal_tls_ca),
        client_cert=read(settings.temporal_tls_cert),
        client_private_key=read(settings.temporal_tls_key),
        domain=settings.temporal_tls_server_name,
    )


def connection_problem(error: Exception) -> str:
    """What the SDK's (long, nested) connection error comes down to."""
    text = str(error)
    for marker, meaning in CONNECTION_PROBLEMS:
        if marker in text:
            return meaning
    return text[:200]


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
    client: Client,
    settings: Settings,
    activities: list[Callable[..., Any]],
    *,
    task_queue: str | None = None,
    with_workflows: bool = True,
) -> Worker:
    """A worker on `task_queue` (default: TASK_QUEUE) with the given activities, and every
    workflow unless `with_workflows` is False."""
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=WORKFLOWS if with_workflows else [],
        activities=activities,
        workflow_runner=workflow_runner(),
        sticky_queue_schedule_to_start_timeout=STICKY_QUEUE_TIMEOUT,
        graceful_shutdown_timeout=timedelta(seconds=settings.worker_graceful_shutdown_seconds),
        max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        # Reads run as local activities have slots of their own: the same bound.
        max_concurrent_local_activities=settings.worker_max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        max_cached_workflows=settings.worker_max_cached_workflows,
        max_concurrent_workflow_task_polls=settings.worker_workflow_task_pollers,
        max_concurrent_activity_task_polls=settings.worker_activity_task_pollers,
        deployment_config=deployment_config(settings),
    )


def deployment_config(settings: Settings) -> WorkerDeploymentConfig | None:
    """Worker Versioning when WORKER_DEPLOYMENT_NAME and WORKER_BUILD_ID are set: each run is
    pinned to the build it started on, so a new build rolls out while old runs finish on the
    old code (the new build takes new runs once it is made the deployment's current version)."""
    if not settings.worker_build_id:
        return None
    version = WorkerDeploymentVersion(settings.worker_deployment_name, settings.worker_build_id)
    return WorkerDeploymentConfig(
        version=version,
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )


def build_replayer(settings: Settings | None = None) -> Replayer:
    """A replayer with the worker's workflows, converter and sandbox: replays histories to
    prove that the current code makes the same decisions as the code that recorded them."""
    return Replayer(
        workflows=WORKFLOWS,
        data_converter=data_converter(settings),
        workflow_runner=workflow_runner(),
    )


def web_ui_link(settings: Settings, workflow_id: str) -> str:
    """The run's page in the Temporal Web UI."""
    base = settings.temporal_ui_url.rstrip("/")
    return (
        f"{base}/namespaces/{settings.temporal_namespace}/workflows/{quote(workflow_id, safe='')}"
    )
