"""Issue 22's whole story in one goal run: the planner sees an MCP server's tools and an OpenAPI
service's operations beside the built-in actions, and writes a plan that looks a person up with
the MCP tool, asks a person whose orders to fetch, and fetches them with the sample API's own
OpenAPI operation; the question is answered through the CLI and the joiner answers the goal."""

from __future__ import annotations

import json
import sys
import uuid

import pytest

from tests.conftest import wait_until
from tests.helpers import task, tasks_by_id


@pytest.fixture(scope="module")
def tools_env(stack, sample_api, tmp_path_factory):
    """A worker with an MCP server over stdio (`people`) and the sample API as an OpenAPI
    service (`sample`), on a task queue of its own; the CLI gets the same settings."""
    folder = tmp_path_factory.mktemp("tools-goal")
    env = {
        "MCP_SERVERS": json.dumps(
            {"people": {"command": [sys.executable, "-m", "tests.fakes.mcp_server"]}}
        ),
        "OPENAPI_SERVICES": json.dumps(
            {"sample": {"spec": f"{sample_api.url}/openapi.json", "base_url": sample_api.url}}
        ),
        "TASK_QUEUE": f"tools-goal-{uuid.uuid4().hex[:6]}",
    }
    stack.start_worker(env, log_path=folder / "worker.log")
    return env


def test_a_goal_uses_an_mcp_tool_an_openapi_operation_and_asks_a_person(
    stack, llm, tools_env, run_id
):
    goal = f"look Ada up, then fetch the orders of the user a person picks ({run_id})"
    plan = {
        "goal": goal,
        "tasks": [
            task("who", "mcp.people.lookup", {"key": "ada"}),
            task(
                "pick",
                "ask",
                {"question": "Whose orders: user 5 or user 6?", "choices": ["5", "6"]},
            ),
            task("orders", "sample.listUserOrders", {"user_id": "{{ tasks.pick.output }}"}, "pick"),
        ],
    }
    llm.script(f"Goal: {goal}", plan)
    llm.script(f"Join the run of: {goal}", {"action": "answer", "answer": "User 5's orders."})
    started = stack.cli("start", "--goal", goal, "--id", run_id, "--approval", "none",
                        env=tools_env)  # fmt: skip
    assert started.returncode == 0, started.stderr

    def asks() -> bool:
        return "Whose orders" in stack.cli("status", run_id, env=tools_env).stdout

    wait_until(asks, 60, "the question")
    answered = stack.cli("answer", run_id, "pick", "--text", "5", "--by", "ana", env=tools_env)
    assert answered.returncode == 0, answered.stderr

    result = stack.cli_json("result", run_id, "--wait", env=tools_env)
    assert result["status"] == "completed", result["error"]
    tasks = tasks_by_id(result)
    assert tasks["who"]["output"] == "Ada Lovelace"
    assert tasks["pick"]["output"] == "5" and tasks["pick"]["answered_by"] == "ana"
    orders = tasks["orders"]["output"]
    assert orders["status_code"] == 200
    assert orders["body"] and {order["user_id"] for order in orders["body"]} == {5}
    assert result["answer"] == "User 5's orders."
    prompt = json.dumps(llm.requests_matching(f"Goal: {goal}")[0])
    assert "mcp.people.lookup" in prompt and "sample.listUserOrders" in prompt
