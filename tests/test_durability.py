"""A run survives its worker being killed, and never repeats a finished step."""

from __future__ import annotations

import json
import signal
import uuid

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
            task("slow", "api_call", get(f"{api.url}/crash/{run_id}/slow"), "first"),
            task("pause", "wait", {"seconds": 1}, "slow"),
        ]
    }
    started = stack.cli(
        "start", "--plan", str(stack.write_plan(plan)), "--id", run_id, env=queue_env
    )
    assert started.returncode == 0, started.stderr
    wait_until(lambda: api.calls("GET", f"/crash/{run_id}/slow"), 30, "the slow call")

    first_worker.send_signal(signal.SIGKILL)
    first_worker.wait()
    stack.start_worker(queue_env)

    result = stack.cli_json("result", run_id, "--wait", timeout=120)
    tasks = tasks_by_id(result)
    assert result["status"] == "completed"
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
