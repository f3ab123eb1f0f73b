"""OpenTelemetry tracing through Temporal's own interceptor: one trace per run, from the
client's `StartWorkflow` through the workflow, each task's activity and each LLM call.

Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set,
and off otherwise: no interceptor, and neither the OpenTelemetry SDK nor an exporter is
imported. OTEL_SDK_DISABLED=true turns it off too.

The OTEL_* variables are read from the process environment by the OpenTelemetry SDK itself,
as in any program it traces, and not through the engine's Settings: the SDK reads the whole
family (endpoint, headers, protocol, certificates, timeouts, sampler, resource attributes),
and copying one or two of them into Settings would split it (a .env file would hold the
endpoint but not the headers that authenticate to it). OTEL_SERVICE_NAME names the service
(default: the name the process gives, `agentic-worker` or `agentic-cli`).

Spans go out over OTLP in the protocol OTEL_EXPORTER_OTLP_PROTOCOL names. Its default here is
`http/protobuf` (port 4318), the default the OpenTelemetry specification gives: it needs no
grpcio, a large native package the engine has no other use for (the Temporal SDK speaks gRPC
through its Rust core), and it goes through HTTP proxies. `grpc` works with the gRPC
exporter installed.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentic.errors import TracingUnavailable

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from temporalio.client import Interceptor

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
PROTOCOL_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
DEFAULT_PROTOCOL = "http/protobuf"
INSTALL_HINT = "pip install 'agentic-temporal[tracing]'"
# OTLP protocol -> the module of its span exporter, and how to install it.
EXPORTERS = {
    "http/protobuf": ("opentelemetry.exporter.otlp.proto.http.trace_exporter", INSTALL_HINT),
    "grpc": (
        "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
        "pip install opentelemetry-exporter-otlp-proto-grpc",
    ),
}
FLUSH_TIMEOUT_MILLIS = 5_000

# The process's tracer provider once tracing is on (OpenTelemetry's is process-wide too).
_provider: TracerProvider | None = None


def tracing_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """True when the environment asks for traces: an OTLP endpoint is set, the SDK is not
    disabled."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def setup_tracing(
    service_name: str = "agentic", *, span_processor: SpanProcessor | None = None
) -> bool:
    """Install the process's tracer provider, once: spans batched to the OTLP exporter when
    tracing is requested, or to `span_processor` (tests). Returns whether tracing is on.

    The first call wins; later ones (the worker's client, then the API's) find it installed.
    Raises `TracingUnavailable` when tracing is requested but the packages are missing."""
    global _provider
    if _provider is not None:
        return True
    if span_processor is None and not tracing_requested():
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as error:
        raise TracingUnavailable(_missing_package(error.name, INSTALL_HINT)) from None
    installed = trace.get_tracer_provider()
    if isinstance(installed, TracerProvider):
        # OpenTelemetry keeps one provider per process: an application embedding the engine
        # set its own up (with its exporters), or this process did before (tests).
        _provider = installed
        if span_processor is not None:
            installed.add_span_processor(span_processor)
        return True
    name = os.environ.get("OTEL_SERVICE_NAME", "").strip() or service_name
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(span_processor or BatchSpanProcessor(otlp_exporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    return True


def tracing_interceptors(service_name: str = "agentic") -> list[Interceptor]:
    """`[TracingInterceptor()]` when tracing is on, for a client: its workers take it too,
    so workflows and activities are traced. An empty list otherwise."""
    if not setup_tracing(service_name):
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


def otlp_exporter() -> SpanExporter:
    """The OTLP span exporter of the configured protocol; it reads its endpoint, headers and
    the rest of OTEL_EXPORTER_OTLP_* itself."""
    protocol = _first_set(PROTOCOL_VARIABLES) or DEFAULT_PROTOCOL
    if protocol not in EXPORTERS:
        raise TracingUnavailable(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol} is not supported; use "
            f"{' or '.join(EXPORTERS)} (default {DEFAULT_PROTOCOL})"
        )
    module_name, install = EXPORTERS[protocol]
    try:
        module: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise TracingUnavailable(_missing_package(error.name, install)) from None
    exporter: SpanExporter = module.OTLPSpanExporter()
    return exporter


def flush_tracing() -> None:
    """Send the spans still buffered (at exit: the CLI and the worker leave with os._exit,
    which skips the SDK's own exit hook). Nothing to do when tracing is off."""
    if _provider is not None:
        _provider.force_flush(FLUSH_TIMEOUT_MILLIS)


def stop_tracing() -> None:
    """Flush and shut the provider down; clients connected after this are not traced (tests).
    OpenTelemetry keeps its global provider for the process's life, shut down."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None


def _first_set(names: tuple[str, ...]) -> str:
    for name in names:
        value = os.environ.get(name, "").strip().lower()
        if value:
            return value
    return ""


def _missing_package(module: str | None, hint: str) -> str:
    return (
        f"OTEL_EXPORTER_OTLP_ENDPOINT is set, but tracing needs {module or 'OpenTelemetry'}, "
        f"which is not installed: {hint} (or unset OTEL_EXPORTER_OTLP_ENDPOINT)"
    )
