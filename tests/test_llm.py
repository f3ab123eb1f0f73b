"""The LLM layer through the real openai client: output-mode fallback, parsing, errors."""

from __future__ import annotations

import json

import pytest
from temporalio.exceptions import ApplicationError

from agents.analyst import parse_decision
from agents.client import LLMClient, extract_json
from agents.planner import EXAMPLE_PLAN, PLAN_JSON_SCHEMA, parse_plan, planner_system_prompt
from tests.fakes.llm_server import ScriptedLLM
from workflows.plan import Plan


@pytest.fixture
def local_llm():
    with ScriptedLLM() as server:
        yield server


def client_for(server: ScriptedLLM) -> LLMClient:
    return LLMClient(api_key="k", base_url=server.base_url, model="m", timeout_seconds=5)


async def test_falls_back_from_json_schema_to_json_mode_to_text(local_llm):
    local_llm.supports_json_schema = False
    local_llm.supports_json_object = False
    local_llm.script("hello", {"ok": 1}, {"ok": 2})
    client = client_for(local_llm)

    first = await client.complete_json(
        "system", [{"role": "user", "content": "hello"}], "answer", {"type": "object"}
    )
    second = await client.complete_json(
        "system", [{"role": "user", "content": "hello"}], "answer", {"type": "object"}
    )

    assert extract_json(first.text) == {"ok": 1} and extract_json(second.text) == {"ok": 2}
    formats = [request.get("response_format", {}).get("type") for request in local_llm.requests]
    assert formats == ["json_schema", "json_object", None, None], "the working mode is remembered"
    assert first.usage.total_tokens > 0


async def test_structured_output_is_used_when_supported(local_llm):
    local_llm.script("plan", EXAMPLE_PLAN)

    reply = await client_for(local_llm).complete_json(
        "system", [{"role": "user", "content": "plan"}], "plan", PLAN_JSON_SCHEMA
    )

    [request] = local_llm.requests
    assert request["response_format"]["type"] == "json_schema"
    plan, errors = parse_plan(reply.text, "goal")
    assert errors == [] and isinstance(plan, Plan)


async def test_auth_error_is_not_retryable(local_llm):
    local_llm.script("x", ScriptedLLM.error(401, "bad key"))

    with pytest.raises(ApplicationError) as caught:
        await client_for(local_llm).complete_json("s", [{"role": "user", "content": "x"}], "a", {})

    assert caught.value.non_retryable
    assert "OPENAI_API_KEY" in caught.value.message


def test_example_plan_and_prompt_cover_every_action():
    Plan.model_validate(EXAMPLE_PLAN)
    prompt = planner_system_prompt()
    for action_type in ("api_call", "db_query", "file_operation", "data_transform", "wait"):
        assert action_type in prompt


def test_plan_in_fenced_reply_with_prose_is_parsed():
    text = "Here is the plan:\n```json\n" + json.dumps(EXAMPLE_PLAN) + "\n```\nDone."
    plan, errors = parse_plan(text, "goal")
    assert errors == [] and plan is not None and len(plan.tasks) == len(EXAMPLE_PLAN["tasks"])


def test_decision_outside_allowed_actions_is_refused():
    decision, errors = parse_decision(
        '{"action": "skip", "reason": "x"}', ["retry", "fail_workflow"]
    )
    assert decision is None and any("skip" in error for error in errors)
    decision, errors = parse_decision('{"action": "modify", "reason": "x"}', ["modify"])
    assert decision is None and errors
