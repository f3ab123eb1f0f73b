"""The CLI's signals (approve, reject, cancel), its queries, and its error lines."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from agentic.devstack import free_port, port_open, stop_process
from tests.conftest import REPO, wait_until
from tests.fakes.api_server import Reply
from tests.helpers import event_types, get, task, tasks_by_id


def run_state(stack, run_id):
    """The run's state through `status --json`."""
    return stack.cli_json("status", run_id)


def wait_for_phase(stack, run_id, phase):
    """Poll `status` until the run reaches `phase`."""
    return wait_until(
        lambda: (state := run_state(stack, run_id))["phase"] == phase and state,
        30,
        f"phase {phase}",
        interval=0.3,
    )


def start_for_approval(stack, api, run_id):
    api.route("GET", f"/approval/{run_id}", Reply(json={"ok": True}))
    plan = {
        "goal": "needs approval",
        "tasks": [task("call", "api_call", get(f"{api.url}/approval/{run_id}"))],
    }
    started = stack.cli(
        "start", "--plan", str(stack.write_plan(plan)), "--approval", "plan", "--id", run_id
    )
    assert started.returncode == 0, started.stderr
    assert run_id in started.stdout and "/workflows/" + run_id in started.stdout
    return wait_for_phase(stack, run_id, "awaiting_approval")


def test_approve_lets_the_plan_run(stack, api, run_id):
    state = start_for_approval(stack, api, run_id)
    assert tasks_by_id(state)["call"]["status"] == "pending"

    approved = stack.cli("approve", run_id, "--by", "alice")

    assert approved.returncode == 0, approved.stderr
    result = stack.cli_json("result", run_id, "--wait")
    assert result["status"] == "completed"


def test_reject_ends_the_run_as_rejected(stack, api, run_id):
    start_for_approval(stack, api, run_id)

    rejected = stack.cli("reject", run_id, "--reason", "too risky", "--by", "bob")

    assert rejected.returncode == 0, rejected.stderr
    finished = stack.cli("result", run_id, "--wait", "--json")
    result = json.loads(finished.stdout)
    assert finished.returncode == 1
    assert result["status"] == "rejected"
    assert "too risky" in result["error"] and "bob" in result["error"]
    assert tasks_by_id(result)["call"]["status"] == "skipped"
    assert api.calls("GET", f"/approval/{run_id}") == [], "a rejected plan runs nothing"


def test_reject_needs_a_reason(stack, api, run_id):
    start_for_approval(stack, api, run_id)

    refused = stack.cli("reject", run_id)

    assert refused.returncode != 0
    assert refused.stderr.strip() == "error: give a reason: --reason TEXT"
    stack.cli("cancel", run_id)


def test_approve_when_not_waiting_is_refused(stack, api, run_id):
    api.route("GET", "/approval/now", Reply(json={}))
    plan = {"tasks": [task("call", "api_call", get(f"{api.url}/approval/now"))]}
    stack.cli("start", "--plan", str(stack.write_plan(plan)), "--wait", "--id", run_id)

    refused = stack.cli("approve", run_id)

    assert refused.returncode == 1
    assert "has already ended (completed)" in refused.stderr


async def test_cancel_stops_running_and_records_tasks_that_never_ran(stack, api, client, run_id):
    api.route("GET", "/cancel/slow", Reply(json={}, delay=30))
    plan = {
        "tasks": [
            task("slow", "api_call", get(f"{api.url}/cancel/slow"), local=False),
            task("next", "api_call", get(f"{api.url}/cancel/slow"), "slow"),
        ]
    }
    stack.cli("start", "--plan", str(stack.write_plan(plan)), "--id", run_id)
    wait_until(lambda: api.calls("GET", "/cancel/slow"), 30, "the slow call to start")

    cancelled = stack.cli("cancel", run_id, "--reason", "changed my mind")

    assert cancelled.returncode == 0, cancelled.stderr
    result = stack.cli_json("result", run_id, "--wait")
    tasks = tasks_by_id(result)
    assert result["status"] == "cancelled"
    assert tasks["slow"]["status"] == "cancelled"
    assert tasks["next"]["status"] == "cancelled"
    assert tasks["next"]["reason"].startswith("never ran")
    assert "changed my mind" in tasks["next"]["reason"]
    events = await event_types(client, run_id)
    assert "EVENT_TYPE_ACTIVITY_TASK_CANCELED" in events, "the running activity was cancelled"


def test_status_shows_tasks_and_link(stack, api, run_id):
    api.route("GET", "/status/ok", Reply(json={"value": 42}))
    plan = {"tasks": [task("call", "api_call", get(f"{api.url}/status/ok"))]}
    stack.cli("start", "--plan", str(stack.write_plan(plan)), "--wait", "--id", run_id)

    shown = stack.cli("status", run_id)

    assert shown.returncode == 0, shown.stderr
    assert "finished, completed" in shown.stdout
    assert "call" in shown.stdout and "api_call" in shown.stdout
    assert f"/namespaces/default/workflows/{run_id}" in shown.stdout


def test_list_shows_recent_runs(stack, api, run_id):
    api.route("GET", "/list/ok", Reply(json={}))
    plan = {"tasks": [task("call", "api_call", get(f"{api.url}/list/ok"))]}
    stack.cli("start", "--plan", str(stack.write_plan(plan)), "--wait", "--id", run_id)

    def listed():
        finished = stack.cli("list", "--json", "--limit", "100")
        rows = [json.loads(line) for line in finished.stdout.splitlines()]
        return [row for row in rows if row["workflow_id"] == run_id]

    [row] = wait_until(listed, 30, "the run in the visibility store", interval=0.5)
    assert row["status"] == "completed"


# ----- error lines ----------------------------------------------------------------------------


def assert_one_error_line(finished, *fragments):
    assert finished.returncode != 0
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1, finished.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in finished.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_unreachable_server_is_one_line(stack, tmp_path):
    plan = stack.write_plan({"tasks": [task("p", "wait", {"seconds": 0})]})

    finished = stack.cli("start", "--plan", str(plan), env={"TEMPORAL_ADDRESS": "127.0.0.1:1"})

    assert_one_error_line(finished, "cannot reach the Temporal server at 127.0.0.1:1")


def test_unknown_run_id_is_one_line(stack):
    for command in (
        ["status", "no-such-run"],
        ["approve", "no-such-run"],
        ["cancel", "no-such-run"],
        ["result", "no-such-run"],
    ):
        assert_one_error_line(stack.cli(*command), "no run with id 'no-such-run'")


def test_malformed_plan_file_is_one_line(stack, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"tasks": [')
    assert_one_error_line(stack.cli("start", "--plan", str(broken)), "is not valid JSON")

    cyclic = stack.write_plan(
        {
            "tasks": [
                task("a", "wait", {"seconds": 1}, "b"),
                task("b", "wait", {"seconds": 1}, "a"),
            ]
        }
    )
    assert_one_error_line(stack.cli("start", "--plan", str(cyclic)), "dependency cycle")

    missing = tmp_path / "missing.json"
    assert_one_error_line(stack.cli("start", "--plan", str(missing)), "cannot read plan file")


def test_goal_without_llm_says_how_to_configure_one(stack):
    no_llm = {"OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}

    finished = stack.cli("start", "--goal", "do something", env=no_llm)

    assert_one_error_line(finished, "OPENAI_API_KEY", "OPENAI_BASE_URL", "--plan")


def test_goal_and_plan_together_are_refused(stack):
    plan = stack.write_plan({"tasks": [task("p", "wait", {"seconds": 0})]})

    finished = stack.cli("start", "--goal", "x", "--plan", str(plan))

    assert_one_error_line(finished, "exactly one of --goal")


async def test_cancel_from_temporal_itself_ends_the_run_as_cancelled(stack, api, client, run_id):
    api.route("GET", f"/native-cancel/{run_id}", Reply(json={}, delay=30))
    plan = {"tasks": [task("slow", "api_call", get(f"{api.url}/native-cancel/{run_id}"))]}
    stack.cli("start", "--plan", str(stack.write_plan(plan)), "--id", run_id)
    wait_until(lambda: api.calls("GET", f"/native-cancel/{run_id}"), 30, "the slow call")

    await client.get_workflow_handle(run_id).cancel()

    result = stack.cli_json("result", run_id, "--wait")
    assert result["status"] == "cancelled"
    assert tasks_by_id(result)["slow"]["status"] == "cancelled"
    assert "the workflow was cancelled" in tasks_by_id(result)["slow"]["reason"]


def test_bad_options_and_settings_are_one_line(stack):
    plan = stack.write_plan({"tasks": [task("p", "wait", {"seconds": 0})]})
    assert_one_error_line(
        stack.cli("start", "--plan", str(plan), "--approval-timeout", "inf"),
        "invalid run option: approval_timeout_seconds",
    )
    assert_one_error_line(
        stack.cli("list", env={"DB_ROW_LIMIT": "many"}), "invalid setting: db_row_limit"
    )
    assert_one_error_line(
        stack.cli("validate", str(plan), env={"LLM_TIMEOUT_SECONDS": "abc"}),
        "invalid setting: llm_timeout_seconds",
    )
    assert_one_error_line(stack.cli("--address", "myhost", "server"), "'myhost' is not host:port")
    assert_one_error_line(
        stack.cli("example", "data_pipeline", "-o", "min_age=abc"),
        "example data_pipeline: option min_age: Input should be a valid integer",
    )


def test_a_second_run_with_the_same_id_is_refused(stack, run_id):
    plan = str(stack.write_plan({"tasks": [task("p", "wait", {"seconds": 0})]}))
    stack.cli("start", "--plan", plan, "--id", run_id, "--approval", "plan")

    again = stack.cli("start", "--plan", plan, "--id", run_id)

    assert_one_error_line(again, f"a run with id '{run_id}' is still going")
    stack.cli("cancel", run_id)


def test_server_finds_the_temporal_cli_next_to_python_without_path(stack):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "cli.py", "server", "--port", str(port), "--headless", "--in-memory"],
        cwd=REPO, env={**stack.env, "PATH": "/nonexistent"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_until(lambda: port_open("127.0.0.1", port) or server.poll() is not None, 30, "it")
        assert server.poll() is None, server.stdout.read() if server.stdout else ""
    finally:
        stop_process(server)


def test_a_server_on_a_file_keeps_a_write_ahead_log(stack, tmp_path):
    """As LangGraph's SQLite checkpointer does (Temporal's default is a rollback journal)."""
    port, database = free_port(), tmp_path / "temporal.db"
    server = subprocess.Popen(
        [sys.executable, "cli.py", "server", "--port", str(port), "--headless",
         "--db-filename", str(database)],
        cwd=REPO, env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_until(lambda: port_open("127.0.0.1", port) or server.poll() is not None, 30, "it")
        assert server.poll() is None, server.stdout.read() if server.stdout else ""
        with sqlite3.connect(database) as reader:
            assert reader.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        stop_process(server)


def test_json_output_stays_json_when_temporal_warns_of_a_large_payload(stack, run_id):
    # Ten 60 KB outputs make a result over the 512 KB at which Temporal's core warns.
    plan = {"tasks": [task(f"t{n}", "data_transform", {"input": "x" * 60_000, "expression": "@"})
                      for n in range(10)]}  # fmt: skip

    finished = stack.cli("start", "--plan", str(stack.write_plan(plan)), "--approval", "none",
                         "--wait", "--json", "--id", run_id)  # fmt: skip

    assert json.loads(finished.stdout)["status"] == "completed", finished.stderr[-2000:]
