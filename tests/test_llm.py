"""The LLM layer through the real openai client against the scripted server and its profiles:
output-mode fallback by what the server says, constrained decoding, bounds, endpoints, usage."""

from __future__ import annotations

import json

import pytest

from agentic.agents.analyst import decide
from agentic.agents.client import JSONRequest, LLMClient
from agentic.agents.endpoints import LLMEndpoint
from agentic.agents.errors import LLMError
from agentic.agents.planner import (
    EXAMPLE_PLAN,
    parse_plan,
    plan_outline_schema,
    planner_system_prompt,
)
from agentic.agents.prices import call_cost
from agentic.agents.replies import extract_json
from agentic.core.messages import AnalysisRequest, TaskFailure
from agentic.core.metrics import ModelPrice
from agentic.core.plan import Plan
from agentic.devstack import free_port
from agentic.settings import Settings
from tests.conftest import wait_until
from tests.fakes.llm_server import ScriptedLLM

OBJECT_SCHEMA = {"type": "object", "properties": {"ok": {"type": "integer"}}, "required": ["ok"]}


@pytest.fixture
def local_llm():
    with ScriptedLLM() as server:
        yield server


def endpoint(server: ScriptedLLM, model: str = "m", **extra) -> LLMEndpoint:
    return LLMEndpoint(base_url=server.base_url, model=model, **extra)


def client_for(*servers: ScriptedLLM, timeout: float = 5, **options) -> LLMClient:
    return LLMClient([endpoint(server) for server in servers], timeout_seconds=timeout, **options)


def ask(text: str = "hello", schema: dict | None = None, max_tokens: int = 100) -> JSONRequest:
    return JSONRequest(
        purpose="test",
        system="Answer in JSON.",
        messages=[{"role": "user", "content": text}],
        schema_name="answer",
        schema=schema or OBJECT_SCHEMA,
        max_tokens=max_tokens,
    )


def formats(server: ScriptedLLM) -> list[str | None]:
    return [(body.get("response_format") or {}).get("type") for body in server.requests]


async def test_falls_back_mode_by_mode_and_remembers_what_worked(local_llm):
    local_llm.supports_json_schema = False
    local_llm.supports_json_object = False
    local_llm.script("hello", {"ok": 1}, {"ok": 2})
    client = client_for(local_llm)

    first = await client.complete_json(ask())
    second = await client.complete_json(ask())

    assert extract_json(first.text) == {"ok": 1} and extract_json(second.text) == {"ok": 2}
    assert formats(local_llm) == ["json_schema", "json_object", "json_object", None, None]
    assert first.call.mode == second.call.mode == "text"
    assert first.usage.total_tokens > 0


async def test_llama_cpp_refuses_json_schema_with_a_500_and_takes_json_object_with_schema():
    with ScriptedLLM("llama_cpp") as llama:
        llama.script("hello", {"ok": 1}, {"ok": 2})
        client = client_for(llama)

        first = await client.complete_json(ask())
        second = await client.complete_json(ask())

    assert first.call.mode == second.call.mode == "json_object_schema"
    requests = llama.requests
    assert [r["response_format"]["type"] for r in requests] == [
        "json_schema",
        "json_object",
        "json_object",
    ], "one refusal, then the working mode straight away"
    assert requests[1]["response_format"]["schema"] == OBJECT_SCHEMA, "decoding follows the schema"


async def test_a_500_that_is_not_about_the_format_stays_retryable(local_llm):
    local_llm.script("hello", ScriptedLLM.error(500, "CUDA out of memory"))

    with pytest.raises(LLMError) as caught:
        await client_for(local_llm).complete_json(ask())

    assert caught.value.retryable and caught.value.error_type == "LLMServerError"
    assert "CUDA out of memory" in caught.value.message
    assert formats(local_llm) == ["json_schema"], "no fallback for an error that is not a refusal"


async def test_an_explicit_mode_refused_says_so_without_stack_lines():
    with ScriptedLLM("llama_cpp") as llama:
        client = client_for(llama, output_mode="json_schema")
        with pytest.raises(LLMError) as caught:
            await client.complete_json(ask())

    message = caught.value.message
    assert "Input should be 'text' or 'json_object'" in message
    assert 'File "' not in message and "POST /v1/chat/completions" not in message
    assert "LLM_OUTPUT_MODE" not in message or "auto" in message


async def test_every_request_carries_max_tokens(local_llm):
    local_llm.script("hello", {"ok": 1})

    await client_for(local_llm).complete_json(ask(max_tokens=77))

    assert local_llm.requests[0]["max_tokens"] == 77


async def test_openai_strict_only_for_closed_schemas_and_max_completion_tokens_for_o_models():
    with ScriptedLLM("openai") as openai_server:
        openai_server.script("hello", {"ok": 1}, EXAMPLE_PLAN)
        client = LLMClient([endpoint(openai_server, "o4-mini")], timeout_seconds=5)
        closed = {**OBJECT_SCHEMA, "additionalProperties": False}

        await client.complete_json(ask(schema=closed, max_tokens=50))
        plan_reply = await client.complete_json(ask(schema=plan_outline_schema(), max_tokens=50))

    refused, strict, plan = openai_server.requests
    assert "max_tokens" in refused and "max_completion_tokens" not in refused
    assert strict["max_completion_tokens"] == 50 and "max_tokens" not in strict
    assert strict["response_format"]["json_schema"]["strict"] is True
    assert plan["response_format"]["json_schema"]["strict"] is False, "open maps: not strict"
    assert parse_plan(plan_reply.text, "goal")[0] is not None


async def test_a_request_that_times_out_says_so_and_is_abandoned(local_llm):
    local_llm.script("hello", ScriptedLLM.slow(3, {"ok": 1}))

    with pytest.raises(LLMError) as caught:
        await client_for(local_llm, timeout=0.5).complete_json(ask())

    assert caught.value.error_type == "LLMTimeout" and caught.value.retryable
    assert "did not answer within 0.5 s (LLM_TIMEOUT_SECONDS)" in caught.value.message
    wait_until(lambda: local_llm.abandoned, 2, "the server to see the connection closed")
    assert local_llm.usage_total["calls"] == 0


async def test_an_endpoint_that_cannot_serve_hands_over_to_the_next(local_llm):
    with ScriptedLLM() as backup:
        local_llm.script("hello", ScriptedLLM.error(401, "bad key"))
        backup.script("hello", {"ok": 1}, {"ok": 2})
        client = client_for(local_llm, backup)

        first = await client.complete_json(ask())
        second = await client.complete_json(ask())
        backup_name = backup.url.removeprefix("http://")

    assert first.call.endpoint == second.call.endpoint == backup_name
    assert len(local_llm.requests) == 1, "a refused key is not tried again for a while"


async def test_an_unreachable_endpoint_hands_over_at_once(local_llm):
    local_llm.script("hello", {"ok": 1})
    nowhere = LLMEndpoint(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", name="down")
    client = LLMClient([nowhere, endpoint(local_llm)], timeout_seconds=5)

    reply = await client.complete_json(ask())

    assert reply.call.endpoint != "down"


async def test_transient_failures_are_retried_then_the_next_endpoint_takes_its_turn(local_llm):
    with ScriptedLLM() as backup:
        local_llm.script("hello", *[ScriptedLLM.error(503, "overloaded")] * 2)
        backup.script("hello", {"ok": 1})
        client = client_for(local_llm, backup, attempts_per_endpoint=2)

        for attempt in (1, 2):
            with pytest.raises(LLMError) as caught:
                await client.complete_json(ask(), attempt=attempt)
            assert caught.value.retryable, "Temporal retries a transient failure"
        reply = await client.complete_json(ask(), attempt=3)
        backup_name = backup.url.removeprefix("http://")

    assert reply.call.endpoint == backup_name


# A failed task for the analyst to decide on.
FAILED_WAIT = AnalysisRequest(
    goal="g",
    task={"id": "t", "action_type": "wait", "action_config": {"seconds": 1}},
    failure=TaskFailure(message="boom"),
    allowed_actions=["retry", "fail_workflow"],
)


async def test_an_analyst_reply_invalid_twice_fails_with_the_tokens_it_spent(local_llm):
    local_llm.script("Failed task", "not json", '{"action": "explode", "reason": "?"}')
    request = FAILED_WAIT

    with pytest.raises(LLMError) as caught:
        await decide(client_for(local_llm), request, max_tokens=100)

    assert caught.value.error_type == "InvalidAnalystReply" and not caught.value.retryable
    # The server counts a reply once it is written, which may be just after the client read it.
    served = wait_until(lambda: local_llm.usage_total["calls"] == 2 and local_llm.usage_total,
                        5, "the server to count both replies")  # fmt: skip
    assert caught.value.usage.total_tokens == served["total_tokens"] > 0
    assert caught.value.usage.calls == served["calls"] == 2


async def test_auth_error_is_not_retryable_and_names_the_key(local_llm):
    local_llm.script("x", ScriptedLLM.error(401, "bad key"))
    client = LLMClient([endpoint(local_llm, api_key_env="MY_LLM_KEY")], timeout_seconds=5)

    with pytest.raises(LLMError) as caught:
        await client.complete_json(ask("x"))

    assert not caught.value.retryable and "MY_LLM_KEY" in caught.value.message


async def test_structured_output_is_used_when_supported(local_llm):
    local_llm.script("plan", EXAMPLE_PLAN)

    reply = await client_for(local_llm).complete_json(ask("plan", schema=plan_outline_schema()))

    [request] = local_llm.requests
    assert request["response_format"]["type"] == "json_schema"
    plan, errors = parse_plan(reply.text, "goal")
    assert errors == [] and isinstance(plan, Plan)


def test_example_plan_and_prompt_cover_every_action():
    Plan.model_validate(EXAMPLE_PLAN)
    prompt = planner_system_prompt()
    for action_type in ("api_call", "db_query", "file_operation", "data_transform", "wait"):
        assert action_type in prompt


def test_plan_in_fenced_reply_with_prose_is_parsed():
    text = "Here is the plan:\n```json\n" + json.dumps(EXAMPLE_PLAN) + "\n```\nDone."
    plan, errors = parse_plan(text, "goal")
    assert errors == [] and plan is not None and len(plan.tasks) == len(EXAMPLE_PLAN["tasks"])


def test_an_empty_reply_is_an_invalid_plan_not_a_crash():
    plan, errors = parse_plan("", "goal")
    assert plan is None and errors == ["the reply is empty"]


def test_decision_outside_allowed_actions_is_refused():
    from agentic.agents.analyst import parse_decision

    decision, errors = parse_decision(
        '{"action": "skip", "reason": "x"}', ["retry", "fail_workflow"]
    )
    assert decision is None and any("skip" in error for error in errors)
    decision, errors = parse_decision('{"action": "modify", "reason": "x"}', ["modify"])
    assert decision is None and errors


async def test_a_key_kept_in_dotenv_reaches_the_server(local_llm, tmp_path, monkeypatch):
    local_llm.script("hello", {"ok": 1})
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOCAL_LLM_KEY", raising=False)
    (tmp_path / ".env").write_text("LOCAL_LLM_KEY=from-dotenv\n")
    endpoints = json.dumps([{"base_url": local_llm.base_url, "model": "m",
                             "api_key_env": "LOCAL_LLM_KEY"}])  # fmt: skip
    monkeypatch.setenv("LLM_ENDPOINTS", endpoints)

    client = LLMClient.from_settings(Settings())
    assert client is not None
    await client.complete_json(ask())

    assert local_llm.authorizations == ["Bearer from-dotenv"]


async def test_an_analyst_repair_that_fails_still_counts_the_first_reply(local_llm):
    local_llm.script("Failed task", "not json", ScriptedLLM.slow(3, {"action": "retry"}))
    request = FAILED_WAIT

    with pytest.raises(LLMError) as caught:
        await decide(client_for(local_llm, timeout=0.5), request, max_tokens=100)

    assert caught.value.error_type == "LLMTimeout"
    assert caught.value.usage.total_tokens == local_llm.usage_total["total_tokens"] > 0
    assert [call.purpose for call in caught.value.calls] == ["analysis"]


async def test_when_later_endpoints_are_down_an_earlier_one_is_tried_again(local_llm):
    local_llm.script("hello", ScriptedLLM.error(503, "busy"), {"ok": 1})
    down = LLMEndpoint(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", name="down")
    client = LLMClient([endpoint(local_llm), down], timeout_seconds=5, attempts_per_endpoint=1)

    with pytest.raises(LLMError):
        await client.complete_json(ask(), attempt=1)  # the first endpoint: busy
    with pytest.raises(LLMError):
        await client.complete_json(ask(), attempt=2)  # the second: refused, marked down
    reply = await client.complete_json(ask(), attempt=3)

    assert reply.call.endpoint != "down", "the first endpoint is back in turn"


async def test_each_call_is_priced_by_genai_prices_or_an_llm_prices_override(local_llm):
    """A model genai-prices knows is priced by name behind any URL (a proxy, a local server);
    LLM_PRICES overrides it; a model nobody knows has no price."""
    for _ in range(3):
        local_llm.script("hello", {"ok": 1})
    known = LLMClient([endpoint(local_llm, "gpt-4o-mini")], timeout_seconds=5)
    override = {"gpt-4o-mini": ModelPrice(prompt=1.0, completion=2.0)}
    overridden = LLMClient([endpoint(local_llm, "gpt-4o-mini")], timeout_seconds=5, prices=override)
    unknown = LLMClient([endpoint(local_llm, "my-private-model")], timeout_seconds=5)

    replies = [await client.complete_json(ask()) for client in (known, overridden, unknown)]

    call = replies[0].call
    expected = call_cost("gpt-4o-mini", "https://api.openai.com/v1", call.prompt_tokens,
                         call.completion_tokens)  # fmt: skip
    assert call.prompt_tokens > 0 and expected is not None and expected > 0
    assert call.cost_usd == pytest.approx(expected)
    assert replies[0].usage.cost_usd == pytest.approx(expected)
    over = replies[1].call
    assert over.cost_usd == pytest.approx((over.prompt_tokens + 2 * over.completion_tokens) / 1e6)
    assert replies[2].call.cost_usd is None and replies[2].usage.cost_usd == 0
