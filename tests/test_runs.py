"""Runs of plans and goals end to end: CLI -> Temporal -> worker -> fakes -> result."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from tests.fakes.api_server import Reply
from tests.helpers import activity_spans, event_types, get, task, tasks_by_id

USERS = [
    {"name": "ada", "age": 36},
    {"name": "bob", "age": 17},
    {"name": "cy", "age": 52},
]


def test_goal_is_planned_and_run_to_completion(stack, llm, api, run_id):
    api.route("GET", "/goal/users", Reply(json=USERS))
    goal = f"fetch users, keep adults, save them ({run_id})"
    plan = {
        "goal": goal,
        "tasks": [
            task("fetch", "api_call", get(f"{api.url}/goal/users")),
            task(
                "adults",
                "data_transform",
                {"input": "{{ tasks.fetch.output.body }}", "expression": "[?age > `30`]"},
                "fetch",
            ),
            task(
                "save",
                "file_operation",
                {
                    "operation": "write",
                    "path": f"{run_id}/adults.json",
                    "content": "{{ tasks.adults.output }}",
                },
                "adults",
            ),
        ],
    }
    llm.script(goal, plan)

    finished = stack.cli("start", "--goal", goal, "--wait", "--json", "--id", run_id)

    assert finished.returncode == 0, finished.stderr
    result = json.loads(finished.stdout)
    assert result["status"] == "completed"
    assert [t["status"] for t in result["tasks"]] == ["completed"] * 3
    saved = json.loads((stack.workspace / run_id / "adults.json").read_text())
    assert [user["name"] for user in saved] == ["ada", "cy"]
    assert result["usage"]["calls"] == 1 and result["usage"]["total_tokens"] > 0
    planner_request = llm.requests_matching(goal)[0]
    assert "response_format" in planner_request


async def test_independent_tasks_overlap_in_time(stack, api, client, run_id):
    for branch in ("left", "right"):
        api.route("GET", f"/diamond/{branch}", Reply(json={"branch": branch}, delay=1.0))
    api.route("GET", "/diamond/root", Reply(json={"ok": True}))
    plan = {
        "goal": "diamond",
        "tasks": [
            task("root", "api_call", get(f"{api.url}/diamond/root")),
            task("left", "api_call", get(f"{api.url}/diamond/left"), "root"),
            task("right", "api_call", get(f"{api.url}/diamond/right"), "root"),
            task(
                "join",
                "data_transform",
                {
                    "input": [
                        "{{ tasks.left.output.body.branch }}",
                        "{{ tasks.right.output.body.branch }}",
                    ],
                    "expression": "join(',', @)",
                },
                "left",
                "right",
            ),
        ],
    }

    result = stack.run_plan(plan, run_id)

    assert result["status"] == "completed"
    assert tasks_by_id(result)["join"]["output"] == "left,right"
    spans = await activity_spans(client, run_id)
    left, right, root = spans["left"], spans["right"], spans["root"]
    assert left[0] < right[1] and right[0] < left[1], f"no overlap: {left} {right}"
    assert root[1] <= min(left[0], right[0])
    # join, a data_transform, is computed in the workflow: its task's own start time. The
    # branches are reads, local activities: their ends are the worker's clock, the join's start
    # is workflow time, which may read a microsecond apart.
    join_started = datetime.fromisoformat(tasks_by_id(result)["join"]["started_at"])
    slack = timedelta(milliseconds=1)
    assert join_started.replace(tzinfo=None) >= max(left[1], right[1]) - slack


def test_max_parallel_one_runs_branches_in_turn(stack, api, run_id):
    for branch in ("one", "two"):
        api.route("GET", f"/serial/{branch}", Reply(json={}, delay=0.3))
    plan = {"tasks": [task(b, "api_call", get(f"{api.url}/serial/{b}")) for b in ("one", "two")]}

    result = stack.run_plan(plan, run_id, "--max-parallel", "1")

    assert result["status"] == "completed"
    first, second = (api.calls("GET", f"/serial/{b}")[0] for b in ("one", "two"))
    assert first.finished_at <= second.received_at


def test_flaky_api_succeeds_on_retry(stack, api, run_id):
    api.route("GET", "/flaky", Reply(503), Reply(500), Reply(json={"ok": 1}))
    plan = {"tasks": [task("flaky", "api_call", get(f"{api.url}/flaky"))]}

    result = stack.run_plan(plan, run_id)

    flaky = tasks_by_id(result)["flaky"]
    assert result["status"] == "completed"
    assert flaky["attempts"] == 3
    assert flaky["output"]["body"] == {"ok": 1}
    assert result["decisions"] == []


def test_analyst_fixes_a_task_with_modify(stack, llm, api, run_id):
    api.route("GET", "/modify/right", Reply(json={"fixed": True}))
    wrong_url = f"{api.url}/modify/wrong-{run_id}"
    llm.script(
        f"/modify/wrong-{run_id}",
        {
            "action": "modify",
            "reason": "the path is wrong",
            "new_config": {"method": "GET", "url": f"{api.url}/modify/right"},
        },
    )
    plan = {"tasks": [task("call", "api_call", get(wrong_url))]}

    result = stack.run_plan(plan, run_id)

    call = tasks_by_id(result)["call"]
    assert result["status"] == "completed"
    assert call["output"]["body"] == {"fixed": True}
    assert call["attempts"] == 2, "404 is not retried: one attempt per round"
    [decision] = result["decisions"]
    assert decision["applied"] == "modify" and decision["source"] == "analyst"
    assert decision["error"]["error_type"] == "HttpClientError"
    assert result["plan"]["tasks"][0]["action_config"]["url"].endswith("/modify/right")


def test_skip_of_non_critical_task_skips_its_dependents(stack, llm, api, run_id):
    api.route("GET", "/skip/ok", Reply(json={"ok": True}))
    broken = f"/skip/broken-{run_id}"
    api.route("GET", broken, Reply(400, json={"error": "bad"}))
    llm.script(broken, {"action": "skip", "reason": "optional enrichment"})
    plan = {
        "tasks": [
            task("ok", "api_call", get(f"{api.url}/skip/ok")),
            task("optional", "api_call", get(f"{api.url}{broken}"), critical=False),
            task(
                "after",
                "data_transform",
                {"input": "{{ tasks.optional.output }}", "expression": "@"},
                "optional",
            ),
        ]
    }

    result = stack.run_plan(plan, run_id)

    tasks = tasks_by_id(result)
    assert tasks["ok"]["status"] == "completed"
    assert tasks["optional"]["status"] == "skipped"
    assert tasks["optional"]["reason"] == "optional enrichment"
    assert tasks["after"]["status"] == "skipped"
    assert "optional" in tasks["after"]["reason"]
    assert result["status"] == "failed", "'after' is critical and could not run"
    assert result["error"].startswith("critical tasks did not complete: after (skipped")


def test_skip_of_critical_task_fails_the_run(stack, llm, api, run_id):
    broken = f"/skip-critical/{run_id}"
    api.route("GET", broken, Reply(404))
    llm.script(broken, *[{"action": "skip", "reason": "not needed"}] * 2)
    plan = {"tasks": [task("needed", "api_call", get(f"{api.url}{broken}"))]}

    finished = stack.cli(
        "start", "--plan", str(stack.write_plan(plan)), "--wait", "--json", "--id", run_id
    )

    result = json.loads(finished.stdout)
    assert finished.returncode == 1
    assert result["status"] == "failed"
    [decision] = result["decisions"]
    assert decision["applied"] == "fail_workflow" and decision["source"] == "fallback"
    assert "skip" in decision["decision"]["reason"]
    analyst_requests = llm.requests_matching(broken)
    assert len(analyst_requests) == 2, "the refused skip is sent back to the analyst once"
    assert '"skip"' not in json.dumps(analyst_requests[0]["response_format"])


def test_fail_workflow_stops_the_run(stack, llm, api, run_id):
    broken = f"/fail/{run_id}"
    api.route("GET", broken, Reply(403, json={"error": "forbidden"}))
    api.route("GET", "/fail/slow", Reply(json={}, delay=5))
    llm.script(broken, {"action": "fail_workflow", "reason": "no access"})
    plan = {
        "tasks": [
            task("denied", "api_call", get(f"{api.url}{broken}")),
            task("slow", "api_call", get(f"{api.url}/fail/slow")),
            task("later", "api_call", get(f"{api.url}/fail/slow"), "denied"),
        ]
    }

    finished = stack.cli(
        "start", "--plan", str(stack.write_plan(plan)), "--wait", "--json", "--id", run_id
    )

    result = json.loads(finished.stdout)
    tasks = tasks_by_id(result)
    assert finished.returncode == 1
    assert result["status"] == "failed"
    assert "denied" in result["error"] and "403" in result["error"]
    assert tasks["denied"]["status"] == "failed"
    assert tasks["slow"]["status"] == "cancelled"
    assert tasks["later"]["status"] == "skipped"


def test_analysis_is_bounded_per_task(stack, llm, api, run_id):
    broken = f"/bounded/{run_id}"
    api.route("GET", broken, Reply(400))
    llm.script(broken, *[{"action": "retry", "reason": "try again"}] * 10)
    plan = {"tasks": [task("stubborn", "api_call", get(f"{api.url}{broken}"))]}

    result = stack.run_plan(plan, run_id)

    assert result["status"] == "failed"
    sources = [d["source"] for d in result["decisions"]]
    assert sources == ["analyst", "analyst", "analyst", "fallback"]
    assert len(api.calls("GET", broken)) == 4
    assert len(llm.requests_matching(broken)) == 3


def test_invalid_planner_reply_is_repaired_once(stack, llm, api, run_id):
    api.route("GET", "/repair/ok", Reply(json={"ok": True}))
    goal = f"repair test {run_id}"
    cyclic = {
        "goal": goal,
        "tasks": [
            task("a", "api_call", get(f"{api.url}/repair/ok"), "b"),
            task("b", "api_call", get(f"{api.url}/repair/ok"), "a"),
        ],
    }
    fixed = {"goal": goal, "tasks": [task("a", "api_call", get(f"{api.url}/repair/ok"))]}
    llm.script(goal, cyclic, fixed)

    result = stack.cli_json("start", "--goal", goal, "--wait", "--id", run_id)

    assert result["status"] == "completed"
    assert result["usage"]["calls"] == 2
    repair_request = json.dumps(llm.requests_matching(goal)[1])
    assert "dependency cycle" in repair_request


def test_planner_failing_twice_fails_the_run(stack, llm, run_id):
    goal = f"hopeless goal {run_id}"
    llm.script(goal, "I cannot do that.", {"tasks": []})

    finished = stack.cli("start", "--goal", goal, "--wait", "--json", "--id", run_id)

    result = json.loads(finished.stdout)
    assert finished.returncode == 1
    assert result["status"] == "failed"
    assert "not a valid plan" in result["error"]
    assert result["tasks"] == []


async def test_wait_is_a_durable_timer(stack, client, run_id):
    plan = {"tasks": [task("pause", "wait", {"seconds": 0.2})]}

    result = stack.run_plan(plan, run_id)

    assert result["status"] == "completed"
    events = await event_types(client, run_id)
    assert "EVENT_TYPE_TIMER_STARTED" in events
    assert "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED" not in events


def test_skips_reach_every_downstream_task_whatever_the_plan_order(stack, llm, api, run_id):
    broken = f"/chain/{run_id}"
    api.route("GET", broken, Reply(400))
    llm.script(broken, {"action": "skip", "reason": "not needed"})
    plan = {"tasks": [
        task("last", "wait", {"seconds": 0}, "middle", critical=False),
        task("middle", "wait", {"seconds": 0}, "first", critical=False),
        task("first", "api_call", get(f"{api.url}{broken}"), critical=False),
    ]}  # fmt: skip

    result = stack.run_plan(plan, run_id)

    tasks = tasks_by_id(result)
    assert result["status"] == "completed"
    assert tasks["middle"]["reason"] == "dependency 'first' skipped"
    assert tasks["last"]["reason"] == "dependency 'middle' skipped"
