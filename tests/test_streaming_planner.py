"""Streamed planning through the real openai client against the scripted server: tasks are
handed over as the plan streams, in order, only once their dependencies are; fenced replies,
servers that do not stream, every profile, usage, and invalid plans."""

from __future__ import annotations

import json
import threading
from itertools import pairwise
from typing import Any

import pytest

from agentic.agents.client import JSONRequest, LLMClient
from agentic.agents.endpoints import LLMEndpoint
from agentic.agents.errors import LLMError
from agentic.agents.streaming import StreamedDraft, TaskStream, stream_plan
from agentic.core.messages import PlanRequest
from agentic.core.plan import Task
from tests.conftest import wait_until
from tests.fakes.llm_server import ScriptedLLM

EXPECTED_MODES = {
    "llama_cpp": "json_object_schema",
    "vllm": "json_schema",
    "ollama": "json_schema",
    "openai": "json_schema",
}


@pytest.fixture
def local_llm():
    with ScriptedLLM() as server:
        yield server


def client_for(server: ScriptedLLM, model: str = "m", timeout: float = 30) -> LLMClient:
    return LLMClient([LLMEndpoint(base_url=server.base_url, model=model)], timeout_seconds=timeout)


def wait_task(task_id: str, *depends_on: str, **extra: Any) -> dict[str, Any]:
    return {"id": task_id, "name": f"Wait {task_id}", "action_type": "wait",
            "action_config": {"seconds": 1}, "depends_on": list(depends_on), **extra}  # fmt: skip


def plan_of(goal: str, *tasks: dict[str, Any]) -> dict[str, Any]:
    return {"goal": goal, "tasks": list(tasks)}


class Handed:
    """The tasks a stream handed over, in order, with their indexes."""

    def __init__(self) -> None:
        self.tasks: list[tuple[str, int]] = []

    async def __call__(self, task: Task, index: int) -> None:
        self.tasks.append((task.id, index))


async def plan(server: ScriptedLLM, goal: str, on_task: Any, **options: Any) -> StreamedDraft:
    client = client_for(server, **options)
    try:
        return await stream_plan(client, PlanRequest(goal=goal), 2000, on_task)
    finally:
        await client.close()


async def test_tasks_are_handed_over_in_order_the_first_while_the_plan_still_streams(local_llm):
    goal = "three waits"
    tasks = [wait_task("first"), wait_task("second", "first"), wait_task("third", "second")]
    rest_of_the_plan = threading.Event()
    local_llm.script(goal, ScriptedLLM.streamed(plan_of(goal, *tasks), seconds=0.5,
                                                first_at=0.1, hold=rest_of_the_plan))  # fmt: skip
    seen: list[tuple[str, int, int]] = []  # task, index, replies the server had finished

    async def on_task(task: Task, index: int) -> None:
        seen.append((task.id, index, local_llm.usage_total["calls"]))
        rest_of_the_plan.set()  # the server sends the rest of the plan only now

    streamed = await plan(local_llm, goal, on_task, timeout=10)

    assert seen[0] == ("first", 0, 0), "the first task came while the reply was unfinished"
    assert [(task_id, index) for task_id, index, _ in seen] == [
        ("first", 0),
        ("second", 1),
        ("third", 2),
    ]
    assert streamed.handed_over == ["first", "second", "third"]
    assert streamed.draft.plan is not None and streamed.draft.errors == []
    assert [task.id for task in streamed.draft.plan.tasks] == streamed.handed_over
    [request] = local_llm.requests
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}


async def test_a_task_waits_for_a_dependency_written_after_it(local_llm):
    goal = "out of order"
    tasks = [
        wait_task("fetch"),
        wait_task("report", "store"),  # written before the task it depends on
        wait_task("store", "fetch"),
        wait_task("notify", "report"),
    ]
    local_llm.script(goal, plan_of(goal, *tasks))
    handed = Handed()

    streamed = await plan(local_llm, goal, handed)

    assert handed.tasks == [("fetch", 0), ("store", 2), ("report", 1), ("notify", 3)]
    assert streamed.draft.plan is not None


async def test_a_fenced_reply_after_prose_streams_its_tasks(local_llm):
    goal = "fenced"
    tasks = [wait_task("one"), wait_task("two", "one")]
    local_llm.script(goal, f"Here is the plan:\n```json\n{json.dumps(plan_of(goal, *tasks))}\n```")
    handed = Handed()

    streamed = await plan(local_llm, goal, handed)

    assert handed.tasks == [("one", 0), ("two", 1)]
    assert streamed.draft.plan is not None and streamed.draft.errors == []


async def test_a_reply_the_stream_cannot_read_as_it_comes_hands_its_tasks_over_at_its_end(
    local_llm,
):
    goal = "unreadable as it comes"
    tasks = [wait_task("a", name="Wait\nfor a"), wait_task("b", "a")]
    # A brace in the prose before the plan, a raw newline in a string: parse_plan forgives both.
    plan_text = json.dumps(plan_of(goal, *tasks)).replace("\\n", "\n")
    local_llm.script(goal, f"The plan for {{the goal}}:\n```json\n{plan_text}\n```")
    handed = Handed()

    streamed = await plan(local_llm, goal, handed)

    assert streamed.draft.plan is not None
    assert handed.tasks == [("a", 0), ("b", 1)]
    assert streamed.handed_over == ["a", "b"]


async def test_an_invalid_plan_returns_its_errors_and_the_valid_tasks_came_first(local_llm):
    goal = "partly invalid"
    tasks = [
        wait_task("good"),
        {**wait_task("bad"), "action_type": "teleport"},
        wait_task("after_bad", "bad"),  # depends on a task that was never handed over
        {
            "id": "not_upstream",
            "action_type": "data_transform",
            "depends_on": [],
            "action_config": {"input": "{{ tasks.good.output }}", "expression": "@"},
        },
        wait_task("good"),  # the same id again
        wait_task("also_good", "good"),
    ]
    local_llm.script(goal, ScriptedLLM.streamed(plan_of(goal, *tasks), seconds=0.2))
    handed = Handed()

    streamed = await plan(local_llm, goal, handed)

    assert handed.tasks == [("good", 0), ("also_good", 5)]
    assert streamed.handed_over == ["good", "also_good"]
    assert streamed.draft.plan is None
    assert "teleport" in " ".join(streamed.draft.errors)
    assert streamed.draft.reply == json.dumps(plan_of(goal, *tasks))


async def test_a_server_that_ignores_stream_answers_whole_and_every_task_is_handed_over(local_llm):
    goal = "no streaming here"
    local_llm.supports_streaming = False
    local_llm.script(goal, plan_of(goal, wait_task("a"), wait_task("b", "a")))
    handed = Handed()

    streamed = await plan(local_llm, goal, handed)

    assert handed.tasks == [("a", 0), ("b", 1)]
    assert streamed.draft.plan is not None
    assert local_llm.requests[0]["stream"] is True
    # The server counts a plain reply once it is written, which may be just after it was read.
    served = wait_until(lambda: local_llm.usage_total["calls"] and local_llm.usage_total, 5,
                        "the server to count the reply")  # fmt: skip
    assert streamed.draft.usage.total_tokens == served["total_tokens"] > 0


async def test_a_server_that_refuses_stream_is_asked_without_it_from_then_on(local_llm):
    goal = "refuses streaming"
    refusal = "Unsupported value: 'stream' does not support true with this model."
    plan_json = plan_of(goal, wait_task("a"))
    local_llm.script(goal, ScriptedLLM.error(400, refusal), plan_json, plan_json)
    client = client_for(local_llm)
    handed = Handed()

    first = await stream_plan(client, PlanRequest(goal=goal), 2000, handed)
    second = await stream_plan(client, PlanRequest(goal=goal), 2000, handed)

    assert first.draft.plan is not None and second.draft.plan is not None
    assert handed.tasks == [("a", 0), ("a", 0)]
    assert [body.get("stream", False) for body in local_llm.requests] == [True, False, False]
    assert all("stream_options" not in body for body in local_llm.requests[1:])


async def test_a_server_that_refuses_stream_options_streams_without_usage(local_llm):
    goal = "refuses stream options"
    refusal = "Unrecognized request argument supplied: stream_options"
    local_llm.script(goal, ScriptedLLM.error(400, refusal), plan_of(goal, wait_task("a")))
    handed = Handed()

    streamed = await plan(local_llm, goal, handed)

    refused, answered = local_llm.requests
    assert "stream_options" in refused
    assert answered["stream"] is True and "stream_options" not in answered
    assert handed.tasks == [("a", 0)] and streamed.draft.plan is not None
    assert streamed.draft.usage.total_tokens == 0, "the server sent no usage"


@pytest.mark.parametrize("profile", list(EXPECTED_MODES))
async def test_every_profile_streams_and_the_usage_is_what_the_server_counted(profile):
    goal = f"stream with {profile}"
    tasks = [wait_task("a"), wait_task("b", "a")]
    with ScriptedLLM(profile) as server:
        server.script(goal, ScriptedLLM.streamed(plan_of(goal, *tasks), seconds=0.2))
        handed = Handed()
        model = "o4-mini" if profile == "openai" else "small-model"

        streamed = await plan(server, goal, handed, model=model)

        served = server.usage_total
        answered = server.requests[-1]
    assert handed.tasks == [("a", 0), ("b", 1)]
    assert streamed.draft.plan is not None
    assert [call.mode for call in streamed.draft.calls] == [EXPECTED_MODES[profile]]
    assert answered["stream"] is True
    usage = streamed.draft.usage
    assert usage.total_tokens == served["total_tokens"]
    assert usage.prompt_tokens == served["prompt_tokens"]
    assert usage.calls == 1
    if profile == "llama_cpp":
        assert served["calls"] == 0, "llama-cpp-python sends no usage in a stream"
    else:
        assert served["calls"] == 1 and usage.total_tokens > 0


async def test_a_stream_slower_than_the_timeout_fails_and_is_abandoned(local_llm):
    goal = "too slow"
    local_llm.script(goal, ScriptedLLM.streamed(plan_of(goal, wait_task("a")), seconds=5))

    with pytest.raises(LLMError) as caught:
        await plan(local_llm, goal, Handed(), timeout=0.5)

    assert caught.value.error_type == "LLMTimeout" and caught.value.retryable
    wait_until(lambda: local_llm.abandoned, 5, "the server to see the client leave")


async def test_a_callback_that_fails_stops_the_stream(local_llm):
    goal = "callback fails"
    tasks = [wait_task("a"), wait_task("b", "a")]
    never = threading.Event()  # the rest of the plan is never sent
    local_llm.script(goal, ScriptedLLM.streamed(plan_of(goal, *tasks), seconds=0.2,
                                                first_at=0.1, hold=never))  # fmt: skip

    async def on_task(task: Task, index: int) -> None:
        raise RuntimeError(f"cannot start {task.id}")

    with pytest.raises(RuntimeError, match="cannot start a"):
        await plan(local_llm, goal, on_task)

    wait_until(lambda: local_llm.abandoned, 5, "the server to see the client leave")


async def test_stream_json_passes_on_the_growing_text(local_llm):
    local_llm.script("hello", {"ok": 1, "words": "a reply long enough for a few pieces"})
    texts: list[str] = []

    async def on_text(text: str) -> None:
        texts.append(text)

    request = JSONRequest(purpose="test", system="JSON.", schema_name="answer",
                          messages=[{"role": "user", "content": "hello"}],
                          schema={"type": "object"}, max_tokens=50)  # fmt: skip
    reply = await client_for(local_llm).stream_json(request, on_text=on_text)

    assert len(texts) > 1 and texts[-1] == reply.text
    assert all(later.startswith(earlier) for earlier, later in pairwise(texts))
    assert json.loads(reply.text)["ok"] == 1
    assert reply.usage.total_tokens == local_llm.usage_total["total_tokens"]


def test_a_task_is_complete_once_the_next_one_begins_or_the_reply_ends():
    text = json.dumps(plan_of("g", wait_task("a"), wait_task("b")))
    second_begins = text.index('{"id": "b"')
    stream = TaskStream()

    assert stream.feed(text[: second_begins - 2]) == [], "a's object closed, but no more"
    assert [task["id"] for task in stream.feed(text[: second_begins + 1])] == ["a"]
    assert stream.feed(text[:-2]) == [], "b is written, but the list is still open"
    assert [task["id"] for task in stream.feed(text + "\n```")] == ["b"]
    assert stream.feed(text + "\n```\nThat is all.") == []
