"""Asking a person: an `ask` task waits durably for `answer ID TASK`; an answer off the
question's schema is refused (one line, the run keeps waiting); the answer is the task's output;
a timeout takes the default or fails the task; a for-each's items ask on their own."""

from __future__ import annotations

import asyncio
import json

import pytest

from agentic import AgentClient, AnswerRefused, RunOptions
from agentic.agents.planner import planner_system_prompt
from agentic.core.actions.ask import AskConfig
from agentic.core.plan import Plan
from agentic.core.registry import ACTIONS
from tests.conftest import wait_until
from tests.helpers import task, tasks_by_id

HOW_MANY = {"type": "object", "properties": {"count": {"type": "integer", "minimum": 1}},
            "required": ["count"]}  # fmt: skip


def start(stack, run_id, plan, *flags):
    started = stack.cli("start", "--plan", str(stack.write_plan(plan)), "--id", run_id,
                        "--approval", "none", *flags)  # fmt: skip
    assert started.returncode == 0, started.stderr


def asking(stack, run_id, task_id):
    """Wait until `task_id` waits for an answer; the run's status then."""

    def waits():
        state = stack.cli_json("status", run_id)
        return any(q["task_id"] == task_id for q in state.get("questions", [])) and state

    return wait_until(waits, 30, f"{task_id} asking", interval=0.3)


def result_of(stack, run_id):
    return stack.cli_json("result", run_id, "--wait")


def test_an_ask_waits_refuses_an_answer_off_schema_and_feeds_the_answer_downstream(stack, run_id):
    ask = {"question": "How many copies?", "answer_schema": HOW_MANY}
    copies = {"input": "{{ tasks.pick.output }}", "expression": "count"}
    start(stack, run_id, {"tasks": [task("pick", "ask", ask),
                                    task("copies", "data_transform", copies, "pick")]})  # fmt: skip

    state = asking(stack, run_id, "pick")
    assert tasks_by_id(state)["pick"]["status"] == "waiting_answer"
    shown = stack.cli("status", run_id).stdout
    assert "question: pick: How many copies?" in shown
    assert f"answer: python cli.py answer {run_id} pick --value JSON" in shown

    def awaiting_answer():
        listed = stack.cli("list", "--json", "--status", "awaiting_answer", "--limit", "100")
        return run_id in {json.loads(line)["workflow_id"] for line in listed.stdout.splitlines()}

    wait_until(awaiting_answer, 30, "the run listed as awaiting_answer", interval=0.3)

    refused = stack.cli("answer", run_id, "pick", "--value", '{"count": "two"}')
    assert refused.returncode != 0
    [line] = refused.stderr.strip().splitlines()
    assert "'two' is not of type 'integer'" in line
    assert asking(stack, run_id, "pick")  # still waiting

    answered = stack.cli("answer", run_id, "pick", "--value", '{"count": 2}', "--by", "ana")
    assert answered.returncode == 0, answered.stderr
    result = result_of(stack, run_id)
    assert result["status"] == "completed"
    tasks = tasks_by_id(result)
    assert tasks["pick"]["output"] == {"count": 2}
    assert tasks["pick"]["answered_by"] == "ana"
    assert tasks["pick"]["question"] == "How many copies?"
    assert tasks["copies"]["output"] == 2


def test_a_free_text_answer_with_text_and_choices_enforced(stack, run_id):
    start(stack, run_id, {"tasks": [
        task("name", "ask", {"question": "Name the report"}),
        task("colour", "ask", {"question": "Which colour?", "choices": ["red", "blue"]}),
    ]})  # fmt: skip
    asking(stack, run_id, "name")
    state = asking(stack, run_id, "colour")
    assert tasks_by_id(state)["colour"]["status"] == "waiting_answer"
    assert (
        'question: colour: Which colour? (one of "red", "blue")'
        in stack.cli("status", run_id).stdout
    )

    off = stack.cli("answer", run_id, "colour", "--text", "green")
    assert off.returncode != 0
    assert "'green' is not one of ['red', 'blue']" in off.stderr
    not_json = stack.cli("answer", run_id, "name", "--value", "weekly")
    assert not_json.returncode != 0 and "--text" in not_json.stderr
    assert stack.cli("answer", run_id, "name", "--text", "weekly sales").returncode == 0
    assert stack.cli("answer", run_id, "colour", "--value", '"blue"').returncode == 0

    tasks = tasks_by_id(result_of(stack, run_id))
    assert tasks["name"]["output"] == "weekly sales"
    assert tasks["colour"]["output"] == "blue"
    again = stack.cli("answer", run_id, "colour", "--text", "red")
    assert again.returncode != 0 and "already ended" in again.stderr


def test_a_timeout_takes_the_default(stack, run_id):
    ask = {"question": "Proceed?", "answer_schema": {"type": "boolean"}, "timeout": 0.5,
           "default": False}  # fmt: skip
    start(stack, run_id, {"tasks": [task("go", "ask", ask)]})

    result = result_of(stack, run_id)

    assert result["status"] == "completed"
    [go] = result["tasks"]
    assert go["output"] is False and go["answered_by"] == "timeout"


def test_a_timeout_without_default_fails_the_task(stack, run_id):
    start(stack, run_id, {"tasks": [task("go", "ask", {"question": "Proceed?", "timeout": 0.5},
                                         critical=False)]})  # fmt: skip

    result = result_of(stack, run_id)

    [go] = result["tasks"]
    assert go["status"] == "failed"
    assert go["error"]["error_type"] == "NoAnswer"
    assert "no answer within 0.5s" in go["error"]["message"]


def test_each_item_of_a_for_each_asks_on_its_own(stack, run_id):
    ask = {"question": "Quantity for {{ item }}?", "answer_schema": {"type": "integer"}}
    start(stack, run_id, {"tasks": [task("orders", "ask", ask, for_each=["tea", "jam", "oil"])]},
          "--max-parallel", "1")  # fmt: skip
    for item in ("orders[0]", "orders[1]", "orders[2]"):
        asking(stack, run_id, item)  # all three wait at once, with one execution slot
    shown = stack.cli("status", run_id).stdout
    assert "question: orders[1]: Quantity for jam?" in shown
    assert f"answer {run_id} orders[1] --value JSON" in shown

    for item, quantity in (("orders[2]", 7), ("orders[0]", 3), ("orders[1]", 5)):
        answered = stack.cli("answer", run_id, item, "--value", json.dumps(quantity))
        assert answered.returncode == 0, answered.stderr

    result = result_of(stack, run_id)
    assert result["status"] == "completed"
    assert tasks_by_id(result)["orders"]["output"] == [3, 5, 7]


async def test_the_api_answers_and_refuses_with_answer_refused(stack, client, run_id):
    agent = await AgentClient.connect(address=stack.address, task_queue=stack.task_queue)
    plan = Plan.model_validate({"tasks": [task("pick", "ask", {
        "question": "Which region?", "choices": ["eu", "us"]})]})  # fmt: skip
    handle = await agent.start(plan=plan, options=RunOptions(approval="none"), workflow_id=run_id)

    async def question():
        return (await handle.status()).questions

    [waiting] = await _poll(question)
    assert waiting.task_id == "pick" and waiting.choices == ["eu", "us"]
    with pytest.raises(AnswerRefused, match="'asia' is not one of"):
        await handle.answer("pick", "asia", by="ana")
    with pytest.raises(AnswerRefused, match="waits for no answer"):
        await handle.answer("nope", "eu")
    record = await handle.answer("pick", "eu", by="ana")

    assert (record.task, record.value, record.by) == ("pick", "eu", "ana")
    result = await handle.result()
    assert result.status == "completed"
    assert result.tasks[0].output == "eu" and result.tasks[0].answered_by == "ana"


def test_a_sub_plans_question_is_shown_and_answered_through_the_parent(stack, run_id):
    ask = {"question": "Which region?", "choices": ["eu", "us"]}
    child = {"plan": {"tasks": [task("pick", "ask", ask)]}}
    start(stack, run_id, {"tasks": [task("sub", "sub_plan", child)]})

    asking(stack, run_id, "sub.pick")
    shown = stack.cli("status", run_id).stdout
    assert "question: sub.pick: Which region?" in shown
    assert f"answer: python cli.py answer {run_id} sub.pick --value JSON" in shown
    refused = stack.cli("answer", run_id, "sub.pick", "--text", "asia")
    assert "'asia' is not one of" in refused.stderr

    answered = stack.cli("answer", run_id, "sub.pick", "--text", "us", "--by", "ana")

    assert answered.returncode == 0, answered.stderr
    result = result_of(stack, run_id)
    assert result["status"] == "completed"
    assert tasks_by_id(result)["sub"]["output"] == {"pick": "us"}


async def _poll(check, timeout=30.0):
    """Await `check()` until it returns something truthy, or fail after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"question": "n?", "answer_schema": {"type": "number"}, "default": "x"},
         "default is not an accepted answer"),
        ({"question": "c?", "choices": ["a", "b"], "default": "c"},
         "default is not an accepted answer"),
        ({"question": "c?", "answer_schema": {"type": "integer"}, "choices": ["a"]},
         "choice \"a\" does not fit"),
        ({"question": "s?", "answer_schema": {"type": "nope"}}, "not a valid JSON Schema"),
    ],
)  # fmt: skip
def test_a_question_that_cannot_be_answered_is_refused_with_the_plan(config, message):
    with pytest.raises(ValueError, match=message):
        AskConfig.model_validate(config)


def test_asking_is_safe_and_the_planner_knows_when_to_ask():
    spec = ACTIONS["ask"]
    assert spec.risk is None and spec.risk_check is None
    assert "leaves a choice to the person" in spec.description
    prompt = planner_system_prompt()
    assert '### "ask"' in prompt and spec.description in prompt
