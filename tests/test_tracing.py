"""Tracing: one OpenTelemetry trace per run, from the client's start through the workflow, each
activity and each LLM call, with the model and tokens but never a prompt, a goal or a secret;
nothing installed without an OTLP endpoint; one line saying what to install when it is set
but the packages are missing."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentic.client import AgentClient
from agentic.core.messages import RunOptions
from agentic.settings import Settings
from agentic.tracing import setup_tracing, stop_tracing
from tests.conftest import REPO
from tests.fakes.api_server import Reply
from tests.helpers import get, task, worker_for

SECRET = "trace-secret-9f3c2a"
API_KEY = "sk-trace-key-5d1e77"
LLM_SPAN = "chat scripted-model"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on in this process, every span kept in memory; off again after the test."""
    exporter = InMemorySpanExporter()
    assert setup_tracing("agentic-test", span_processor=SimpleSpanProcessor(exporter))
    yield exporter
    stop_tracing()


async def test_one_trace_follows_a_run_from_start_to_each_activity_and_llm_call(
    spans, temporal_server, llm, api, tmp_path, monkeypatch
):
    suffix = uuid.uuid4().hex[:6]
    goal = f"fetch the traced record {uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AGENTIC_SECRET_TRACE_TOKEN", SECRET)
    monkeypatch.setenv("AGENTIC_SECRET_TRACE_TOKEN_HOSTS", f"127.0.0.1:{api.port}")
    api.route("GET", f"/traced/{suffix}", Reply(json={"ok": True}))
    fetch = get(f"{api.url}/traced/{suffix}",
                headers={"Authorization": "Bearer {{ secrets.TRACE_TOKEN }}"})  # fmt: skip
    plan = {"goal": goal, "tasks": [task("fetch", "api_call", fetch)]}
    llm.script(f"Goal: {goal}", plan)
    settings = Settings(
        temporal_address=temporal_server.address,
        task_queue=f"tracing-{suffix}",
        workspace_dir=tmp_path,
        openai_base_url=llm.base_url,
        openai_api_key=API_KEY,
        openai_model="scripted-model",
        http_allow_hosts=f"127.0.0.1:{api.port}",
        llm_timeout_seconds=30,
    )
    async with worker_for(settings):
        client = await AgentClient.connect(settings)
        options = RunOptions(approval="none", max_retries=0, joiner="off")
        handle = await client.start(goal=goal, options=options)
        result = await handle.result()

    assert result.status == "completed", result.error
    assert api.calls("GET", f"/traced/{suffix}")[0].headers["authorization"] == f"Bearer {SECRET}"
    finished = spans.get_finished_spans()
    run = spans_of_run(finished, handle.workflow_id)
    by_name = {span.name: span for span in run}
    assert {
        "StartWorkflow:AgentRun",
        "RunWorkflow:AgentRun",
        "RunActivity:plan_goal_streamed",
        "RunActivity:api_call",
        LLM_SPAN,
    } <= set(by_name), sorted(by_name)
    # The SDK's interceptor: the workflow's spans (zero-length, replay-safe) are children of
    # the client's span, each activity's run a child of the workflow's StartActivity span.
    assert ancestry(by_name["RunWorkflow:AgentRun"], run) == ["StartWorkflow:AgentRun"]
    assert ancestry(by_name[LLM_SPAN], run) == [
        "RunActivity:plan_goal_streamed",
        "StartActivity:plan_goal_streamed",
        "StartWorkflow:AgentRun",
    ]
    assert ancestry(by_name["RunActivity:api_call"], run) == [
        "StartActivity:api_call",
        "StartWorkflow:AgentRun",
    ]

    [planned] = result.llm_calls
    llm_attributes = dict(by_name[LLM_SPAN].attributes or {})
    assert llm_attributes["gen_ai.request.model"] == "scripted-model"
    assert llm_attributes["gen_ai.usage.input_tokens"] == planned.prompt_tokens > 0
    assert llm_attributes["gen_ai.usage.output_tokens"] == planned.completion_tokens > 0
    assert llm_attributes["agentic.llm.purpose"] == "plan"
    assert llm_attributes["agentic.llm.output_mode"] == planned.mode

    [request] = llm.requests_matching(f"Goal: {goal}")
    prompts = [message["content"] for message in request["messages"]]
    assert_not_shown(finished, [goal, SECRET, API_KEY, *prompts, *(text[:40] for text in prompts)])


def spans_of_run(spans: Sequence[ReadableSpan], workflow_id: str) -> list[ReadableSpan]:
    """The spans of the trace the client's StartWorkflow span of that run began."""
    [start] = [
        span
        for span in spans
        if span.name == "StartWorkflow:AgentRun"
        and (span.attributes or {}).get("temporalWorkflowID") == workflow_id
    ]
    trace_id = start.context.trace_id
    return [span for span in spans if span.context.trace_id == trace_id]


def ancestry(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> list[str]:
    """The names of the span's parent, its parent's parent, ... up to the root."""
    by_id = {other.context.span_id: other for other in spans}
    names: list[str] = []
    while span.parent is not None:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


def assert_not_shown(spans: Sequence[ReadableSpan], hidden_texts: list[str]) -> None:
    """No span's name, attribute value or event attribute value contains any of the texts."""
    shown = [span.name for span in spans]
    for span in spans:
        attribute_sets = [span.attributes or {}, *(event.attributes or {} for event in span.events)]
        for attributes in attribute_sets:
            shown.extend(str(value) for value in attributes.values())
    for text in shown:
        for hidden in hidden_texts:
            assert hidden not in text, f"{hidden[:40]!r} is in a span: {text[:200]!r}"


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run code in a fresh interpreter, with no OTEL_* variable but those given."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


OFF = """
import asyncio, os, sys
from agentic.runtime import connect
from agentic.settings import Settings

client = asyncio.run(connect(Settings(temporal_address=sys.argv[1])))
loaded = [name for name in sys.modules if name.startswith(("opentelemetry.sdk",
          "opentelemetry.exporter", "temporalio.contrib.opentelemetry"))]
print(client.config()["interceptors"], loaded, flush=True)
os._exit(0)  # the client's native threads can abort interpreter teardown (sdk-python#300)
"""


def test_without_an_endpoint_nothing_is_installed(temporal_server):
    finished = run_python(OFF.replace("sys.argv[1]", repr(temporal_server.address)))

    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "[] []"


ON = """
from opentelemetry import trace
from agentic.tracing import otlp_exporter, setup_tracing, tracing_interceptors

setup_tracing("agentic-worker")
[interceptor] = tracing_interceptors()
service = trace.get_tracer_provider().resource.attributes["service.name"]
print(type(interceptor).__name__, service, type(otlp_exporter()).__module__)
"""


@pytest.mark.parametrize(
    ("service", "expected"), [(None, "agentic-worker"), ("billing-worker", "billing-worker")]
)
def test_an_endpoint_turns_tracing_on_with_the_service_name(service: Any, expected: str):
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    if service:
        env["OTEL_SERVICE_NAME"] = service

    finished = run_python(ON, **env)

    assert finished.returncode == 0, finished.stderr
    interceptor, service_name, exporter_module = finished.stdout.split()
    assert interceptor == "TracingInterceptor"
    assert service_name == expected
    assert exporter_module.startswith("opentelemetry.exporter.otlp.proto.http")


MISSING_SDK = """
import sys
sys.modules["opentelemetry.sdk"] = None  # as if the tracing extra were not installed
sys.argv = ["cli.py", "list"]
from agentic.cli import main
main()
"""


def test_an_endpoint_without_the_packages_is_one_line_saying_what_to_install():
    finished = run_python(
        MISSING_SDK,
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
        TEMPORAL_ADDRESS="127.0.0.1:9",
    )

    assert finished.returncode == 1
    [line] = finished.stderr.strip().splitlines()
    assert line.startswith("error: OTEL_EXPORTER_OTLP_ENDPOINT is set")
    assert "pip install 'agentic-temporal[tracing]'" in line


def test_an_unknown_protocol_is_refused_in_one_line():
    finished = run_python(
        MISSING_SDK.replace('sys.modules["opentelemetry.sdk"] = None', ""),
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/json",
        TEMPORAL_ADDRESS="127.0.0.1:9",
    )

    assert finished.returncode == 1
    assert finished.stderr.strip() == (
        "error: OTEL_EXPORTER_OTLP_PROTOCOL=http/json is not supported; use http/protobuf or "
        "grpc (default http/protobuf)"
    )


EXPORT = """
import os
from opentelemetry import trace
from agentic.tracing import flush_tracing, setup_tracing

setup_tracing("agentic-cli")
with trace.get_tracer("tests").start_as_current_span("exported"):
    pass
flush_tracing()
os._exit(0)  # as the CLI and the worker leave: the SDK's exit hook does not run
"""


def test_spans_go_out_over_otlp_http_before_the_process_exits(api):
    collector = f"/otlp-{uuid.uuid4().hex[:6]}"
    api.route("POST", f"{collector}/v1/traces", Reply(200))

    finished = run_python(EXPORT, OTEL_EXPORTER_OTLP_ENDPOINT=f"{api.url}{collector}")

    assert finished.returncode == 0, finished.stderr
    [export] = api.calls("POST", f"{collector}/v1/traces")
    assert export.headers["content-type"] == "application/x-protobuf"
    [batch] = ExportTraceServiceRequest.FromString(export.body).resource_spans
    resource = {
        attribute.key: attribute.value.string_value for attribute in batch.resource.attributes
    }
    assert resource["service.name"] == "agentic-cli"
    assert [span.name for scope in batch.scope_spans for span in scope.spans] == ["exported"]
