"""What operators see: JSON logs with the run and task bound, Prometheus metrics from the worker."""

from __future__ import annotations

import io
import json

import httpx

from agentic.devstack import free_port
from agentic.logging import rendered_format
from tests.conftest import wait_until
from tests.fakes.api_server import Reply
from tests.helpers import get, task


def test_a_worker_logs_json_lines_to_a_file_and_serves_metrics(stack, api, run_id, tmp_path):
    metrics_address = f"127.0.0.1:{free_port()}"
    log_path = tmp_path / "worker.log"
    env = {  # LOG_FORMAT is auto: JSON lines, as the log is not a terminal
        "TASK_QUEUE": f"observe-{run_id[-6:]}",
        "METRICS_ADDRESS": metrics_address,
    }
    stack.start_worker(env, log_path=log_path)
    api.route("GET", f"/observe/{run_id}", Reply(json={"ok": True}))
    plan = {"tasks": [task("look", "api_call", get(f"{api.url}/observe/{run_id}"))]}

    result = stack.run_plan(plan, run_id, env=env)

    assert result["status"] == "completed"

    def completed_line():
        for line in log_path.read_text().splitlines():
            if run_id in line and "action_completed" in line:
                return json.loads(line)
        return None

    logged = wait_until(completed_line, 10, "the JSON log line of the action")
    assert logged["workflow_id"] == run_id and logged["task_id"] == "look"
    assert logged["action_type"] == "api_call" and logged["attempt"] == 1
    lines = log_path.read_text().splitlines()
    assert all(json.loads(line) for line in lines if line.strip()), "every line is JSON"
    metrics = httpx.get(f"http://{metrics_address}/metrics", timeout=5).text
    assert "temporal_activity_execution_latency" in metrics or "temporal_request" in metrics
    assert 'activity_type="api_call"' in metrics


def test_a_failed_attempt_is_one_log_line_without_traceback(stack, api, run_id, tmp_path):
    log_path = tmp_path / "worker.log"
    env = {"TASK_QUEUE": f"quiet-{run_id[-6:]}", "LOG_FORMAT": "console"}
    stack.start_worker(env, log_path=log_path)
    api.route("GET", f"/quiet/{run_id}", Reply(503, text="down for maintenance"))
    plan = {"tasks": [task("down", "api_call", get(f"{api.url}/quiet/{run_id}"))]}

    result = stack.run_plan(plan, run_id, "--max-retries", "1", env=env)

    assert result["status"] == "failed"
    lines = log_path.read_text().splitlines()
    failed = [line for line in lines if "action_failed" in line]
    assert len(failed) == 2, "one line per failed attempt"
    for attempt, line in enumerate(failed, start=1):
        assert "HttpServerError" in line and "down for maintenance" in line
        assert f"attempt={attempt}" in line and f"workflow_id={run_id}" in line
    assert not any("Traceback" in line for line in lines), "no traceback for expected errors"
    assert len(lines) <= 12, "\n".join(lines)


def test_log_format_auto_is_lines_on_a_terminal_and_json_elsewhere(tmp_path):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert rendered_format("auto", Terminal()) == "console"
    with (tmp_path / "log").open("w") as file:
        assert rendered_format("auto", file) == "json"
    assert rendered_format("console", io.StringIO()) == "console"
    assert rendered_format("json", Terminal()) == "json"
