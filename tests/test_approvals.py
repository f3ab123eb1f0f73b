"""People in the loop: risky-task approvals, timeouts, edits, pause and resume, list filters."""

from __future__ import annotations

import json
import signal
import time

import pytest

from agentic.core.messages import ApprovalSignal
from agentic.core.plan import Plan
from agentic.core.risk import describe_risks, risk_reason
from tests.conftest import wait_until
from tests.fakes.api_server import Reply
from tests.helpers import get, task, tasks_by_id


def state_of(stack, run_id):
    return stack.cli_json("status", run_id)


def wait_for_task_status(stack, run_id, task_id, status, timeout=30):
    def reached():
        state = state_of(stack, run_id)
        return tasks_by_id(state)[task_id]["status"] == status and state

    return wait_until(reached, timeout, f"task {task_id} {status}", interval=0.3)


def start(stack, run_id, plan, *flags):
    started = stack.cli("start", "--plan", str(stack.write_plan(plan)), "--id", run_id, *flags)
    assert started.returncode == 0, started.stderr
    return started


# ----- the rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action_type", "config", "extra", "expected"),
    [
        ("file_operation", {"operation": "delete", "path": "a.txt"}, {}, "deletes the file a.txt"),
        ("file_operation", {"operation": "read", "path": "a.txt"}, {}, ""),
        ("db_query", {"query": "DELETE FROM t", "write": True}, {}, "writes to the database"),
        ("db_query", {"query": "SELECT 1"}, {}, ""),
        ("api_call", {"method": "POST", "url": "http://x/y"}, {}, "sends POST http://x/y"),
        ("api_call", {"method": "GET", "url": "http://x/y"}, {}, ""),
        ("api_call", {"method": "HEAD", "url": "http://x/y"}, {}, ""),
        ("poll", {"request": {"method": "DELETE", "url": "http://x"}, "until": "@"}, {},
         "sends DELETE http://x"),
        ("wait", {"seconds": 1}, {"requires_approval": True}, "requires_approval"),
    ],
)  # fmt: skip
def test_the_risky_rule(action_type, config, extra, expected):
    plan = Plan.model_validate({"tasks": [task("t", action_type, config, **extra)]})
    assert expected in risk_reason(plan.tasks[0]) if expected else not risk_reason(plan.tasks[0])


def test_writes_may_wait_when_the_file_exists():
    plan = Plan.model_validate(
        {
            "tasks": [
                task("w", "file_operation", {"operation": "write", "path": "r.md", "content": "x"})
            ]
        }
    )
    assert describe_risks(plan.tasks) == {"w": "only if r.md already exists"}


def test_start_says_which_tasks_will_wait(stack, api, run_id):
    plan = {"tasks": [
        task("read", "api_call", get(f"{api.url}/x")),
        task("post", "api_call", {"method": "POST", "url": f"{api.url}/x"}),
    ]}  # fmt: skip

    started = start(stack, run_id, plan)

    assert f"waits for approval: post (sends POST {api.url}/x)" in started.stdout
    assert "waits for approval: read" not in started.stdout
    stack.cli("cancel", run_id)


# ----- risky tasks ------------------------------------------------------------------------------


def test_risky_task_waits_and_runs_once_approved(stack, api, run_id):
    api.route("GET", f"/risky/{run_id}", Reply(json={"id": 7}))
    api.route("POST", f"/risky/{run_id}/orders", Reply(201, json={"created": True}))
    plan = {"tasks": [
        task("lookup", "api_call", get(f"{api.url}/risky/{run_id}")),
        task("order", "api_call", {"method": "POST", "url": f"{api.url}/risky/{run_id}/orders",
                                   "json": {"customer": "{{ tasks.lookup.output.body.id }}"}},
             "lookup"),
    ]}  # fmt: skip
    start(stack, run_id, plan)

    state = wait_for_task_status(stack, run_id, "order", "waiting_approval")
    order = tasks_by_id(state)["order"]
    assert order["risk"] == f"sends POST {api.url}/risky/{run_id}/orders"
    assert api.calls("POST", f"/risky/{run_id}/orders") == []
    shown = stack.cli("--address", stack.address, "status", run_id)
    hint = f"approve: python cli.py --address {stack.address} approve {run_id} --task order"
    assert hint in shown.stdout, "the suggested command works when pasted"
    approved = stack.cli("approve", run_id, "--task", "order", "--by", "carol")
    assert approved.returncode == 0, approved.stderr

    result = stack.cli_json("result", run_id, "--wait")
    order = tasks_by_id(result)["order"]
    assert result["status"] == "completed"
    assert order["status"] == "completed" and order["approved_by"] == "carol"
    [call] = api.calls("POST", f"/risky/{run_id}/orders")
    assert call.json() == {"customer": 7}


def test_a_run_that_fails_while_a_task_waits_for_approval_fails(stack, api, llm, client, run_id):
    """The waiting task is stopped with the run's error; nobody cancelled the run."""
    api.route("GET", f"/fails/{run_id}", Reply(400, json={"error": "gone"}, delay=1.0))
    api.route("POST", f"/fails/{run_id}/orders", Reply(201, json={"created": True}))
    llm.script(f"/fails/{run_id}", {"action": "fail_workflow", "reason": "cannot go on"})
    plan = {"tasks": [
        task("lookup", "api_call", get(f"{api.url}/fails/{run_id}")),
        task("order", "api_call", {"method": "POST", "url": f"{api.url}/fails/{run_id}/orders"}),
    ]}  # fmt: skip
    start(stack, run_id, plan)
    wait_for_task_status(stack, run_id, "order", "waiting_approval")

    result = stack.cli_json("result", run_id, "--wait")

    assert result["status"] == "failed", result["error"]
    order = tasks_by_id(result)["order"]
    assert order["status"] == "cancelled"
    assert order["reason"].startswith("task 'lookup' failed"), order["reason"]
    assert api.calls("POST", f"/fails/{run_id}/orders") == []


def test_rejected_risky_task_is_skipped_with_its_dependents(stack, run_id):
    (stack.workspace / f"{run_id}.txt").write_text("keep me")
    plan = {"tasks": [
        task("delete", "file_operation", {"operation": "delete", "path": f"{run_id}.txt"},
             critical=False),
        task("after", "wait", {"seconds": 0}, "delete", critical=False),
        task("other", "wait", {"seconds": 0}),
    ]}  # fmt: skip
    start(stack, run_id, plan)
    wait_for_task_status(stack, run_id, "delete", "waiting_approval")

    rejected = stack.cli("reject", run_id, "--task", "delete", "--reason", "keep it", "--by", "dan")

    assert rejected.returncode == 0, rejected.stderr
    result = stack.cli_json("result", run_id, "--wait")
    tasks = tasks_by_id(result)
    assert result["status"] == "completed"
    assert tasks["delete"]["status"] == "skipped"
    assert tasks["delete"]["reason"] == "approval rejected by dan: keep it"
    assert tasks["after"]["status"] == "skipped" and "delete" in tasks["after"]["reason"]
    assert tasks["other"]["status"] == "completed"
    assert (stack.workspace / f"{run_id}.txt").read_text() == "keep me"


def test_only_a_write_over_an_existing_file_waits(stack, run_id):
    (stack.workspace / f"{run_id}-old.txt").write_text("old")
    plan = {"tasks": [
        task("new", "file_operation",
             {"operation": "write", "path": f"{run_id}-new.txt", "content": "new"}),
        task("over", "file_operation",
             {"operation": "write", "path": f"{run_id}-old.txt", "content": "over"}),
    ]}  # fmt: skip
    start(stack, run_id, plan)

    state = wait_for_task_status(stack, run_id, "over", "waiting_approval")

    assert tasks_by_id(state)["over"]["risk"] == f"writes over the existing file {run_id}-old.txt"
    assert (stack.workspace / f"{run_id}-new.txt").read_text() == "new"
    assert (stack.workspace / f"{run_id}-old.txt").read_text() == "old"
    stack.cli("approve", run_id, "--task", "over")
    assert stack.cli_json("result", run_id, "--wait")["status"] == "completed"
    assert (stack.workspace / f"{run_id}-old.txt").read_text() == "over"


def test_approval_not_given_in_time_is_a_rejection(stack, api, run_id):
    plan = {"tasks": [task("post", "api_call", {"method": "POST", "url": f"{api.url}/late"})]}
    start(stack, run_id, plan, "--approval-timeout", "1")

    result = stack.cli_json("result", run_id, "--wait")

    post = tasks_by_id(result)["post"]
    assert post["status"] == "skipped"
    assert post["reason"] == "approval timed out: no approval within 1s"
    assert result["status"] == "failed", "post is critical: the goal was not reached"
    assert "critical tasks did not complete: post" in result["error"]
    assert api.calls("POST", "/late") == []


def test_plan_approval_timeout_rejects_the_run(stack, api, run_id):
    plan = {"tasks": [task("get", "api_call", get(f"{api.url}/never"))]}
    start(stack, run_id, plan, "--approval", "plan", "--approval-timeout", "1")

    finished = stack.cli("result", run_id, "--wait", "--json")

    result = json.loads(finished.stdout)
    assert result["status"] == "rejected"
    assert "timed out" in result["error"]


def test_approve_needs_a_task_when_tasks_wait(stack, api, run_id):
    plan = {"tasks": [task("post", "api_call", {"method": "POST", "url": f"{api.url}/p"})]}
    start(stack, run_id, plan)
    wait_for_task_status(stack, run_id, "post", "waiting_approval")

    refused = stack.cli("approve", run_id)
    unknown = stack.cli("approve", run_id, "--task", "ghost")

    assert refused.returncode == 1 and "tasks waiting: post (use --task)" in refused.stderr
    assert unknown.returncode == 1 and "has no task 'ghost'" in unknown.stderr
    stack.cli("cancel", run_id)


# ----- edit -------------------------------------------------------------------------------------


def test_edit_replaces_the_plan_before_approval(stack, api, run_id):
    api.route("GET", f"/edit/{run_id}/new", Reply(json={"new": True}))
    original = {"tasks": [task("old", "api_call", get(f"{api.url}/edit/{run_id}/old"))]}
    start(stack, run_id, original, "--approval", "plan")
    wait_until(lambda: state_of(stack, run_id)["phase"] == "awaiting_approval", 30, "approval")
    replacement = stack.write_plan(
        {"tasks": [task("new", "api_call", get(f"{api.url}/edit/{run_id}/new"))]}
    )

    edited = stack.cli("edit", run_id, "--plan", str(replacement))

    assert edited.returncode == 0, edited.stderr
    assert [t["task_id"] for t in state_of(stack, run_id)["tasks"]] == ["new"]
    stack.cli("approve", run_id)
    result = stack.cli_json("result", run_id, "--wait")
    assert result["status"] == "completed"
    assert tasks_by_id(result)["new"]["output"]["body"] == {"new": True}
    assert api.calls("GET", f"/edit/{run_id}/old") == []


def test_edit_is_refused_with_the_validation_errors(stack, api, run_id):
    original = {"tasks": [task("a", "api_call", get(f"{api.url}/edit-refused"))]}
    start(stack, run_id, original, "--approval", "plan")
    wait_until(lambda: state_of(stack, run_id)["phase"] == "awaiting_approval", 30, "approval")

    bad_config = stack.cli("edit", run_id, "--task", "a", "--config", '{"method": "GET"}')
    unknown = stack.cli("edit", run_id, "--task", "zz", "--config", '{"url": "http://x"}')

    assert bad_config.returncode == 1
    assert "edit refused" in bad_config.stderr and "action_config.url: Field required" in (
        bad_config.stderr
    )
    assert unknown.returncode == 1 and "no task 'zz'" in unknown.stderr
    assert state_of(stack, run_id)["plan"]["tasks"][0]["action_config"]["url"].endswith(
        "/edit-refused"
    )
    stack.cli("reject", run_id, "--reason", "test over")


def test_edit_a_waiting_task_then_approve_it(stack, api, run_id):
    api.route("PUT", f"/edit-task/{run_id}/right", Reply(json={"ok": True}))
    plan = {"tasks": [
        task("put", "api_call", {"method": "PUT", "url": f"{api.url}/edit-task/{run_id}/wrong"})
    ]}  # fmt: skip
    start(stack, run_id, plan)
    wait_for_task_status(stack, run_id, "put", "waiting_approval")
    new_config = {"method": "PUT", "url": f"{api.url}/edit-task/{run_id}/right"}

    edited = stack.cli("edit", run_id, "--task", "put", "--config", json.dumps(new_config),
                       "--by", "erin")  # fmt: skip
    waiting = tasks_by_id(stack.cli_json("status", run_id))["put"]
    assert waiting["risk"] == f"sends PUT {api.url}/edit-task/{run_id}/right", "as edited"
    stack.cli("approve", run_id, "--task", "put")

    assert edited.returncode == 0, edited.stderr
    result = stack.cli_json("result", run_id, "--wait")
    assert result["status"] == "completed"
    assert len(api.calls("PUT", f"/edit-task/{run_id}/right")) == 1
    assert api.calls("PUT", f"/edit-task/{run_id}/wrong") == []
    refused = stack.cli("edit", run_id, "--task", "put", "--config", json.dumps(new_config))
    assert refused.returncode == 1
    told = stack.cli("events", run_id).stdout
    assert "put's config edited by erin" in told, "who edited is in the run's events"


# ----- pause and resume -------------------------------------------------------------------------


def test_pause_holds_new_tasks_and_resume_lets_them_run(stack, api, run_id):
    api.route("GET", f"/pause/{run_id}/first", Reply(json={}, delay=4))
    api.route("GET", f"/pause/{run_id}/second", Reply(json={}))
    plan = {"tasks": [
        # A regular activity: a local read's workflow task would be discarded by the pause
        # arriving during it, and the read run again after the resume.
        task("first", "api_call", get(f"{api.url}/pause/{run_id}/first"), local=False),
        task("second", "api_call", get(f"{api.url}/pause/{run_id}/second"), "first"),
    ]}  # fmt: skip
    start(stack, run_id, plan)
    wait_until(lambda: api.calls("GET", f"/pause/{run_id}/first"), 30, "the first call")

    paused = stack.cli("pause", run_id, "--by", "erin")

    assert paused.returncode == 0, paused.stderr
    state = wait_for_task_status(stack, run_id, "first", "completed")
    assert state["paused"] is True and state["paused_by"] == "erin"
    assert tasks_by_id(state)["second"]["status"] == "pending"
    assert api.calls("GET", f"/pause/{run_id}/second") == []
    resumed_at = time.monotonic()
    assert stack.cli("resume", run_id).returncode == 0
    result = stack.cli_json("result", run_id, "--wait")
    assert result["status"] == "completed"
    assert api.calls("GET", f"/pause/{run_id}/second")[0].received_at > resumed_at


# ----- finding runs -----------------------------------------------------------------------------


def test_list_filters_by_status_and_goal_words(stack, api, llm, run_id):
    word = "zebra" + run_id[-6:]
    api.route("GET", "/list-filter/ok", Reply(json={}))
    api.route("GET", "/list-filter/bad", Reply(404))
    llm.script("/list-filter/bad", {"action": "fail_workflow", "reason": "gone"})
    ok = {"goal": f"count the {word} herd", "tasks": [
        task("a", "api_call", get(f"{api.url}/list-filter/ok"))]}  # fmt: skip
    bad = {"goal": f"feed the {word} herd", "tasks": [
        task("a", "api_call", get(f"{api.url}/list-filter/bad"))]}  # fmt: skip
    for suffix, plan in (("ok", ok), ("bad", bad)):
        stack.cli("start", "--plan", str(stack.write_plan(plan)), "--id", f"{run_id}-{suffix}",
                  "--wait")  # fmt: skip

    def listed(*filters):
        finished = stack.cli("list", "--json", "--limit", "50", *filters)
        return {json.loads(line)["workflow_id"] for line in finished.stdout.splitlines()}

    wait_until(lambda: {f"{run_id}-ok", f"{run_id}-bad"} <= listed("--goal", word), 30, "both")
    assert listed("--goal", word, "--status", "completed") == {f"{run_id}-ok"}
    assert listed("--goal", word, "--status", "failed") == {f"{run_id}-bad"}
    list_filter = f"AgentStatus = 'failed' AND AgentGoal = '{word}' AND ExecutionStatus = 'Failed'"
    assert listed("--query", list_filter) == {f"{run_id}-bad"}, "--query is a List Filter"
    bad_status = stack.cli("list", "--status", "weird")
    assert bad_status.returncode == 2
    assert bad_status.stderr.startswith("error: Invalid value for '--status': 'weird' is not one")
    assert len(bad_status.stderr.splitlines()) == 1
    bad_filter = stack.cli("list", "--query", "AgentStatus = ")
    assert bad_filter.returncode == 1 and len(bad_filter.stderr.splitlines()) == 1


async def test_approval_wait_survives_the_worker_being_down(stack, api, client, run_id):
    queue_env = {"TASK_QUEUE": f"approval-{run_id[-6:]}"}
    worker = stack.start_worker(queue_env)
    api.route("DELETE", f"/durable/{run_id}", Reply(json={"deleted": True}))
    drop = {"method": "DELETE", "url": f"{api.url}/durable/{run_id}"}
    plan = {"tasks": [task("drop", "api_call", drop)]}
    stack.cli("start", "--plan", str(stack.write_plan(plan)), "--id", run_id, env=queue_env)

    def waiting():
        state = stack.cli_json("status", run_id, env=queue_env)
        return tasks_by_id(state)["drop"]["status"] == "waiting_approval"

    wait_until(waiting, 30, "the task to wait for approval", interval=0.3)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    # No worker at all: the approval is recorded by the server and waits in the history.
    handle = client.get_workflow_handle(run_id)
    await handle.signal("approve", ApprovalSignal(task="drop", by="frank"))
    stack.start_worker(queue_env)

    result = stack.cli_json("result", run_id, "--wait", env=queue_env)
    assert result["status"] == "completed"
    assert tasks_by_id(result)["drop"]["approved_by"] == "frank"
    assert len(api.calls("DELETE", f"/durable/{run_id}")) == 1


def test_a_task_waiting_for_approval_holds_no_slot(stack, api, run_id):
    api.route("GET", f"/slots/{run_id}", Reply(json={"safe": True}))
    plan = {"tasks": [
        task("risky", "api_call", {"method": "POST", "url": f"{api.url}/slots/{run_id}"},
             critical=False),
        task("safe", "api_call", get(f"{api.url}/slots/{run_id}")),
    ]}  # fmt: skip
    start(stack, run_id, plan, "--max-parallel", "1")

    state = wait_for_task_status(stack, run_id, "safe", "completed")

    assert tasks_by_id(state)["risky"]["status"] == "waiting_approval"
    stack.cli("reject", run_id, "--task", "risky", "--reason", "not today")
    assert stack.cli_json("result", run_id, "--wait")["status"] == "completed"


def test_a_refused_path_fails_the_task_in_risky_mode_too(stack, run_id):
    """The overwrite check of a path that leads out fails the task (the path comes from an
    output: spelled out in the plan, it is refused before the run starts)."""
    plan = {"tasks": [
        task("where", "data_transform", {"input": "../outside.txt", "expression": "@"}),
        task("escape", "file_operation",
             {"operation": "write", "path": "{{ tasks.where.output }}", "content": "x"}, "where"),
    ]}  # fmt: skip

    result = stack.run_plan(plan, run_id)

    escape = tasks_by_id(result)["escape"]
    assert result["status"] == "failed"
    assert escape["status"] == "failed"
    assert escape["error"]["error_type"] == "PathOutsideWorkspace"
