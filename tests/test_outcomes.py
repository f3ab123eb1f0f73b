"""A run ends as Temporal reports it (the Web UI, `temporal workflow describe/list`), and the
CLI still gives the full typed result of every outcome."""

from __future__ import annotations

import json
import subprocess

from agentic.devstack import temporal_cli
from tests.conftest import wait_until
from tests.fakes.api_server import Reply
from tests.helpers import get, task, tasks_by_id


def temporal(stack, *args: str) -> dict | list:
    """`temporal ARGS --address ... -o json`, parsed."""
    finished = subprocess.run(
        [temporal_cli(), *args, "--address", stack.address, "--namespace", "default", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(finished.stdout)


def described_status(stack, run_id: str) -> str:
    description = temporal(stack, "workflow", "describe", "--workflow-id", run_id)
    return description["workflowExecutionInfo"]["status"]


def listed_ids(stack, list_filter: str) -> list[str]:
    listed = temporal(stack, "workflow", "list", "--query", list_filter)
    return [row["execution"]["workflowId"] for row in listed]


def test_a_failed_run_is_a_failed_execution_carrying_its_result(stack, api, run_id):
    api.route("GET", f"/outcome/{run_id}", Reply(404, json={"error": "gone"}))
    plan = {"tasks": [task("gone", "api_call", get(f"{api.url}/outcome/{run_id}"))]}

    finished = stack.cli("start", "--plan", str(stack.write_plan(plan)), "--id", run_id,
                         "--wait", "--json")  # fmt: skip

    assert finished.returncode == 1, finished.stderr
    assert finished.stdout, finished.stderr
    result = json.loads(finished.stdout)
    assert result["status"] == "failed" and "gone" in result["error"]
    assert tasks_by_id(result)["gone"]["error"]["error_type"] == "HttpClientError"
    assert described_status(stack, run_id) == "WORKFLOW_EXECUTION_STATUS_FAILED"
    history = temporal(stack, "workflow", "show", "--workflow-id", run_id)
    failure = history["events"][-1]["workflowExecutionFailedEventAttributes"]["failure"]
    assert failure["applicationFailureInfo"]["type"] == "RunFailed"
    assert failure["applicationFailureInfo"]["nonRetryable"] is True
    assert "gone" in failure["message"]
    assert not failure.get("stackTrace"), "an outcome is not a crash: no Python stack trace"
    failed_runs = f"ExecutionStatus = 'Failed' AND WorkflowId = '{run_id}'"
    assert wait_until(lambda: listed_ids(stack, failed_runs), 30, "the run in the list") == [run_id]
    shown = stack.cli("result", run_id)
    assert shown.returncode == 1 and f"run {run_id}: failed" in shown.stdout


def test_a_completed_run_is_a_completed_execution(stack, api, run_id):
    api.route("GET", f"/outcome/{run_id}", Reply(json={"ok": True}))
    plan = {"tasks": [task("fine", "api_call", get(f"{api.url}/outcome/{run_id}"))]}

    result = stack.run_plan(plan, run_id)

    assert result["status"] == "completed"
    assert described_status(stack, run_id) == "WORKFLOW_EXECUTION_STATUS_COMPLETED"


def test_a_rejected_run_is_failed_as_run_rejected(stack, api, run_id):
    plan = {"tasks": [task("never", "api_call", get(f"{api.url}/outcome/{run_id}"))]}
    started = stack.cli("start", "--plan", str(stack.write_plan(plan)), "--approval", "plan",
                        "--id", run_id)  # fmt: skip
    assert started.returncode == 0, started.stderr
    wait_until(
        lambda: stack.cli("reject", run_id, "--reason", "not today").returncode == 0,
        30,
        "the plan to wait for approval",
        interval=0.3,
    )

    finished = stack.cli("result", run_id, "--wait", "--json")

    assert finished.returncode == 1
    assert json.loads(finished.stdout)["status"] == "rejected"
    assert described_status(stack, run_id) == "WORKFLOW_EXECUTION_STATUS_FAILED"
    history = temporal(stack, "workflow", "show", "--workflow-id", run_id)
    failure = history["events"][-1]["workflowExecutionFailedEventAttributes"]["failure"]
    assert failure["applicationFailureInfo"]["type"] == "RunRejected"
    assert "not today" in failure["message"]


def test_cancel_ends_the_execution_as_canceled_and_the_result_stays(stack, api, run_id):
    api.route("GET", f"/outcome/{run_id}", Reply(json={}, delay=30))
    plan = {"tasks": [task("slow", "api_call", get(f"{api.url}/outcome/{run_id}"))]}
    stack.cli("start", "--plan", str(stack.write_plan(plan)), "--id", run_id)
    wait_until(lambda: api.calls("GET", f"/outcome/{run_id}"), 30, "the slow call")

    cancelled = stack.cli("cancel", run_id, "--reason", "wrong day", "--by", "carol")

    assert cancelled.returncode == 0, cancelled.stderr
    finished = stack.cli("result", run_id, "--wait", "--json")
    assert finished.returncode == 1
    result = json.loads(finished.stdout)
    assert result["status"] == "cancelled"
    assert "wrong day" in result["error"] and "carol" in result["error"]
    assert tasks_by_id(result)["slow"]["status"] == "cancelled"
    assert described_status(stack, run_id) == "WORKFLOW_EXECUTION_STATUS_CANCELED"
    again = stack.cli("cancel", run_id)
    assert again.returncode == 1 and "has already ended (canceled)" in again.stderr


async def test_the_cancel_signal_of_other_clients_ends_as_run_cancelled(stack, api, client, run_id):
    api.route("GET", f"/outcome/{run_id}", Reply(json={}, delay=30))
    plan = {"tasks": [task("slow", "api_call", get(f"{api.url}/outcome/{run_id}"))]}
    stack.cli("start", "--plan", str(stack.write_plan(plan)), "--id", run_id)
    wait_until(lambda: api.calls("GET", f"/outcome/{run_id}"), 30, "the slow call")

    await client.get_workflow_handle(run_id).signal("cancel", {"by": "bot", "reason": "done"})

    result = stack.cli_json("result", run_id, "--wait")
    assert result["status"] == "cancelled" and "bot" in result["error"]
    history = temporal(stack, "workflow", "show", "--workflow-id", run_id)
    failure = history["events"][-1]["workflowExecutionFailedEventAttributes"]["failure"]
    assert failure["applicationFailureInfo"]["type"] == "RunCancelled"


def test_terminate_stops_now_and_records_why(stack, api, run_id):
    api.route("GET", f"/outcome/{run_id}", Reply(json={}, delay=30))
    plan = {"tasks": [task("slow", "api_call", get(f"{api.url}/outcome/{run_id}"))]}
    stack.cli("start", "--plan", str(stack.write_plan(plan)), "--id", run_id)
    wait_until(lambda: api.calls("GET", f"/outcome/{run_id}"), 30, "the slow call")

    assert stack.cli("terminate", run_id).returncode == 1, "a reason is required"
    terminated = stack.cli("terminate", run_id, "--reason", "runaway", "--by", "dan")

    assert terminated.returncode == 0, terminated.stderr
    assert described_status(stack, run_id) == "WORKFLOW_EXECUTION_STATUS_TERMINATED"
    history = temporal(stack, "workflow", "show", "--workflow-id", run_id)
    ended = history["events"][-1]["workflowExecutionTerminatedEventAttributes"]
    assert ended["reason"] == "runaway (by dan)"
    shown = stack.cli("result", run_id)
    assert shown.returncode == 1 and "terminated" in shown.stderr

    def listed_status():
        listed = stack.cli("list", "--json", "--limit", "50").stdout.splitlines()
        rows = {row["workflow_id"]: row for row in map(json.loads, listed)}
        return run_id in rows and rows[run_id]["status"]

    assert wait_until(listed_status, 30, "the run in the list") == "terminated"
