"""The planner and the analyst end to end against each server profile (llama.cpp, vLLM, Ollama,
OpenAI): a goal is planned, a task fails, the analyst decides, and the result says which mode
answered and counts exactly the tokens the server served."""

from __future__ import annotations

import uuid

import pytest

from agentic.client import AgentClient
from agentic.core.messages import RunOptions
from agentic.settings import Settings
from tests.fakes.api_server import Reply
from tests.fakes.llm_server import ScriptedLLM
from tests.helpers import worker_for

EXPECTED_MODES = {
    "llama_cpp": "json_object_schema",
    "vllm": "json_schema",
    "ollama": "json_schema",
    "openai": "json_schema",
}


@pytest.mark.parametrize("profile", list(EXPECTED_MODES))
async def test_a_goal_is_planned_and_a_failure_analysed(profile, temporal_server, api, tmp_path):
    goal = f"look up the {profile} record {uuid.uuid4().hex[:6]}"
    api.route("GET", f"/profile/{profile}", Reply(404, json={"error": "no such record"}))
    plan = {"goal": goal, "tasks": [{
        "id": "lookup", "name": "Look the record up", "action_type": "api_call",
        "action_config": {"url": f"{api.url}/profile/{profile}"},
        "depends_on": [], "critical": False,
    }]}  # fmt: skip
    with ScriptedLLM(profile) as server:
        server.script(f"Goal: {goal}", plan)
        server.script(f"/profile/{profile}", {"action": "skip", "reason": "the record is gone"})
        server.script(f"Join the run of: {goal}", {"action": "answer", "answer": "it is gone"})
        settings = Settings(
            temporal_address=temporal_server.address,
            task_queue=f"profile-{profile}-{uuid.uuid4().hex[:6]}",
            workspace_dir=tmp_path,
            openai_base_url=server.base_url,
            openai_model="o4-mini" if profile == "openai" else "small-model",
            http_allow_hosts=f"127.0.0.1:{api.port}",
            llm_timeout_seconds=30,
        )
        async with worker_for(settings):
            client = await AgentClient.connect(settings)
            options = RunOptions(approval="none", max_retries=0)
            handle = await client.start(goal=goal, options=options)
            result = await handle.result()
            described = await client.temporal.get_workflow_handle(handle.workflow_id).describe()
            memo = await described.memo()
        served = server.usage_total
        planning = server.requests_matching(f"Goal: {goal}")[0]

    assert result.status == "completed", result.error
    assert [call.purpose for call in result.llm_calls] == ["plan", "analysis", "join"]
    assert {call.mode for call in result.llm_calls} == {EXPECTED_MODES[profile]}
    assert result.decisions[0].decision.action == "skip"
    assert result.answer == "it is gone"
    assert planning["stream"] is True  # each server streams the plan
    assert result.usage.total_tokens == served["total_tokens"]
    # llama-cpp-python's server sends no usage in a stream: its streamed plan counts 0 tokens.
    assert result.usage.calls == 3
    assert served["calls"] == (2 if profile == "llama_cpp" else 3)
    assert len(memo["llm"]) == 3 and EXPECTED_MODES[profile] in memo["llm"][0]


async def test_usage_counts_every_call_even_invalid_replies_and_failed_attempts(
    temporal_server, api, tmp_path
):
    goal = f"count every token {uuid.uuid4().hex[:6]}"
    api.route("GET", "/usage/gone", Reply(404, json={}))
    plan = {"goal": goal, "tasks": [{
        "id": "gone", "action_type": "api_call", "action_config": {"url": f"{api.url}/usage/gone"},
        "depends_on": [], "critical": False,
    }]}  # fmt: skip
    with ScriptedLLM() as server:
        server.script(f"Goal: {goal}", ScriptedLLM.error(503, "busy"), "no plan here", plan)
        server.script("/usage/gone", "not a decision", '{"action": "explode"}')
        settings = Settings(
            temporal_address=temporal_server.address,
            task_queue=f"usage-{uuid.uuid4().hex[:6]}",
            http_allow_hosts=f"127.0.0.1:{api.port}",
            workspace_dir=tmp_path,
            openai_base_url=server.base_url,
            openai_model="small-model",
        )
        async with worker_for(settings):
            client = await AgentClient.connect(settings)
            options = RunOptions(approval="none", max_retries=0)
            result = await client.run(goal=goal, options=options)
        served = server.usage_total

    assert result.status == "completed", result.error
    assert result.decisions[0].source == "fallback"
    assert "not a valid decision" in result.decisions[0].decision.reason
    assert served["calls"] == 4, "two planning replies and two analyst replies"
    assert result.usage.total_tokens == served["total_tokens"]
    assert result.usage.prompt_tokens == served["prompt_tokens"]
    assert result.usage.calls == served["calls"]
