"""Custom actions from outside the project: one registered through ACTION_MODULES, one through
an entry point (tests/plugins). They get what built-in actions get."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from tests.conftest import REPO, wait_until
from tests.fakes.api_server import Reply
from tests.helpers import get, task, tasks_by_id

PLUGINS = REPO / "tests" / "plugins"


@pytest.fixture(scope="module")
def plugin_env(stack):
    """The stack's settings with the test plug-ins on the path, and a worker that loads them."""
    env = {
        "PYTHONPATH": str(PLUGINS),
        "ACTION_MODULES": "greeting_action",
        "TASK_QUEUE": f"plugins-{uuid.uuid4().hex[:6]}",
    }
    stack.start_worker(env)
    return env


def test_actions_lists_plugins_with_their_config_schema(stack, plugin_env):
    listed = stack.cli("actions", "--json", env=plugin_env)

    assert listed.returncode == 0, listed.stderr
    rows = {row["action_type"]: row for row in map(json.loads, listed.stdout.splitlines())}
    assert {"greeting", "fragile_echo", "checksum", "api_call", "wait"} <= set(rows)
    assert rows["greeting"]["config_schema"]["required"] == ["name"]
    assert "SHA-256" in rows["checksum"]["description"]
    human = stack.cli("actions", env=plugin_env)
    assert "greeting" in human.stdout and "checksum" in human.stdout


def test_a_run_uses_both_plugins_with_risk_rule_and_summaries(stack, plugin_env, run_id):
    plan = {"tasks": [
        task("greet", "greeting", {"name": "Ada", "shout": True}),
        task("hash", "checksum", {"text": "{{ tasks.greet.output.greeting }}"}, "greet"),
    ]}  # fmt: skip
    path = str(stack.write_plan(plan))

    started = stack.cli("start", "--plan", path, "--id", run_id, env=plugin_env)
    assert started.returncode == 0, started.stderr
    assert "waits for approval: greet (shouts at Ada)" in started.stdout, "the plug-in's rule"
    approved = stack.cli("approve", run_id, "--task", "greet", env=plugin_env)
    for _ in range(3):  # the task may not wait yet when the first approval arrives
        if approved.returncode == 0:
            break
        approved = stack.cli("approve", run_id, "--task", "greet", env=plugin_env)
    result = stack.cli_json("result", run_id, "--wait", env=plugin_env)

    assert result["status"] == "completed", result["error"]
    tasks = tasks_by_id(result)
    assert tasks["greet"]["output"] == {"greeting": "HELLO, ADA!"}
    assert tasks["greet"]["output_summary"] == "HELLO, ADA!"
    assert tasks["greet"]["approved_by"]
    assert len(tasks["hash"]["output"]["sha256"]) == 64


def test_a_plugins_buggy_rules_never_hold_a_run(stack, plugin_env, run_id):
    plan = {"tasks": [task("echo", "fragile_echo", {"text": "hi"})]}
    stack.cli("start", "--plan", str(stack.write_plan(plan)), "--id", run_id, env=plugin_env)

    state = wait_until(
        lambda: (s := stack.cli_json("status", run_id, env=plugin_env))["tasks"][0]["status"]
        == "waiting_approval" and s,
        30, "the task to wait: a failing risk rule means a person decides",
    )  # fmt: skip
    assert "the risk rule of fragile_echo failed (KeyError" in state["tasks"][0]["risk"]
    stack.cli("approve", run_id, "--task", "echo", env=plugin_env)
    result = stack.cli_json("result", run_id, "--wait", env=plugin_env)

    assert result["status"] == "completed"
    assert tasks_by_id(result)["echo"]["output_summary"] == '{"echo": "hi"}', "a plain preview"


def test_a_plugin_error_is_classified_by_the_plugin(stack, plugin_env, run_id):
    plan = {"tasks": [task("nobody", "greeting", {"name": " "})]}

    result = stack.run_plan(plan, run_id, "--approval", "none", env=plugin_env)

    nobody = tasks_by_id(result)["nobody"]
    assert result["status"] == "failed"
    assert nobody["error"]["error_type"] == "InvalidInput" and nobody["attempts"] == 1


def test_the_planner_is_told_about_plugins(stack, plugin_env, llm, api, run_id):
    goal = f"greet the team {run_id}"
    api.route("GET", f"/team/{run_id}", Reply(json={"lead": "Grace"}))
    llm.script(goal, {"goal": goal, "tasks": [
        task("team", "api_call", get(f"{api.url}/team/{run_id}")),
        task("greet", "greeting", {"name": "{{ tasks.team.output.body.lead }}"}, "team"),
    ]})  # fmt: skip

    result = stack.cli_json("start", "--goal", goal, "--wait", "--id", run_id, env=plugin_env)

    assert result["status"] == "completed", result["error"]
    assert tasks_by_id(result)["greet"]["output"] == {"greeting": "Hello, Grace!"}
    [request] = llm.requests_matching(f"Goal: {goal}")
    prompt = request["messages"][0]["content"]
    assert '"greeting"' in prompt and "Greet someone by name" in prompt
    assert '"checksum"' in prompt and "SHA-256 of a text" in prompt


def test_a_plan_with_an_unknown_action_is_refused_without_the_plugin(stack):
    plan = stack.write_plan({"tasks": [task("hash", "checksum", {"text": "x"})]})

    refused = stack.cli("validate", str(plan))

    assert refused.returncode == 1 and "unknown action_type 'checksum'" in refused.stderr


@pytest.mark.parametrize(
    ("modules", "expected"),
    [
        ("no_such_plugin", "cannot import the action plug-in 'no_such_plugin' named by "
                           "ACTION_MODULES: ModuleNotFoundError"),
        ("json", "the action plug-in json defines neither ACTION"),
    ],
)  # fmt: skip
def test_a_broken_plugin_stops_the_worker_with_one_clear_line(stack, modules, expected):
    env = {**stack.env, "PYTHONPATH": str(PLUGINS), "ACTION_MODULES": modules}

    worker = subprocess.run([sys.executable, "worker.py"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    cli = stack.cli("list", env=env)

    for finished in (worker, cli):
        assert finished.returncode == 1
        lines = finished.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
