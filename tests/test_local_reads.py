"""Reads run as local activities: a GET, a read-only query and a file read run in the
workflow's worker with a marker in the history, not an activity the server schedules; a POST
stays a regular activity, and so does a read with `"local": false` or LOCAL_ACTIVITIES=off.
A read over its budget runs again as a regular activity, and a killed worker repeats only the
reads of its workflow task in flight, never a completed regular activity."""

from __future__ import annotations

import json
import signal
import uuid
from collections import defaultdict

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from agentic.core.actions.base import Action, ActionConfig
from agentic.core.mcp import McpServerSetting, tool_spec
from agentic.core.openapi import Operation, operation_spec
from agentic.core.registry import ACTIONS
from tests.conftest import wait_until
from tests.fakes.api_server import Reply
from tests.helpers import get, task, tasks_by_id

LOCAL_MARKER = "core_local_activity"


async def how_activities_ran(client: Client, run_id: str) -> dict[str, list[str]]:
    """activity id -> how it ran, in order: "local" (a local activity's marker in the
    history) or "regular" (an activity the server scheduled)."""
    history = await client.get_workflow_handle(run_id).fetch_history()
    ran: dict[str, list[str]] = defaultdict(list)
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            ran[event.activity_task_scheduled_event_attributes.activity_id].append("regular")
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == LOCAL_MARKER:
                data = json.loads(marker.details["data"].payloads[0].data)
                ran[data["activity_id"]].append("local")
    return dict(ran)


async def test_reads_run_as_local_activities_and_a_post_as_a_regular_one(
    stack, api, client, run_id
):
    api.route("GET", f"/{run_id}/users", Reply(json=[{"name": "ada"}, {"name": "bob"}]))
    api.route("POST", f"/{run_id}/report", Reply(201, json={"saved": True}))
    (stack.workspace / f"{run_id}.txt").write_text("hello")
    plan = {
        "tasks": [
            task("users", "api_call", get(f"{api.url}/{run_id}/users")),
            task("count", "db_query", {"query": "SELECT 2 + 3", "fetch": "value"}),
            task("note", "file_operation", {"operation": "read", "path": f"{run_id}.txt"}),
            task("report", "api_call", {"method": "POST", "url": f"{api.url}/{run_id}/report",
                 "json": {"users": "{{ tasks.users.output.body }}",
                          "count": "{{ tasks.count.output.value }}",
                          "note": "{{ tasks.note.output.content }}"}},
                 "users", "count", "note"),
        ]
    }  # fmt: skip

    result = stack.run_plan(plan, run_id, "--approval", "none")

    assert result["status"] == "completed", result["error"]
    [posted] = api.calls("POST", f"/{run_id}/report")
    assert posted.json() == {"users": [{"name": "ada"}, {"name": "bob"}], "count": 5,
                           "note": "hello"}  # fmt: skip
    assert await how_activities_ran(client, run_id) == {
        "users": ["local"],
        "count": ["local"],
        "note": ["local"],
        "report": ["regular"],
    }
    tasks = tasks_by_id(result)
    assert tasks["users"]["attempts"] == 1
    assert tasks["users"]["output_summary"].startswith("HTTP 200")


async def test_local_false_and_local_activities_off_keep_regular_activities(
    stack, api, client, run_id
):
    api.route("GET", f"/{run_id}/data", Reply(json={"ok": True}))
    plan = {
        "tasks": [
            task("kept", "api_call", get(f"{api.url}/{run_id}/data"), local=False),
            task("read", "api_call", get(f"{api.url}/{run_id}/data")),
        ]
    }

    by_task = stack.run_plan(plan, f"{run_id}-task", "--approval", "none")
    by_setting = stack.run_plan(plan, f"{run_id}-off", "--approval", "none",
                                env={"LOCAL_ACTIVITIES": "off"})  # fmt: skip

    assert by_task["status"] == by_setting["status"] == "completed"
    assert await how_activities_ran(client, f"{run_id}-task") == {
        "kept": ["regular"],
        "read": ["local"],
    }
    assert await how_activities_ran(client, f"{run_id}-off") == {
        "kept": ["regular"],
        "read": ["regular"],
    }


async def test_a_read_over_its_budget_runs_again_as_a_regular_activity(stack, api, client, run_id):
    api.route("GET", f"/{run_id}/slow", Reply(json={"done": True}, delay=2))
    plan = {"tasks": [task("slow", "api_call", get(f"{api.url}/{run_id}/slow"))]}

    result = stack.run_plan(plan, run_id, "--approval", "none",
                            env={"LOCAL_ACTIVITY_MAX_SECONDS": "0.5"})  # fmt: skip

    assert result["status"] == "completed", result["error"]
    assert tasks_by_id(result)["slow"]["output"]["body"] == {"done": True}
    assert await how_activities_ran(client, run_id) == {"slow": ["local", "regular"]}
    assert len(api.calls("GET", f"/{run_id}/slow")) == 2


async def test_a_read_that_keeps_failing_past_its_budget_moves_to_a_regular_activity(
    stack, api, client, run_id
):
    api.route("GET", f"/{run_id}/down", *[Reply(503)] * 4, Reply(json={"up": True}))
    plan = {"tasks": [task("down", "api_call", get(f"{api.url}/{run_id}/down"))]}

    result = stack.run_plan(plan, run_id, "--approval", "none", "--max-retries", "20",
                            env={"LOCAL_ACTIVITY_MAX_SECONDS": "1"})  # fmt: skip

    assert result["status"] == "completed", result["error"]
    assert await how_activities_ran(client, run_id) == {"down": ["local", "regular"]}
    assert len(api.calls("GET", f"/{run_id}/down")) == 5


async def test_a_failing_read_fails_its_task_as_a_regular_activity_would(
    stack, llm, api, client, run_id
):
    missing = f"/{run_id}/missing"
    api.route("GET", missing, Reply(404, json={"error": "no such user"}))
    api.route("GET", f"/{run_id}/flaky", Reply(503), Reply(json={"ok": True}))
    llm.script(missing, {"action": "skip", "reason": "the user is gone"})
    plan = {
        "tasks": [
            task("missing", "api_call", get(f"{api.url}{missing}"), critical=False),
            task("flaky", "api_call", get(f"{api.url}/{run_id}/flaky")),
        ]
    }

    result = stack.run_plan(plan, run_id, "--approval", "none")

    tasks = tasks_by_id(result)
    assert result["status"] == "completed", result["error"]
    assert tasks["missing"]["status"] == "skipped"
    [decision] = result["decisions"]
    assert decision["source"] == "analyst" and decision["applied"] == "skip"
    assert decision["error"]["error_type"] == "HttpClientError"
    assert decision["error"]["attempts"] == 1, "a 4xx is not retried"
    assert len(api.calls("GET", missing)) == 1
    assert tasks["flaky"]["attempts"] == 2, "retried within the local activity"
    ran = await how_activities_ran(client, run_id)
    assert (ran["missing"], ran["flaky"]) == (["local"], ["local"])


async def test_a_killed_worker_repeats_only_the_reads_in_flight(stack, api, client, run_id):
    """SIGKILL while a read runs as a local activity, after a read and a POST completed: the
    next worker runs that read again; the completed read (recorded before the POST was
    scheduled) and the POST (a regular activity) never run again."""
    # The next worker takes over when the dead one's workflow task times out: 2 s, not 10.
    queue_env = {"TASK_QUEUE": f"crash-local-{uuid.uuid4().hex[:8]}",
                 "WORKFLOW_TASK_TIMEOUT_SECONDS": "2"}  # fmt: skip
    first_worker = stack.start_worker(queue_env)
    base = f"{api.url}/{run_id}"
    api.route("GET", f"/{run_id}/users", Reply(json=["ada"]))
    api.route("POST", f"/{run_id}/save", Reply(201, json={"id": 7}))
    api.route("GET", f"/{run_id}/check", Reply(json={"saved": 7}, delay=3))
    plan = {
        "tasks": [
            task("users", "api_call", get(f"{base}/users")),
            task("save", "api_call", {"method": "POST", "url": f"{base}/save",
                                      "json": "{{ tasks.users.output.body }}"}, "users"),
            task("check", "api_call", get(f"{base}/check"), "save"),
        ]
    }  # fmt: skip
    started = stack.cli("start", "--plan", str(stack.write_plan(plan)), "--id", run_id,
                        "--approval", "none", env=queue_env)  # fmt: skip
    assert started.returncode == 0, started.stderr
    wait_until(lambda: api.calls("GET", f"/{run_id}/check"), 30, "the slow read")

    first_worker.send_signal(signal.SIGKILL)
    first_worker.wait()
    stack.start_worker(queue_env)
    result = stack.cli_json("result", run_id, "--wait", timeout=120, env=queue_env)

    assert result["status"] == "completed", result["error"]
    assert len(api.calls("GET", f"/{run_id}/users")) == 1, "a recorded read never repeats"
    assert len(api.calls("POST", f"/{run_id}/save")) == 1, "a completed activity never repeats"
    assert len(api.calls("GET", f"/{run_id}/check")) == 2, "the read in flight runs again"
    assert await how_activities_ran(client, run_id) == {
        "users": ["local"],
        "save": ["regular"],
        "check": ["local"],
    }


def test_specs_say_which_configs_only_read():
    """What runs locally comes from the action specs: a config's method, `write` or file
    operation, an MCP tool's readOnlyHint, an OpenAPI operation's method, a plug-in's word."""
    reads = {
        "GET": {"method": "GET", "url": "http://api.test/x"},
        "OPTIONS": {"method": "OPTIONS", "url": "http://api.test/x"},
        "POST": {"method": "POST", "url": "http://api.test/x"},
    }
    api_call = ACTIONS["api_call"]
    safe = {method: api_call.runs_again_safely(api_call.config_model.model_validate(config))
            for method, config in reads.items()}  # fmt: skip
    assert safe == {"GET": True, "OPTIONS": True, "POST": False}
    db_query = ACTIONS["db_query"]
    assert db_query.runs_again_safely(db_query.config_model(query="SELECT 1"))
    assert not db_query.runs_again_safely(db_query.config_model(query="DELETE", write=True))
    files = ACTIONS["file_operation"]
    assert files.runs_again_safely(files.config_model(operation="exists", path="a"))
    assert not files.runs_again_safely(files.config_model(operation="delete", path="a"))
    poll = ACTIONS["poll"]
    check = {"request": reads["GET"], "until": "body.done"}
    assert poll.runs_again_safely(poll.config_model.model_validate(check))
    assert not ACTIONS["data_transform"].runs_again_safely(None), "pure: computed, not read"
    server = McpServerSetting(command=["server"])
    schema = {"type": "object"}
    assert tool_spec("s", server, "look", "", schema, {"readOnlyHint": True}).idempotent
    assert not tool_spec("s", server, "drop", "", schema, {"destructiveHint": True}).idempotent
    assert not tool_spec("s", server, "other", "", schema, None).idempotent
    get_users = Operation("get_users", "GET", "/users", "", {}, None, schema)
    add_user = Operation("add_user", "POST", "/users", "", {}, "application/json", schema)
    assert operation_spec("svc", "http://svc.test", get_users).idempotent
    assert not operation_spec("svc", "http://svc.test", add_user).idempotent
    plugin = Action(action_type="lookup", config_model=ActionConfig, description="",
                    run=None, idempotent=True)  # fmt: skip
    assert plugin.runs_again_safely(ActionConfig())
