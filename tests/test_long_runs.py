"""Long runs continue as new before their history grows too large: one workflow id, a chain of
histories, one result, and every task's output still there for the tasks that refer to it."""

from __future__ import annotations

import json

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from tests.conftest import wait_until
from tests.fakes.api_server import Reply
from tests.helpers import get, task, tasks_by_id

TASK_COUNT = 2000
HALF = TASK_COUNT // 2


def long_plan(run_id: str) -> dict:
    """Tasks 0..999 each output their number; tasks 1000..1999 each refer to the output of
    the task 1000 before them, which ended in an earlier history."""
    tasks = [task(f"t{i}", "data_transform", {"input": i, "expression": "@"}) for i in range(HALF)]
    tasks += [
        task(
            f"t{i}",
            "data_transform",
            {"input": f"{{{{ tasks.t{i - HALF}.output }}}}", "expression": "[@, `1`]"},
            f"t{i - HALF}",
        )
        for i in range(HALF, TASK_COUNT)
    ]
    return {"goal": f"a long plan ({run_id})", "tasks": tasks}


async def histories_of(client: Client, workflow_id: str) -> list[list[int]]:
    """The event types of every history of the workflow id, oldest first."""
    executions = [e async for e in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    executions.sort(key=lambda execution: execution.start_time)
    return [
        [event.event_type for event in (await client.get_workflow_handle(
            workflow_id, run_id=execution.run_id).fetch_history()).events]
        for execution in executions
    ]  # fmt: skip


async def test_a_2000_task_plan_continues_as_new_and_completes(stack, client, run_id):
    result = stack.run_plan(
        long_plan(run_id), run_id, "--approval", "none", "--max-parallel", "64",
        timeout=600, env={"RUN_MAX_TASKS": str(TASK_COUNT)},
    )  # fmt: skip
    assert result["status"] == "completed", result["error"]
    tasks = tasks_by_id(result)
    assert len(tasks) == TASK_COUNT
    assert all(tasks[f"t{i}"]["output"] == i for i in range(HALF))
    assert all(tasks[f"t{i}"]["output"] == [i - HALF, 1] for i in range(HALF, TASK_COUNT))
    assert result["metrics"]["completed"] == TASK_COUNT

    histories = await histories_of(client, run_id)
    assert len(histories) >= 4  # 500 tasks per history by default
    assert max(len(events) for events in histories) <= 10_000
    continued = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    assert all(events[-1] == continued for events in histories[:-1])
    assert histories[-1][-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED

    status = stack.cli_json("status", run_id)
    assert status["status"] == "completed" and len(status["tasks"]) == TASK_COUNT
    description = await client.get_workflow_handle(run_id).describe()
    memo = await description.memo()
    assert memo["goal"] == f"a long plan ({run_id})"


async def test_a_continued_run_keeps_its_decisions_approvals_and_outputs(
    stack, client, llm, api, run_id
):
    broken = f"/long/broken-{run_id}"
    api.route("GET", broken, Reply(400, json={"error": "bad"}))
    api.route("POST", f"/long/{run_id}/orders", Reply(201, json={"created": True}))
    llm.script(broken, {"action": "skip", "reason": "optional enrichment"})
    small = [task(f"a{i}", "data_transform", {"input": i, "expression": "@"}) for i in range(4)]
    plan = {"goal": f"carry state ({run_id})", "tasks": [
        task("enrich", "api_call", get(f"{api.url}{broken}"), critical=False),
        *small,
        task("order", "api_call", {"method": "POST", "url": f"{api.url}/long/{run_id}/orders",
                                   "json": {"n": "{{ tasks.a3.output }}"}}, "a3"),
        task("final", "data_transform", {"input": {"first": "{{ tasks.a0.output }}",
             "created": "{{ tasks.order.output.body.created }}"}, "expression": "@"},
             "order", "a0"),
    ]}  # fmt: skip
    env = {"CONTINUE_AS_NEW_AFTER_TASKS": "2"}
    started = stack.cli("start", "--plan", str(stack.write_plan(plan)), "--id", run_id,
                        "--max-parallel", "1", env=env)  # fmt: skip
    assert started.returncode == 0, started.stderr
    wait_until(
        lambda: tasks_by_id(stack.cli_json("status", run_id))["order"]["status"]
        == "waiting_approval",
        30, "the order to wait for approval", interval=0.3,
    )  # fmt: skip
    before = [
        json.loads(line) for line in stack.cli("events", run_id, "--json").stdout.splitlines()
    ]
    approved = stack.cli("approve", run_id, "--task", "order", "--by", "carol")
    assert approved.returncode == 0, approved.stderr

    result = stack.cli_json("result", run_id, "--wait")
    after = stack.cli("events", run_id, "--json", "--follow", "--from", str(len(before)))
    events = before + [json.loads(line) for line in after.stdout.splitlines()]

    assert result["status"] == "completed", result["error"]
    tasks = tasks_by_id(result)
    assert tasks["enrich"]["status"] == "skipped"
    [decision] = result["decisions"]
    assert decision["applied"] == "skip" and decision["source"] == "analyst"
    assert tasks["order"]["approved_by"] == "carol"
    assert tasks["final"]["output"] == {"first": 0, "created": True}
    assert result["usage"]["total_tokens"] > 0 and len(result["llm_calls"]) == 1
    assert len(await histories_of(client, run_id)) >= 3
    metrics = stack.cli_json("metrics", run_id)
    assert metrics["decisions"]["count"] == 1 and metrics["llm"]["calls"] == 1
    assert metrics["tasks_by_status"]["completed"] == 6
    # The event stream went on across the histories: every event once, in order.
    assert [event["offset"] for event in events] == list(range(len(events)))
    kinds = [event["kind"] for event in events]
    assert kinds.count("plan_created") == 1 and kinds[-1] == "run_ended"
    completed = [event["task"] for event in events if event["kind"] == "task_completed"]
    assert sorted(completed) == ["a0", "a1", "a2", "a3", "final", "order"]
    assert {"kind": "approval_given", "task": "order", "by": "carol", "approved": True} in [
        {key: event.get(key) for key in ("kind", "task", "by", "approved")} for event in events
    ]
    assert any(e["kind"] == "decision_made" and e["task"] == "enrich" for e in events)
    # It is one run to `list` too (its latest history), as in the console.
    wait_until(lambda: [json.loads(line)["workflow_id"] for line in stack.cli(
        "list", "--goal", run_id, "--json").stdout.splitlines()] == [run_id],
        30, "list to show the continued run once")  # fmt: skip
