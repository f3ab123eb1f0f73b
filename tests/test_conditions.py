"""Conditions (`when`): a false one skips its task without error, an if/else joins, a task
downstream of a failed one is still skipped, and a bad condition is refused before the run."""

from __future__ import annotations

import pytest

from agentic import AgentClient, Plan, RunOptions
from agentic.core.conditions import condition_tasks, is_true
from agentic.core.messages import TaskResult, TaskStatus
from agentic.workflows.conditions import SkippedByCondition
from agentic.workflows.scheduling import Schedule, missed_critical, ready_tasks, skip_blocked
from tests.fakes.api_server import Reply
from tests.helpers import activity_spans, get, task, tasks_by_id

CHECK = task("check", "data_transform", {"input": {"changed": True, "count": 0}, "expression": "@"})


def branch_plan(changed: bool) -> dict:
    """Two branches with opposite conditions over `check`, and a task that joins them."""
    check = {**CHECK, "action_config": {"input": {"changed": changed}, "expression": "@"}}
    return {
        "goal": "report only what changed",
        "tasks": [
            check,
            task("changed", "data_transform", {"input": "yes", "expression": "@"}, "check",
                 when="tasks.check.output.changed"),
            task("same", "data_transform", {"input": "no", "expression": "@"}, "check",
                 when="!(tasks.check.output.changed)"),
            task("join", "data_transform",
                 {"input": {"changed": "{{ tasks.changed.output }}",
                            "same": "{{ tasks.same.output }}",
                            "text": "same: {{ tasks.same.output }}"},
                  "expression": "@"},
                 "changed", "same"),
        ],
    }  # fmt: skip


def test_a_condition_names_the_tasks_it_reads():
    assert condition_tasks("tasks.check.output.body.changed") == {"check"}
    assert condition_tasks('tasks."fetch-users".output && tasks.b.output') == {"fetch-users", "b"}
    assert condition_tasks("length(tasks.c.output.body[?x]) > `0`") == {"c"}


def test_jmespath_truthiness():
    assert [is_true(v) for v in (False, None, "", [], {})] == [False] * 5
    assert [is_true(v) for v in (0, 0.0, "x", [0], {"a": None}, True)] == [True] * 6


@pytest.mark.parametrize(
    ("when", "depends_on", "message"),
    [
        ("tasks.check.output ===", ["check"], "invalid JMESPath expression"),
        ("tasks.check.output", [], "has a when over the output of 'check', which is not upstream"),
        ("tasks.nothing.output", ["check"], "has a when over the output of unknown task"),
    ],
)
def test_a_bad_condition_is_refused_before_the_run(stack, when, depends_on, message):
    plan = {"tasks": [CHECK, task("later", "wait", {"seconds": 0}, *depends_on, when=when)]}

    finished = stack.cli("validate", str(stack.write_plan(plan)))

    assert finished.returncode != 0
    [line] = finished.stderr.strip().splitlines()
    assert line.startswith("error: invalid plan") and message in line


def test_if_else_branches_join_and_the_branch_not_taken_is_null(stack, run_id):
    result = stack.run_plan(branch_plan(changed=True), run_id, "--approval", "none")

    assert result["status"] == "completed"
    tasks = tasks_by_id(result)
    assert tasks["changed"]["status"] == "completed"
    assert tasks["same"]["status"] == "skipped"
    assert tasks["same"]["reason"] == "condition false"
    assert tasks["same"]["condition_false"] is True
    assert tasks["join"]["output"] == {"changed": "yes", "same": None, "text": "same: null"}


def test_a_task_downstream_of_a_failed_one_is_still_skipped(stack, run_id, api):
    plan = {
        "tasks": [
            CHECK,
            task("broken", "api_call", get(f"{api.url}/conditions/missing"), critical=False),
            task("after", "data_transform", {"input": 1, "expression": "@"}, "check", "broken",
                 when="tasks.check.output.changed", critical=False),
        ]
    }  # fmt: skip

    result = stack.run_plan(plan, run_id, "--approval", "none")

    after = tasks_by_id(result)["after"]
    assert after["status"] == "skipped" and not after.get("condition_false")
    assert after["reason"] == "dependency 'broken' failed"


def test_a_condition_that_cannot_be_evaluated_fails_its_task(stack, run_id):
    plan = {"tasks": [CHECK, task("odd", "wait", {"seconds": 0}, "check",
                                  when="length(tasks.check.output.changed)")]}  # fmt: skip

    result = stack.run_plan(plan, run_id, "--approval", "none")

    odd = tasks_by_id(result)["odd"]
    assert result["status"] == "failed"
    assert odd["status"] == "failed" and "its condition" in odd["error"]["message"]


async def test_the_api_reports_a_condition_false_task(stack):
    client = await AgentClient.connect(address=stack.address, task_queue=stack.task_queue)

    result = await client.run(plan=Plan.model_validate(branch_plan(changed=False)),
                              options=RunOptions(approval="none"))  # fmt: skip

    by_id = {entry.task_id: entry for entry in result.tasks}
    assert result.status == "completed"
    assert by_id["changed"].condition_false and not by_id["same"].condition_false
    assert by_id["join"].output == {"changed": None, "same": "no", "text": "same: no"}


def test_scheduling_treats_a_condition_false_task_as_a_branch_not_taken():
    plan = Plan.model_validate(branch_plan(changed=True))
    tasks = {t.id: TaskResult(task_id=t.id) for t in plan.tasks}
    for task_id in ("check", "changed"):
        tasks[task_id].status = TaskStatus.COMPLETED
    tasks["same"].status, tasks["same"].condition_false = TaskStatus.SKIPPED, True
    schedule = Schedule(plan=plan, tasks=tasks, max_parallel=4)

    assert [t.id for t in ready_tasks(schedule)] == ["join"]
    assert skip_blocked(schedule) == []
    tasks["join"].status = TaskStatus.COMPLETED
    assert missed_critical(schedule) is None


def test_the_tasks_skipped_by_their_condition_are_those_of_the_plan_as_they_are_now():
    plan = Plan.model_validate(branch_plan(changed=True))
    tasks = {t.id: TaskResult(task_id=t.id) for t in plan.tasks}
    tasks["same[0]"] = TaskResult(task_id="same[0]", condition_false=True)  # not a plan task
    absent = SkippedByCondition(plan.by_id, tasks)
    assert "same" not in absent and not absent

    tasks["same"].condition_false = True

    assert "same" in absent and "same[0]" not in absent and 7 not in absent
    assert set(absent) == {"same"} and len(absent) == 1
    assert absent & {"same", "join"} == frozenset({"same"})
    assert {"same", "join"} & absent == frozenset({"same"})


async def test_a_condition_over_an_output_in_the_blob_store_is_decided_by_an_activity(
    stack, run_id, api, client
):
    big = {"changed": True, "pages": ["x" * 1000] * 400}  # over the 256 KB blob threshold
    api.route("GET", f"/conditions/{run_id}", Reply(json=big))
    plan = {
        "tasks": [
            task("fetch", "api_call", get(f"{api.url}/conditions/{run_id}")),
            task("report", "data_transform", {"input": "changed", "expression": "@"}, "fetch",
                 when="tasks.fetch.output.body.changed && length(tasks.fetch.output.body.pages)"),
        ]
    }  # fmt: skip

    result = stack.run_plan(plan, run_id, "--approval", "none")

    assert result["status"] == "completed", result["error"]
    assert "$blob" in str(tasks_by_id(result)["fetch"]["output"])
    assert tasks_by_id(result)["report"]["output"] == "changed"
    assert "report:when" in await activity_spans(client, run_id)


def test_the_planner_writes_a_condition_that_runs(stack, run_id, llm):
    goal = f"report only if something changed ({run_id})"
    llm.script(goal, {**branch_plan(changed=True), "goal": goal})

    result = stack.cli_json("start", "--goal", goal, "--approval", "none", "--wait",
                            "--id", run_id)  # fmt: skip

    assert result["status"] == "completed"
    assert tasks_by_id(result)["same"]["reason"] == "condition false"
    prompt = llm.requests_matching(goal)[0]["messages"][0]["content"]
    assert '"when" (optional): a condition' in prompt
