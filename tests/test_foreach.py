"""For-each (`for_each`): one action per item of a list, each item with its own status,
attempts and approval; the output in item order; max_failures; max_items; a map over a map;
continue-as-new in the middle of a map; bad for-eaches refused before the run."""

from __future__ import annotations

import asyncio
import json

import pytest
from temporalio import activity

from agentic import AgentClient, Plan, RunOptions
from agentic.core.foreach import allowed_failures, item_config
from agentic.core.messages import ActionRequest, ActionResult, TaskResult
from agentic.core.metrics import task_metrics
from agentic.examples.orders_per_user import orders_per_user
from agentic.workflows.visibility import plan_details, progress_details
from tests.fakes.api_server import Reply
from tests.helpers import activity_spans, get, poll, task, tasks_by_id
from tests.test_workflow_inprocess import (
    FAST,
    plan_of,
    run_id,
    running_worker,
    temporal_client,  # noqa: F401 (the fixture)
)


def test_item_references_become_element_references_or_values():
    config = {"url": "http://api/users/{{ item.id }}/orders", "n": "{{ index }}",
              "whole": "{{ item }}"}  # fmt: skip

    by_reference = item_config(config, "{{ tasks.users.output.body }}", 3)
    by_value = item_config(config, [{"id": 7}, {"id": 8}], 1)

    assert by_reference == {"url": "http://api/users/{{ tasks.users.output.body[3].id }}/orders",
                            "n": 3, "whole": "{{ tasks.users.output.body[3] }}"}  # fmt: skip
    assert by_value == {"url": "http://api/users/8/orders", "n": 1, "whole": {"id": 8}}


def test_max_failures_is_a_count_or_a_fraction():
    assert [allowed_failures(0, 10), allowed_failures(3, 10), allowed_failures(0.25, 10)] == [
        0, 3, 2]  # fmt: skip


async def test_orders_per_user_fetches_each_users_orders(stack, sample_api, run_id, client):
    out = f"orders-{run_id}/totals.json"
    args = ["-o", f"base_url={sample_api.url}", "-o", f"output_path={out}"]

    result = stack.cli_json("example", "orders_per_user", *args, "--wait", "--id", run_id)

    assert result["status"] == "completed", result["error"]
    orders = tasks_by_id(result)["orders"]
    assert orders["items"] == {"completed": 20} and orders["attempts"] == 20
    assert orders["output_summary"] == "20/20 completed"
    assert [len(item["body"]) for item in orders["output"]][:3] == [1, 2, 2]
    totals = json.loads((stack.workspace / out).read_text())
    assert totals["users"] == 20 and totals["orders"] == 30
    assert round(totals["paid"], 2) == 2224.73
    assert "orders[0]" not in tasks_by_id(result), "items are listed by the items query"
    spans = await activity_spans(client, run_id)
    assert {f"orders[{i}]" for i in range(20)} <= set(spans)


def test_failures_up_to_max_failures_leave_nulls_and_errors(stack, run_id, api):
    api.route("GET", f"/each/{run_id}/0", Reply(json={"n": 0}))
    api.route("GET", f"/each/{run_id}/1", Reply(status=404, json={"error": "gone"}))
    api.route("GET", f"/each/{run_id}/2", Reply(json={"n": 2}))
    each = task("each", "api_call", get(f"{api.url}/each/{run_id}/{{{{ item }}}}"),
                for_each=[0, 1, 2], max_failures=1, critical=False)  # fmt: skip
    plan = {"tasks": [each]}

    result = stack.run_plan(plan, run_id, "--approval", "none")

    each_result = tasks_by_id(result)["each"]
    assert each_result["status"] == "completed"
    assert [item and item["body"] for item in each_result["output"]] == [{"n": 0}, None, {"n": 2}]
    [error] = each_result["item_errors"]
    assert (error["index"], error["task_id"], error["status"]) == (1, "each[1]", "failed")
    assert "404" in error["message"]

    stricter = {"tasks": [{**each, "max_failures": 0}]}
    failed = stack.run_plan(stricter, run_id + "-strict", "--approval", "none")

    strict = tasks_by_id(failed)["each"]
    assert strict["status"] == "failed" and strict["error"]["error_type"] == "ItemsFailed"
    assert "1 of 3 items did not complete" in strict["error"]["message"]


def test_a_map_over_a_map(stack, run_id):
    plan = {"tasks": [
        task("double", "data_transform", {"input": "{{ item }}", "expression": "sum([@, @])"},
             for_each=[1, 2, 3]),
        task("plus_index", "data_transform",
             {"input": {"value": "{{ item }}", "index": "{{ index }}"},
              "expression": "sum([value, index])"},
             "double", for_each="{{ tasks.double.output }}"),
    ]}  # fmt: skip

    result = stack.run_plan(plan, run_id, "--approval", "none")

    assert result["status"] == "completed", result["error"]
    assert tasks_by_id(result)["plus_index"]["output"] == [2, 5, 8]


def test_a_list_longer_than_max_items_fails_the_task_at_once(stack, run_id):
    plan = {"tasks": [
        task("many", "data_transform", {"input": "{{ tasks.source.output }}",
                                        "expression": "@"}, "source",
             for_each="{{ tasks.source.output }}"),
        task("source", "data_transform", {"input": list(range(12)), "expression": "@"}),
    ]}  # fmt: skip

    result = stack.run_plan(plan, run_id, "--approval", "none",
                            env={"RUN_MAX_ITEMS": "10"})  # fmt: skip

    many = tasks_by_id(result)["many"]
    assert many["status"] == "failed"
    assert "gave 12 items, more than max_items (10)" in many["error"]["message"]


def test_each_risky_item_waits_for_its_own_approval(stack, run_id, api):
    api.route("POST", f"/approve/{run_id}", Reply(json={"ok": True}))
    plan = {"tasks": [task("send", "api_call",
                           {"method": "POST", "url": f"{api.url}/approve/{run_id}",
                            "json": {"n": "{{ item }}"}},
                           for_each=[0, 1])]}  # fmt: skip
    started = stack.cli_json("start", "--plan", str(stack.write_plan(plan)), "--id", run_id)
    assert started["workflow_id"] == run_id

    def waiting() -> list[str]:
        state = stack.cli_json("status", run_id)
        return sorted(t["task_id"] for t in state["tasks"] if t["status"] == "waiting_approval")

    import time

    deadline = time.monotonic() + 30
    while stack.cli_json("status", run_id)["tasks"][0].get("items") != {"waiting_approval": 2}:
        assert time.monotonic() < deadline, "the items never waited for approval"
        time.sleep(0.2)
    assert stack.cli("approve", run_id, "--task", "send[1]").returncode == 0
    assert stack.cli("reject", run_id, "--task", "send[0]", "--reason", "no").returncode == 0

    result = stack.cli_json("result", run_id, "--wait")

    send = tasks_by_id(result)["send"]
    assert send["items"] == {"completed": 1, "skipped": 1}
    assert send["status"] == "failed" and "approval rejected" in send["error"]["message"]
    assert len(api.calls("POST", f"/approve/{run_id}")) == 1


async def test_a_map_goes_on_across_continue_as_new(stack, client):
    agent = await AgentClient.connect(address=stack.address, task_queue=stack.task_queue)
    config = {"input": "{{ item }}", "expression": "sum([@, @])"}
    plan = Plan.model_validate(
        {"tasks": [task("double", "data_transform", config, for_each=list(range(12)))]}
    )
    options = RunOptions(approval="none", continue_as_new_after_tasks=3, max_parallel=2)

    handle = await agent.start(plan=plan, options=options)
    result = await handle.result()

    assert result.status == "completed"
    assert result.tasks[0].output == [i * 2 for i in range(12)]
    histories = 1
    history = await client.get_workflow_handle(handle.workflow_id).fetch_history()
    while history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id:
        previous = history.events[0].workflow_execution_started_event_attributes
        histories += 1
        history = await client.get_workflow_handle(
            handle.workflow_id, run_id=previous.continued_execution_run_id
        ).fetch_history()
    assert histories >= 3, "the map continued as new at least twice"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"for_each": None}, "uses {{ item.id }} outside a for-each"),
        ({"for_each": "users"}, "cannot be a list"),
        ({"for_each": "{{ tasks.nope.output }}"}, "has a for_each over the output of unknown"),
        ({"for_each": 5}, "for_each"),
    ],
)
def test_a_bad_for_each_is_refused_before_the_run(stack, changes, message):
    each = task("each", "api_call", get("https://example.com/{{ item.id }}"),
                for_each="{{ tasks.users.output }}")  # fmt: skip
    plan = {"tasks": [task("users", "data_transform", {"input": [], "expression": "@"}),
                      {**each, **changes, "depends_on": ["users"]}]}  # fmt: skip

    finished = stack.cli("validate", str(stack.write_plan(plan)))

    assert finished.returncode != 0
    [line] = finished.stderr.strip().splitlines()
    assert line.startswith("error: invalid plan") and message in line, line


def test_the_planner_writes_a_for_each_and_a_condition_that_run(stack, sample_api, run_id, llm):
    goal = f"total each user's orders, and save them only if any ({run_id})"
    plan = orders_per_user(base_url=sample_api.url, output_path=f"planned-{run_id}/t.json")
    planned = plan.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    planned["tasks"][-1]["when"] = "tasks.totals.output.orders > `0`"
    llm.script(goal, {**planned, "goal": goal})

    result = stack.cli_json("start", "--goal", goal, "--approval", "none", "--wait",
                            "--id", run_id)  # fmt: skip

    assert result["status"] == "completed", result["error"]
    tasks = tasks_by_id(result)
    assert tasks["orders"]["items"] == {"completed": 20}
    assert tasks["save"]["status"] == "completed"
    prompt = llm.requests_matching(goal)[0]["messages"][0]["content"]
    assert '"for_each" (optional)' in prompt


async def test_a_paused_for_each_waits_and_then_goes_on(stack):
    agent = await AgentClient.connect(address=stack.address, task_queue=stack.task_queue)
    plan = Plan.model_validate(
        {"tasks": [task("nap", "wait", {"seconds": 1}, for_each=list(range(6)))]}
    )
    handle = await agent.start(plan=plan, options=RunOptions(approval="none", max_parallel=2))

    async def items_started() -> bool:
        return bool((await handle.status()).tasks[0].items)

    # Paused sooner (a loaded machine may deliver the pause with the run's start), the run
    # would start nothing, the for-each included: no items to hold.
    await poll(items_started, "the for-each to start its items")
    await handle.pause(by="tester")

    async def items_settled() -> dict | None:
        counts = (await handle.status()).tasks[0].items or {}
        return counts if counts.get("pending") and not counts.get("running") else None

    counts = await poll(items_settled, "the paused for-each to settle")
    assert counts["pending"] >= 2 and (await handle.status()).status is None
    await handle.resume(by="tester")

    result = await handle.result()
    assert result.status == "completed" and result.tasks[0].items == {"completed": 6}


async def test_an_approved_item_runs_even_with_one_slot(stack, api, run_id):
    api.route("POST", f"/one-slot/{run_id}", Reply(json={"ok": True}))
    agent = await AgentClient.connect(address=stack.address, task_queue=stack.task_queue)
    post = {"method": "POST", "url": f"{api.url}/one-slot/{run_id}", "json": {}}
    plan = Plan.model_validate({"tasks": [task("send", "api_call", post, for_each=[0])]})
    options = RunOptions(approval="risky", max_parallel=1)
    handle = await agent.start(plan=plan, workflow_id=run_id, options=options)

    async def waiting() -> bool:
        return (await handle.items("send"))[0].status == "waiting_approval"

    await poll(waiting, "the item to wait for approval")
    await handle.approve(task="send[0]", by="tester")

    result = await handle.result()
    assert result.status == "completed"


def test_a_for_each_over_a_branch_not_taken_has_no_items(stack, run_id):
    plan = {"tasks": [
        task("list", "data_transform", {"input": [1, 2], "expression": "@"}, when="`false`"),
        task("each", "data_transform", {"input": "{{ item }}", "expression": "@"}, "list",
             for_each="{{ tasks.list.output }}"),
    ]}  # fmt: skip

    result = stack.run_plan(plan, run_id, "--approval", "none")

    assert result["status"] == "completed"
    assert tasks_by_id(result)["each"]["output"] == []


def test_template_text_is_refused_on_submission_but_still_a_valid_model(stack):
    template = {"operation": "write", "path": "t.txt", "content": "Hello {{ item.name }}"}
    plan = {"tasks": [task("write", "file_operation", template)]}

    Plan.model_validate(plan)  # a recorded run holding such text keeps decoding
    finished = stack.cli("validate", str(stack.write_plan(plan)))

    assert finished.returncode != 0 and "outside a for-each" in finished.stderr


def test_the_web_ui_and_metrics_show_a_for_each_by_its_items():
    each = task("orders", "api_call", get("https://example.com/{{ item.id }}"),
                for_each="{{ tasks.users.output.body }}")  # fmt: skip
    plan = Plan.model_validate({"tasks": [
        task("users", "data_transform", {"input": [], "expression": "@"}),
        {**each, "depends_on": ["users"]},
    ]})  # fmt: skip
    counts = {"completed": 812, "failed": 2, "pending": 170, "running": 16}
    running = TaskResult(task_id="orders", status="running", attempts=830, items=counts)

    assert "users; for each of {{ tasks.users.output.body }} |" in plan_details(plan)
    shown = "| `orders` | running | 812/1000 completed, 2 failed, 170 pending, 16 running |"
    assert shown in progress_details([running])
    metrics = task_metrics(running)
    assert (metrics.attempts, metrics.retries, metrics.items) == (830, 16, running.items)


async def test_a_for_each_keeps_the_first_decisions_on_its_items_and_counts_the_rest(
    stack, api, run_id
):
    api.route("GET", f"/gone/{run_id}", Reply(status=404, json={"error": "gone"}))
    agent = await AgentClient.connect(address=stack.address, task_queue=stack.task_queue)
    each = task("each", "api_call", get(f"{api.url}/gone/{run_id}", params={"i": "{{ index }}"}),
                for_each=list(range(26)), max_failures=26)  # fmt: skip
    options = RunOptions(approval="none", analyze_failures=False, max_retries=0)

    handle = await agent.start(plan=Plan.model_validate({"tasks": [each]}), options=options,
                               workflow_id=run_id)  # fmt: skip
    result = await handle.result()

    assert result.status == "completed" and result.tasks[0].items == {"failed": 26}
    assert len(result.decisions) == 20 and result.decisions_not_kept == {"each": 6}
    shown = stack.cli("result", run_id).stdout
    assert "... and 6 more decisions on items of each" in shown
    assert (await handle.metrics()).decisions.count == 26


async def test_a_for_each_runs_max_parallel_items_at_once(temporal_client):  # noqa: F811
    """Each item's call waits until three are in flight together: items run one after another
    would never get there (and fail the task); never more than max_parallel run at once."""
    in_flight, most = 0, 0
    three_at_once = asyncio.Event()

    @activity.defn(name="api_call")
    async def api_call(request: ActionRequest) -> ActionResult:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        if in_flight == 3:
            three_at_once.set()
        try:
            await asyncio.wait_for(three_at_once.wait(), 10)
        finally:
            in_flight -= 1
        return ActionResult(output=request.config["url"], attempt=activity.info().attempt)

    plan = plan_of(task("each", "api_call", get("http://x/{{ item }}"), for_each=[1, 2, 3, 4, 5, 6],
                        local=False))  # fmt: skip
    async with running_worker(temporal_client, api_call) as client:
        handle = await client.start(plan=plan, options=RunOptions(**{**FAST, "max_parallel": 3}),
                                    workflow_id=run_id("at-once"))  # fmt: skip
        result = await handle.result()

    assert result.status == "completed", result.error
    assert result.tasks[0].output == [f"http://x/{i}" for i in range(1, 7)]
    assert most == 3
