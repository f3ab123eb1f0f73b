"""A run survives its worker being killed, and never repeats a finished step."""

from __future__ import annotations

import json
import signal
import uuid
from collections import Counter

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


def test_a_killed_worker_loses_no_item_of_a_large_for_each(stack, api, run_id):
    """SIGKILL in the middle of a 1,000-item for-each: every item completes, and only the
    calls in flight at the kill (at most max_parallel) are made again."""
    count, max_parallel = 1000, 32
    queue_env = {"TASK_QUEUE": f"crash-map-{uuid.uuid4().hex[:8]}"}
    first_worker = stack.start_worker(queue_env)
    api.route("GET", f"/map/{run_id}", Reply(json={"ok": True}, delay=0.005))
    each = task("each", "api_call", get(f"{api.url}/map/{run_id}", params={"i": "{{ index }}"}),
                for_each=list(range(count)))  # fmt: skip
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
