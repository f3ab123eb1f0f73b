"""A run survives its worker being killed, and never repeats a finished step."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import uuid
from collections import Counter
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from tests.conftest import wait_until
from tests.fakes.api_server import Reply
from tests.helpers import get, task, tasks_by_id


def test_run_survives_a_killed_worker(stack, api, run_id, tmp_path):
    queue_env = {"TASK_QUEUE": f"crash-{uuid.uuid4().hex[:8]}"}
    first_worker = stack.start_worker(queue_env)
    api.route("GET", f"/crash/{run_id}/first", Reply(json={"step": 1}))
    api.route("GET", f"/crash/{run_id}/slow", Reply(json={"step": 2}, delay=3))
    plan = {
        "tasks": [
            task("first", "api_call", get(f"{api.url}/crash/{run_id}/first")),
            # A regular activity, heartbeating: a local read in flight is
            # test_local_reads.py's.
            task("slow", "api_call", get(f"{api.url}/crash/{run_id}/slow"), "first", local=False),
            task("pause", "wait", {"seconds": 1}, "slow"),
        ]
    }
    started = stack.cli(
        "start", "--plan", str(stack.write_plan(plan)), "--id", run_id, env=queue_env
    )
    assert started.returncode == 0, started.stderr
    wait_until(lambda: api.calls("GET", f"/crash/{run_id}/slow"), 30, "the slow call")

    told = stack.cli("events", run_id, "--json", env=queue_env).stdout.splitlines()
    first_worker.send_signal(signal.SIGKILL)
    first_worker.wait()
    stack.start_worker(queue_env)

    result = stack.cli_json("result", run_id, "--wait", timeout=120)
    rest = stack.cli("events", run_id, "--json", "--follow", "--from", str(len(told)),
                     env=queue_env).stdout.splitlines()  # fmt: skip
    tasks = tasks_by_id(result)
    assert result["status"] == "completed"
    # The event stream went on from where the reader stopped: the new worker's replay
    # rebuilt the same events, so none is lost or told twice.
    events = [json.loads(line) for line in told + rest]
    assert [event["offset"] for event in events] == list(range(len(events)))
    completed = [event["task"] for event in events if event["kind"] == "task_completed"]
    assert completed == ["first", "slow", "pause"]
    assert events[-1]["kind"] == "run_ended"
    assert len(api.calls("GET", f"/crash/{run_id}/first")) == 1, "a finished step never repeats"
    assert len(api.calls("GET", f"/crash/{run_id}/slow")) == 2, "the interrupted call is retried"
    assert tasks["slow"]["attempts"] == 2
    assert tasks["pause"]["status"] == "completed"
    # The retried call took the run off the dead worker's sticky queue, so the workflow task
    # after it went straight to the new worker instead of timing out there first.
    saved = tmp_path / "history.json"
    assert stack.cli("history", run_id, "--out", str(saved)).returncode == 0
    events = [event["eventType"] for event in json.loads(saved.read_text())["events"]]
    assert "EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT" not in events


def test_a_killed_worker_loses_no_item_of_a_large_for_each(stack, api, run_id):
    """SIGKILL in the middle of a 600-item for-each (past its archive's 200 items and its
    continue-as-new at 500): every item completes, and only the calls in flight at the kill
    (at most max_parallel) are made again."""
    count, max_parallel = 600, 32
    queue_env = {"TASK_QUEUE": f"crash-map-{uuid.uuid4().hex[:8]}"}
    first_worker = stack.start_worker(queue_env)
    api.route("GET", f"/map/{run_id}", Reply(json={"ok": True}, delay=0.005))
    # Regular activities: a kill repeats only those in flight (local reads would repeat
    # every read of the workflow task in flight).
    each = task("each", "api_call", get(f"{api.url}/map/{run_id}", params={"i": "{{ index }}"}),
                for_each=list(range(count)), local=False)  # fmt: skip
    started = stack.cli("start", "--plan", str(stack.write_plan({"tasks": [each]})), "--id",
                        run_id, "--approval", "none", "--max-parallel", str(max_parallel),
                        "--max-parallel-per-host", str(max_parallel), env=queue_env)  # fmt: skip
    assert started.returncode == 0, started.stderr
    wait_until(lambda: len(api.calls("GET", f"/map/{run_id}")) >= count // 3, 60, "a third")

    first_worker.send_signal(signal.SIGKILL)
    first_worker.wait()
    stack.start_worker(queue_env)

    result = stack.cli_json("result", run_id, "--wait", timeout=180)
    assert result["status"] == "completed", result["error"]
    done = tasks_by_id(result)["each"]
    assert done["items"] == {"completed": count}
    calls = Counter(int(call.query["i"][0]) for call in api.calls("GET", f"/map/{run_id}"))
    assert set(calls) == set(range(count)), "no item is lost"
    repeated = [index for index, times in calls.items() if times > 1]
    assert len(repeated) <= max_parallel, f"only calls in flight are made again: {repeated}"


async def test_a_worker_killed_during_streaming_dispatch_loses_nothing(
    stack, llm, api, client, run_id
):
    """SIGKILL while the planner's reply is still streaming and its first task already ran:
    the planning call is retried on the next worker and hands over every task again; the run
    keeps the one that ran and never calls it again."""
    queue_env = {"TASK_QUEUE": f"crash-stream-{uuid.uuid4().hex[:8]}"}
    first_worker = stack.start_worker(queue_env)
    base = f"{api.url}/{run_id}"
    api.route("GET", f"/{run_id}/users", Reply(json=[{"id": 1}, {"id": 2}]))
    api.route("GET", f"/{run_id}/teams", Reply(json=["core"]))
    goal = f"users and teams, through a crash ({run_id})"
    plan = {
        "goal": goal,
        "tasks": [
            task("users", "api_call", get(f"{base}/users")),
            task("teams", "api_call", get(f"{base}/teams")),
            task("count", "data_transform",
                 {"input": "{{ tasks.users.output.body }}", "expression": "length(@)"}, "users"),
        ],
    }  # fmt: skip
    rest = threading.Event()  # never set before the kill: the first stream stays unfinished
    llm.script(goal, llm.streamed(plan, 1.0, first_at=0.2, hold=rest), plan)
    llm.script(f"Join the run of: {goal}", {"action": "answer", "answer": "2 users, 1 team"})
    started = stack.cli("start", "--goal", goal, "--id", run_id, "--approval", "none",
                        env=queue_env)  # fmt: skip
    assert started.returncode == 0, started.stderr
    wait_until(lambda: task_status(stack, run_id, "users", queue_env) == "completed", 30,
               "the first streamed task to complete")  # fmt: skip
    [planning] = planning_requests(llm, goal)

    kill(first_worker)
    wait_until(lambda: planning in llm.abandoned, 10, "the dead worker's stream to be cut")
    second_worker = stack.start_worker(queue_env)
    try:
        result = stack.cli_json("result", run_id, "--wait", timeout=120, env=queue_env)
    finally:
        rest.set()

    assert result["status"] == "completed", result["error"]
    assert len(planning_requests(llm, goal)) == 2, "the planning call was retried once"
    assert len(api.calls("GET", f"/{run_id}/users")) == 1, "a finished task never repeats"
    assert len(api.calls("GET", f"/{run_id}/teams")) == 1
    tasks = tasks_by_id(result)
    assert {t: tasks[t]["status"] for t in tasks} == dict.fromkeys(
        ["users", "teams", "count"], "completed"
    )
    assert tasks["users"]["attempts"] == 1
    assert tasks["count"]["output"] == 2
    assert result["streamed_tasks"] == ["users", "teams", "count"]
    [drafted] = worker_log_events(stack, run_id, "plan_drafted")  # the dead attempt logged none
    assert drafted["attempt"] == 2
    assert drafted["streamed"] == ["users", "teams", "count"]  # "users" handed over again
    assert result["answer"] == "2 users, 1 team"
    [planned] = await started_attempts(client, run_id, "plan_goal_streamed")
    assert planned.attempt == 2
    assert planned.identity.startswith(f"{second_worker.pid}@"), planned.identity


async def test_a_worker_killed_during_a_replan_loses_nothing(stack, llm, api, client, run_id):
    """SIGKILL while the joiner is asked again, after its replan ran: the next worker replays
    the applied patch and its task, asks the joiner once more, and repeats no call."""
    queue_env = {"TASK_QUEUE": f"crash-replan-{uuid.uuid4().hex[:8]}"}
    first_worker = stack.start_worker(queue_env)
    base = f"{api.url}/{run_id}"
    api.route("GET", f"/{run_id}/jobs", Reply(json=[{"id": "j1", "state": "failed"}]))
    api.route("POST", f"/{run_id}/jobs/j1/restart", Reply(json={"restarted": "j1"}))
    goal = f"restart the failed jobs, through a crash ({run_id})"
    llm.script(goal, {"goal": goal, "tasks": [task("jobs", "api_call", get(f"{base}/jobs"))]})
    restart = task("restart", "api_call", {"method": "POST", "url": f"{base}/jobs/j1/restart"},
                   "jobs")  # fmt: skip
    replan = {"action": "replan", "reason": "j1 failed", "add": [restart], "remove": []}
    answer = {"action": "answer", "answer": "restarted j1"}
    # The second answer is never sent to the first worker: it dies while waiting for it.
    llm.script(join(goal), replan, llm.slow(60, answer), answer)
    started = stack.cli("start", "--goal", goal, "--id", run_id, "--approval", "none",
                        env=queue_env)  # fmt: skip
    assert started.returncode == 0, started.stderr
    wait_until(lambda: len(llm.requests_matching(join(goal))) == 2, 30, "the second join")
    second_join = llm.requests_matching(join(goal))[1]
    assert len(api.calls("POST", f"/{run_id}/jobs/j1/restart")) == 1  # the patch's task ran

    kill(first_worker)
    wait_until(lambda: second_join in llm.abandoned, 10, "the dead worker's join to be cut")
    second_worker = stack.start_worker(queue_env)
    result = stack.cli_json("result", run_id, "--wait", timeout=120, env=queue_env)

    assert result["status"] == "completed", result["error"]
    assert result["answer"] == "restarted j1"
    assert len(api.calls("GET", f"/{run_id}/jobs")) == 1, "no call is repeated"
    assert len(api.calls("POST", f"/{run_id}/jobs/j1/restart")) == 1, "no call is repeated"
    tasks = tasks_by_id(result)
    assert [(t, tasks[t]["status"], tasks[t]["attempts"]) for t in tasks] == [
        ("jobs", "completed", 1),
        ("restart", "completed", 1),
    ]
    [record] = result["replans"]
    assert (record["source"], record["status"], record["added"]) == ("joiner", "applied",
                                                                      ["restart"])  # fmt: skip
    joins = llm.requests_matching(join(goal))
    assert len(joins) == 3, "the interrupted join is asked once more, nothing else"
    assert "restarted" in json.dumps(joins[2])  # the retried join saw the patch's output
    first_join, last_join = await started_attempts(client, run_id, "join")
    assert first_join.attempt == 1 and last_join.attempt == 2
    assert last_join.identity.startswith(f"{second_worker.pid}@"), last_join.identity


def join(goal: str) -> str:
    """What the joiner's request for `goal` contains (see agents/joiner.py)."""
    return f"Join the run of: {goal}"


def planning_requests(llm: Any, goal: str) -> list[dict]:
    """The planner's requests for `goal` (streamed: the joiner's are not)."""
    return [body for body in llm.requests_matching(f"Goal: {goal}") if body.get("stream")]


def task_status(stack: Any, run_id: str, task_id: str, env: dict[str, str]) -> str | None:
    """A task's status as `status --json` shows it (None before the task is known)."""
    return tasks_by_id(stack.cli_json("status", run_id, env=env)).get(task_id, {}).get("status")


def worker_log_events(stack: Any, workflow_id: str, event: str) -> list[dict[str, Any]]:
    """The workers' JSON log lines `event` about the run, in order."""
    lines = [json.loads(line) for line in stack.worker_log.read_text().splitlines()
             if line.startswith("{") and workflow_id in line]  # fmt: skip
    return [line for line in lines if line.get("event") == event]


async def started_attempts(client: Client, workflow_id: str, activity_type: str) -> list[Any]:
    """The ActivityTaskStarted attributes (attempt, identity of the worker) of each
    `activity_type` activity of the run, in order: the history keeps each one's last attempt."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled: dict[int, str] = {}
    started = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attributes = event.activity_task_started_event_attributes
            if scheduled[attributes.scheduled_event_id] == activity_type:
                started.append(attributes)
    return started


def kill(worker: subprocess.Popen[Any]) -> None:
    """SIGKILL a worker process: no graceful shutdown, its connections just close."""
    worker.send_signal(signal.SIGKILL)
    worker.wait()
