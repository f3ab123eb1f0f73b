"""Sub-plans (`sub_plan`): a plan of its own run as a child run, with inputs; one child per
item under a for-each; approvals through the parent's id; pause and cancel reach the child;
a failed child fails its task; depth and inputs checked before the run."""

from __future__ import annotations

import json

import pytest

from agentic import AgentClient, NoChildRun, RunOptions
from agentic.core.plan import Plan
from agentic.core.policy import plan_refusals
from agentic.core.risk import describe_risks
from agentic.core.subplans import bind_inputs, goal_with_inputs, plan_depth
from tests.fakes.api_server import Reply
from tests.helpers import get, poll, task, tasks_by_id


def by_id(result):  # type: ignore[no-untyped-def]
    return {entry.task_id: entry for entry in result.tasks}


def wait(task_id: str, seconds: float, *deps: str, **extra: object) -> dict:
    return task(task_id, "wait", {"seconds": seconds}, *deps, **extra)


def sub_plan(task_id: str, tasks: list[dict], *deps: str, inputs: dict | None = None,
             **extra: object) -> dict:  # fmt: skip
    config = {"plan": {"tasks": tasks}, "inputs": inputs or {}}
    return task(task_id, "sub_plan", config, *deps, **extra)


def nested(levels: int) -> dict:
    plan = {"tasks": [wait("leaf", 0)]}
    for level in range(levels):
        plan = {"tasks": [sub_plan(f"level{level}", plan["tasks"])]}
    return plan


LABEL = task("label", "data_transform", {
    "input": {"region": "{{ inputs.region }}", "n": "{{ inputs.n }}"},
    "expression": "join('-', [region, to_string(n)])",
})  # fmt: skip


def test_inputs_fill_the_child_plan_as_values_or_text():
    plan = Plan.model_validate({"tasks": [
        task("each", "data_transform", {"input": "{{ item }}", "expression": "@"},
             for_each="{{ inputs.regions }}"),
        task("say", "data_transform", {"input": "in {{ inputs.regions[0] }}", "expression": "@"}),
    ]})  # fmt: skip

    bound = bind_inputs(plan, {"regions": ["eu", "us"]})

    assert bound.tasks[0].for_each == ["eu", "us"]
    assert bound.tasks[1].action_config.input == "in eu"  # type: ignore[attr-defined]
    assert '{{ inputs.region }} = "eu"' in goal_with_inputs("go", {"region": "eu"})


def test_the_parents_references_stay_out_of_the_child_plan():
    """`{{ tasks.x.output }}` inside an inline plan is the child's own task, not the parent's."""
    child_tasks = [
        wait("x", 0),
        task("y", "data_transform", {"input": "{{ tasks.x.output }}", "expression": "@"}, "x"),
    ]
    plan = Plan.model_validate({"tasks": [sub_plan("sub", child_tasks)]})

    assert plan_refusals(plan) == []


def test_depth_inputs_and_sources_are_checked_before_the_run(stack):
    assert plan_depth(Plan.model_validate(nested(3))) == 4
    assert plan_refusals(Plan.model_validate(nested(3))) == []
    [too_deep] = plan_refusals(Plan.model_validate(nested(4)))
    assert "nest 4 deep, more than max_depth (3)" in too_deep

    missing = {"tasks": [sub_plan("s", [LABEL], inputs={"region": "eu"})]}
    both = {"tasks": [task("s", "sub_plan", {"goal": "g", "plan": {"tasks": [wait("w", 0)]}})]}
    bad_inner = {"tasks": [sub_plan("s", [task("a", "nope", {})])]}
    expected = {
        "missing": "task 's': in its plan: {{ inputs.n }} is used but inputs has no 'n'",
        "both": "action_config: give exactly one of plan (an inline plan), goal (planned by",
        "bad_inner": "action_config: its plan: tasks.0: task 'a': unknown action_type 'nope'",
        "too_deep": "its sub-plans nest 4 deep, more than max_depth (3)",
    }
    plans = {"missing": missing, "both": both, "bad_inner": bad_inner, "too_deep": nested(4)}
    for name, plan in plans.items():
        finished = stack.cli("validate", str(stack.write_plan(plan)))
        assert finished.returncode != 0, name
        [line] = finished.stderr.strip().splitlines()
        assert expected[name] in line, line


def test_a_sub_plans_tasks_are_named_in_the_approval_preview():
    plan = Plan.model_validate(
        {"tasks": [sub_plan("sub", [wait("fetch", 0, requires_approval=True)])]}
    )
    assert describe_risks(plan.tasks) == {"sub.fetch": "the plan marks it requires_approval"}


def test_a_for_each_over_a_sub_plan_runs_one_child_per_item(stack, run_id, client):
    regions = task("regions", "data_transform", {"input": ["eu", "us", "apac"], "expression": "@"})
    per_region = sub_plan("per_region", [LABEL, wait("rest", 0.1, "label")], "regions",
                          inputs={"region": "{{ item }}", "n": "{{ index }}"},
                          for_each="{{ tasks.regions.output }}")  # fmt: skip
    labels = task("labels", "data_transform",
                  {"input": "{{ tasks.per_region.output }}", "expression": "[*].label"},
                  "per_region")  # fmt: skip
    plan = {"goal": "per region", "tasks": [regions, per_region, labels]}

    result = stack.run_plan(plan, run_id, "--approval", "none")

    assert result["status"] == "completed", result["error"]
    done = tasks_by_id(result)
    assert done["labels"]["output"] == ["eu-0", "us-1", "apac-2"]
    assert done["per_region"]["output"][0] == {"label": "eu-0", "rest": {"waited_seconds": 0.1}}
    items = stack.cli_json("status", run_id, "--task", "per_region")
    assert [item["child_run_id"] for item in items] == [
        f"{run_id}.per_region[{index}]" for index in range(3)]  # fmt: skip
    child = stack.cli_json("result", f"{run_id}.per_region[1]")
    assert child["status"] == "completed" and child["goal"] == "sub-plan per_region[1]"
    assert tasks_by_id(child)["label"]["output"] == "us-1"


async def test_a_task_in_a_child_run_is_approved_through_the_parent(stack, run_id, client):
    plan = {"tasks": [
        sub_plan("sub", [wait("fetch", 0, requires_approval=True), wait("after", 0, "fetch")]),
        wait("done", 0, "sub"),
    ]}  # fmt: skip
    started = stack.cli("start", "--plan", str(stack.write_plan(plan)), "--id", run_id,
                        "--approval", "risky")  # fmt: skip
    assert "waits for approval: sub.fetch" in started.stdout, started.stdout

    async def waiting() -> list[str]:
        return stack.cli_json("status", run_id)["sub_plans_waiting"]

    assert await poll(waiting, "the child's task waits") == ["sub.fetch"]
    shown = stack.cli("status", run_id).stdout
    assert f"approve {run_id} --task sub.fetch" in shown
    assert f"child run {run_id}.sub" in shown
    wrong = stack.cli("approve", run_id, "--task", "done.fetch")
    assert (
        wrong.returncode != 0 and "task 'done'" in wrong.stderr and "no child run" in wrong.stderr
    )
    empty = stack.cli("approve", run_id, "--task", "sub.")
    assert empty.returncode != 0 and "with a dot between (sub.fetch)" in empty.stderr

    approved = stack.cli("approve", run_id, "--task", "sub.fetch", "--by", "ann")
    assert approved.returncode == 0, approved.stderr

    result = stack.cli_json("result", run_id, "--wait")
    assert result["status"] == "completed", result["error"]
    child = stack.cli_json("result", f"{run_id}.sub")
    assert tasks_by_id(child)["fetch"]["approved_by"] == "ann"


async def test_pause_and_cancel_reach_the_child_run(stack, run_id):
    client = await AgentClient.connect(address=stack.address, task_queue=stack.task_queue)
    plan = {"tasks": [sub_plan("sub", [wait("first", 0.5), wait("second", 60, "first")])]}
    handle = await client.start(plan=plan, workflow_id=run_id, options=RunOptions())

    child = await poll(lambda: _child_when_started(handle), "the child run starts")
    await handle.pause(reason="look first", by="ann")
    assert (await poll(lambda: _paused(child), "the child pauses")).paused_by == "ann"
    await handle.resume(by="ann")
    await poll(lambda: _resumed(child), "the child resumes")
    await handle.cancel(reason="enough", by="ann")

    result = await handle.result()
    child_result = await child.result()
    assert result.status.value == "cancelled"
    assert child_result.status.value == "cancelled"
    assert tasks_by_id(child_result.model_dump(mode="json"))["second"]["status"] == "cancelled"
    with pytest.raises(NoChildRun, match="has no child run"):
        await handle.child("nope")


async def test_a_child_cancelled_on_its_own_fails_its_task(stack, run_id):
    client = await AgentClient.connect(address=stack.address, task_queue=stack.task_queue)
    plan = {"tasks": [sub_plan("sub", [wait("long", 60)]), wait("after", 0, "sub")]}
    handle = await client.start(plan=plan, workflow_id=run_id,
                                options=RunOptions(approval="none"))  # fmt: skip
    child = await poll(lambda: _child_when_started(handle), "the child run starts")

    await child.cancel(reason="not this one", by="ann")

    result = await handle.result()
    sub = by_id(result)["sub"]
    assert result.status.value == "failed" and sub.status.value == "failed"
    assert sub.error is not None
    assert sub.error.message == (
        f"child run {run_id}.sub was cancelled on its own ('status {run_id}.sub')"
    )


async def _child_when_started(handle):  # type: ignore[no-untyped-def]
    try:
        return await handle.child("sub")
    except NoChildRun:
        return None


async def _paused(child):  # type: ignore[no-untyped-def]
    state = await child.status()
    return state if state.paused else None


async def _resumed(child):  # type: ignore[no-untyped-def]
    return not (await child.status()).paused


def test_a_failed_child_fails_its_task_saying_why(stack, run_id):
    plan = {"tasks": [sub_plan("sub", [task("get", "api_call",
                                            {"method": "GET", "url": "http://127.0.0.1:1/x"})]),
                      wait("after", 0, "sub")]}  # fmt: skip

    result = stack.run_plan(plan, run_id, "--approval", "none", "--max-retries", "0")

    sub = tasks_by_id(result)["sub"]
    assert result["status"] == "failed"
    assert sub["status"] == "failed" and sub["error"]["error_type"] == "SubPlanFailed"
    assert sub["error"]["message"].startswith(f"child run {run_id}.sub failed: task 'get' failed")
    assert tasks_by_id(result)["after"]["status"] == "skipped"


def test_a_goal_sub_plan_is_planned_by_the_llm_with_its_inputs(stack, llm, run_id):
    child_plan = {"goal": "greet", "tasks": [task("hello", "data_transform", {
        "input": "hello {{ inputs.name }}", "expression": "@"})]}  # fmt: skip
    llm.script(f"greet-{run_id}", json.dumps(child_plan))
    plan = {"tasks": [task("sub", "sub_plan", {"goal": f"greet-{run_id}",
                                               "inputs": {"name": "ada"}})]}  # fmt: skip

    result = stack.run_plan(plan, run_id, "--approval", "none")

    assert result["status"] == "completed", result["error"]
    assert tasks_by_id(result)["sub"]["output"] == {"hello": "hello ada"}
    [request] = llm.requests_matching(f"greet-{run_id}")
    assert '{{ inputs.name }} = "ada"' in request["messages"][-1]["content"]
    assert result["usage"]["calls"] == 1, "the child's LLM calls count in the parent's usage"


def test_a_sub_plan_takes_its_budgets_from_what_the_parent_has_left():
    from agentic.core.messages import TokenUsage
    from agentic.workflows.budgets import left_for_child

    options = RunOptions(max_llm_calls=10, max_llm_tokens=1000, max_run_seconds=60)
    left = left_for_child(options, TokenUsage(calls=4, total_tokens=900), 20.0)

    assert (left.max_llm_calls, left.max_llm_tokens, left.max_run_seconds) == (6, 100, 40.0)


def test_inputs_from_a_stored_output_are_resolved_by_an_activity_and_must_be_small(
    stack, api, run_id
):
    big = {"count": 3, "items": ["x" * 1000] * 400}  # 400 KB: kept in the blob store
    api.route("GET", f"/big/{run_id}", Reply(json=big))
    fetch = task("fetch", "api_call", get(f"{api.url}/big/{run_id}"))
    echo = [task("echo", "data_transform", {"input": "{{ inputs.n }}", "expression": "@"})]
    small = sub_plan("small", echo, "fetch", inputs={"n": "{{ tasks.fetch.output.body.count }}"})
    whole = sub_plan("whole", echo, "fetch", inputs={"n": "{{ tasks.fetch.output.body.items }}"},
                     critical=False)  # fmt: skip

    result = stack.run_plan({"tasks": [fetch, small, whole]}, run_id, "--approval", "none")

    done = tasks_by_id(result)
    assert done["small"]["status"] == "completed", done["small"]["error"]
    assert done["small"]["output"] == {"echo": 3}
    assert done["whole"]["status"] == "failed"
    assert "larger than the blob threshold" in done["whole"]["error"]["message"]
