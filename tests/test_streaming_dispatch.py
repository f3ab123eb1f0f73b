"""Streaming dispatch, end to end: the planner's reply streams, and each task starts as soon as
it is complete and its dependencies completed, while later tasks are still being written; a
whole plan that turns out invalid stops what runs and is repaired, never repeating what
completed."""

from __future__ import annotations

import json
import threading

from temporalio.api.enums.v1 import EventType

from tests.conftest import wait_until
from tests.fakes.api_server import Reply
from tests.helpers import get, local_activity_span, task, tasks_by_id


async def test_a_task_starts_while_the_rest_of_the_plan_is_still_streaming(
    stack, llm, api, client, run_id
):
    base = f"{api.url}/{run_id}"
    api.route("GET", f"/{run_id}/users", Reply(json=[{"id": 1}, {"id": 2}]))
    api.route("GET", f"/{run_id}/teams", Reply(json=["core"]))
    goal = f"users and teams ({run_id})"
    plan = {
        "goal": goal,
        "tasks": [
            task("users", "api_call", get(f"{base}/users")),
            task("teams", "api_call", get(f"{base}/teams")),
            task("count", "data_transform",
                 {"input": "{{ tasks.users.output.body }}", "expression": "length(@)"}, "users"),
        ],
    }  # fmt: skip
    rest = threading.Event()
    llm.script(goal, llm.streamed(plan, seconds=1.0, first_at=0.2, hold=rest))
    llm.script(f"Join the run of: {goal}", {"action": "answer", "answer": "2 users, 1 team"})
    stack.cli("start", "--goal", goal, "--id", run_id, "--approval", "none")

    wait_until(lambda: api.calls("GET", f"/{run_id}/users"), 30, "the first task to start")
    assert not api.calls("GET", f"/{run_id}/teams")  # not written yet
    [planning] = llm.requests_matching(f"Goal: {goal}")
    assert planning["stream"] is True
    rest.set()

    result = stack.cli_json("result", run_id, "--wait")
    assert result["status"] == "completed"
    assert result["streamed_tasks"] == ["users", "teams", "count"]
    assert tasks_by_id(result)["count"]["output"] == 2
    assert result["answer"] == "2 users, 1 team"
    assert len(api.calls("GET", f"/{run_id}/users")) == 1
    events = await history_events(client, run_id)
    planned = next(i for i, (kind, name) in enumerate(events) if name == "plan_goal_streamed")
    users = events.index(("MarkerRecorded", "api_call:users"))  # a local read, recorded
    planning_done = events.index(("ActivityTaskCompleted", "plan_goal_streamed"))
    assert planned < users < planning_done  # in the history too: started while planning


async def history_events(client, workflow_id: str) -> list[tuple[str, str]]:
    """(event type, activity type[:task id]) of the run's activity events and local
    activities' markers, in order."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled: dict[int, str] = {}
    events = []
    for event in history.events:
        kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        kind = "".join(part.capitalize() for part in kind.split("_"))
        if event.HasField("activity_task_scheduled_event_attributes"):
            attributes = event.activity_task_scheduled_event_attributes
            name = attributes.activity_type.name
            if not attributes.activity_id.isdigit():
                name += ":" + attributes.activity_id
            scheduled[event.event_id] = name
            events.append((kind, name))
        elif local_activity_span(event) is not None:
            details = event.marker_recorded_event_attributes.details
            local = json.loads(details["data"].payloads[0].data)
            events.append((kind, f"{local['activity_type']}:{local['activity_id']}"))
        elif event.HasField("activity_task_completed_event_attributes"):
            attributes = event.activity_task_completed_event_attributes
            events.append((kind, scheduled[attributes.scheduled_event_id]))
    return events


def test_an_invalid_streamed_plan_is_repaired_without_repeating_what_completed(
    stack, llm, api, run_id
):
    base = f"{api.url}/{run_id}"
    api.route("GET", f"/{run_id}/orders", Reply(json=[{"id": 7}]))
    api.route("GET", f"/{run_id}/stock", Reply(json={"left": 3}))
    goal = f"orders and stock ({run_id})"
    orders = task("orders", "api_call", get(f"{base}/orders"))
    dangling = {"input": "{{ tasks.missing.output }}", "expression": "@"}
    dangling = task("report", "data_transform", dangling, "missing")
    fixed = {"goal": goal, "tasks": [orders, task("stock", "api_call", get(f"{base}/stock"))]}
    first = threading.Event()
    llm.script(
        goal,
        llm.streamed({"goal": goal, "tasks": [orders, dangling]}, 1.0, first_at=0.1, hold=first),
        fixed,
    )
    llm.script(f"Join the run of: {goal}", {"action": "answer", "answer": "1 order, 3 left"})
    stack.cli("start", "--goal", goal, "--id", run_id, "--approval", "none")
    wait_until(
        # Until the first task streams in, the run has none.
        lambda: (
            tasks_by_id(stack.cli_json("status", run_id)).get("orders", {}).get("status")
            == "completed"
        ),
        30,
        "the streamed task to complete",
    )
    first.set()

    result = stack.cli_json("result", run_id, "--wait")

    assert result["status"] == "completed", result["error"]
    assert len(api.calls("GET", f"/{run_id}/orders")) == 1  # completed once, kept
    assert tasks_by_id(result)["stock"]["output"]["body"] == {"left": 3}
    assert "kept as completed in the repaired plan: orders" in result["stream_note"]
    repair = json.dumps(llm.requests_matching(f"Goal: {goal}")[1])
    assert "missing" in repair and '"stream": true' not in repair


def test_in_approval_mode_plan_the_plan_does_not_stream(stack, llm, api, run_id):
    goal = f"approve me first ({run_id})"
    api.route("GET", f"/{run_id}/x", Reply(json={}))
    llm.script(goal, {"goal": goal, "tasks": [task("x", "api_call", get(f"{api.url}/{run_id}/x"))]})
    stack.cli("start", "--goal", goal, "--id", run_id, "--approval", "plan")
    wait_until(lambda: stack.cli_json("status", run_id)["phase"] == "awaiting_approval", 30,
               "the plan to wait")  # fmt: skip
    [planning] = llm.requests_matching(f"Goal: {goal}")
    assert not planning.get("stream")
    stack.cli("cancel", run_id)


def test_a_streamed_plan_over_max_tasks_ends_the_run_as_an_unstreamed_one_does(
    stack, llm, api, run_id
):
    api.route("GET", f"/{run_id}/one", Reply(json={}))
    goal = f"too many tasks ({run_id})"
    url = f"{api.url}/{run_id}/one"
    plan = {"goal": goal, "tasks": [task(f"t{n}", "api_call", get(url)) for n in range(3)]}
    llm.script(goal, plan)

    result = stack.cli_json("start", "--goal", goal, "--wait", "--id", run_id,
                            "--approval", "none", env={"RUN_MAX_TASKS": "2"})  # fmt: skip

    assert result["status"] == "failed"
    assert "the plan has 3 tasks, more than max_tasks (2)" in result["error"]
    assert len(result["streamed_tasks"]) <= 2  # the run never took a third
