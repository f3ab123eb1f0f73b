"""Tests of the test fakes themselves, through the real openai and httpx clients."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from tests.fakes.api_server import FakeAPI, RecordedRequest, Reply
from tests.fakes.llm_server import ScriptedLLM

PLAN_SCHEMA = {
    "type": "json_schema",
    "json_schema": {"name": "plan", "schema": {"type": "object", "properties": {}}},
}


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as server:
        yield server


@pytest.fixture
def llm_client(llm: ScriptedLLM) -> openai.OpenAI:
    return openai.OpenAI(base_url=llm.base_url, api_key="x", max_retries=0)


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


def ask(client: openai.OpenAI, prompt: str, **options: object) -> str:
    completion = client.chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": prompt}], **options
    )
    return completion.choices[0].message.content


def test_scripted_replies_come_in_order_and_the_last_is_not_repeated(
    llm: ScriptedLLM, llm_client: openai.OpenAI
) -> None:
    llm.script("plan", "first", {"tasks": []})

    completion = llm_client.chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": "plan this goal"}]
    )
    assert completion.choices[0].message.content == "first"
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    assert completion.usage.completion_tokens > 0
    assert ask(llm_client, "plan again") == '{"tasks": []}'

    with pytest.raises(openai.BadRequestError, match=r"no scripted reply.*plan once more"):
        ask(llm_client, "plan once more")
    assert len(llm.requests) == 3


def test_newest_matching_script_wins_then_older_ones_take_over(
    llm: ScriptedLLM, llm_client: openai.OpenAI
) -> None:
    llm.script("goal", "older")
    llm.script("goal", "newer")
    llm.script("analyse", "analysis")

    assert ask(llm_client, "please analyse this failure") == "analysis"
    assert ask(llm_client, "the goal") == "newer"
    assert ask(llm_client, "the goal") == "older"
    assert len(llm.requests_matching("analyse")) == 1
    assert [m.id for m in llm_client.models.list()] == ["scripted-model"]


def test_unsupported_json_schema_is_refused_without_consuming_a_reply(
    llm: ScriptedLLM, llm_client: openai.OpenAI
) -> None:
    llm.script("plan", "ok")
    llm.supports_json_schema = False

    with pytest.raises(openai.BadRequestError, match="'json_schema' is not supported"):
        ask(llm_client, "plan", response_format=PLAN_SCHEMA)

    llm.supports_json_schema = True
    assert ask(llm_client, "plan", response_format=PLAN_SCHEMA) == "ok"


def test_scripted_error_is_answered_with_its_status_then_the_next_reply(
    llm: ScriptedLLM, llm_client: openai.OpenAI
) -> None:
    llm.script("plan", ScriptedLLM.error(429, "slow down"), "ok")

    with pytest.raises(openai.RateLimitError, match="slow down"):
        ask(llm_client, "plan")
    assert ask(llm_client, "plan") == "ok"


def test_flaky_route_fails_twice_then_keeps_succeeding(api: FakeAPI) -> None:
    api.route("GET", "/flaky", Reply(500), Reply(500), Reply(200, json={"ok": True}))

    responses = [httpx.get(f"{api.url}/flaky?attempt={n}") for n in range(4)]

    assert [r.status_code for r in responses] == [500, 500, 200, 200]
    assert responses[-1].json() == {"ok": True}
    assert [c.query["attempt"] for c in api.calls("GET", "/flaky")] == [["0"], ["1"], ["2"], ["3"]]


def test_unknown_route_is_a_json_404(api: FakeAPI) -> None:
    response = httpx.get(f"{api.url}/nope")

    assert response.status_code == 404
    assert response.json() == {"error": "no route GET /nope"}


def test_callable_response_sees_the_recorded_request(api: FakeAPI) -> None:
    def echo(request: RecordedRequest) -> Reply:
        return Reply(201, json={"got": request.json(), "token": request.headers["x-token"]})

    api.route("POST", "/items", echo)
    api.route("HEAD", "/items", Reply(200, text="not sent"))

    created = httpx.post(f"{api.url}/items", json={"name": "a"}, headers={"X-Token": "t1"})
    head = httpx.head(f"{api.url}/items")

    assert created.status_code == 201
    assert created.json() == {"got": {"name": "a"}, "token": "t1"}
    assert head.content == b""
    assert head.headers["content-length"] == str(len("not sent"))


def test_concurrent_requests_overlap_in_time(api: FakeAPI) -> None:
    api.route("GET", "/slow", Reply(200, json={}, delay=0.5))

    with httpx.Client() as client, ThreadPoolExecutor(max_workers=2) as pool:
        statuses = list(pool.map(lambda _: client.get(f"{api.url}/slow").status_code, range(2)))

    assert statuses == [200, 200]
    first, second = api.wait_calls("GET", "/slow", count=2)
    assert first.finished_at is not None and second.finished_at is not None
    assert second.received_at < first.finished_at
    assert first.received_at < second.finished_at


def test_a_stream_request_gets_server_sent_events_with_the_usage_last(
    llm: ScriptedLLM, llm_client: openai.OpenAI
) -> None:
    llm.script("plan", "a reply long enough to come in a few pieces")

    chunks = list(
        llm_client.chat.completions.create(
            model="test-model",
            messages=[{"role": "user", "content": "plan"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) > 1 and "".join(pieces) == "a reply long enough to come in a few pieces"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == llm.usage_total["total_tokens"] > 0


def test_a_server_that_does_not_stream_answers_a_stream_request_with_a_plain_body(
    llm: ScriptedLLM,
) -> None:
    llm.supports_streaming = False
    llm.script("plan", "whole")
    body = {"model": "m", "messages": [{"role": "user", "content": "plan"}], "stream": True}

    response = httpx.post(f"{llm.base_url}/chat/completions", json=body)

    assert response.headers["content-type"] == "application/json"
    assert response.json()["choices"][0]["message"]["content"] == "whole"


def test_first_at_needs_a_plan_to_cut() -> None:
    plan = {"goal": "g", "tasks": [{"id": "a"}, {"id": "b"}]}
    streamed = ScriptedLLM.streamed(plan, seconds=1, first_at=0.25)
    pieces, held_from = streamed.schedule()

    first_part = "".join(piece for at, piece in pieces[:held_from])
    assert first_part.endswith('{"id": "a"}, {') and pieces[held_from - 1][0] == 0.25
    assert pieces[-1][0] == 1
    with pytest.raises(ValueError, match="first_at needs a reply holding a plan"):
        ScriptedLLM.streamed("no plan here", seconds=1, first_at=0.5)
