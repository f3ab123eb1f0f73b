"""`cli.py graph ID|PLAN_FILE`: a plan as Mermaid or dot text, laid out left to right by depth,
each task of a run coloured by its status (issue 23)."""

from __future__ import annotations

from agentic.core.graph import columns, layout, render, task_depths
from agentic.core.messages import TaskResult, TaskStatus
from agentic.core.plan import Plan
from tests.helpers import task

PLAN = {"tasks": [
    task("users", "data_transform", {"input": [{"n": "a"}, {"n": "b"}], "expression": "@"}),
    task("per-user", "data_transform", {"input": "{{ item }}", "expression": "n"}, "users",
         for_each="{{ tasks.users.output }}"),
    task("count", "data_transform", {"input": "{{ tasks.users.output }}",
                                     "expression": "length(@)"}, "users"),
    task("report", "data_transform", {"input": 1, "expression": "@"}, "per-user", "count"),
]}  # fmt: skip


def test_tasks_are_laid_out_by_their_longest_chain_of_dependencies():
    plan = Plan.model_validate(PLAN)

    assert task_depths(plan) == {"users": 0, "per-user": 1, "count": 1, "report": 2}
    assert columns(plan) == [["users"], ["per-user", "count"], ["report"]]


def test_mermaid_and_dot_name_every_task_and_dependency_with_its_status():
    plan = Plan.model_validate(PLAN)
    results = {
        "users": TaskResult(task_id="users", status=TaskStatus.COMPLETED),
        "per-user": TaskResult(
            task_id="per-user", status=TaskStatus.RUNNING, items={"completed": 1, "running": 1}
        ),
    }

    mermaid = render(plan, results)
    dot = render(plan, results, "dot")

    assert mermaid.startswith("flowchart LR\n")
    box = 't_per_duser["per-user<br/>data_transform<br/>for each<br/>running (1/2 items)"]'
    assert box in mermaid
    assert "t_users --> t_per_duser" in mermaid and "t_count --> t_report" in mermaid
    assert "class t_users completed" in mermaid and "classDef running fill:" in mermaid
    assert '"users" -> "per-user";' in dot and "rankdir=LR" in dot
    assert '"report" [label="report\\ndata_transform", fillcolor="#eeeeee"' in dot


def test_the_cli_draws_a_plan_file_and_a_run(stack, run_id):
    path = stack.write_plan(PLAN)
    from_file = stack.cli("graph", str(path))
    assert from_file.returncode == 0, from_file.stderr
    assert "t_users --> t_count" in from_file.stdout

    assert stack.run_plan(PLAN, run_id)["status"] == "completed"
    drawn = stack.cli("graph", run_id, "--format", "dot")

    assert drawn.returncode == 0, drawn.stderr
    assert '"per-user" [label="per-user\\ndata_transform\\nfor each\\ncompleted (2/2 items)"' in (
        drawn.stdout
    )
    unknown = stack.cli("graph", "no-such-run")
    assert unknown.returncode != 0 and "no-such-run" in unknown.stderr


def test_the_layout_places_boxes_by_depth_and_links_a_sub_plans_child_run():
    plan = Plan.model_validate(PLAN)
    results = {"count": TaskResult(task_id="count", status=TaskStatus.RUNNING,
                                   child_run_id="run-1.count")}  # fmt: skip

    drawn = layout(plan, results)

    boxes = {box.task_id: box for box in drawn.boxes}
    assert boxes["users"].x < boxes["per-user"].x == boxes["count"].x < boxes["report"].x
    assert boxes["per-user"].y < boxes["count"].y, "a column keeps the plan's order"
    assert boxes["count"].child_run_id == "run-1.count" and boxes["count"].status == "running"
    assert boxes["per-user"].subtitle == "data_transform · for each"
    assert len(drawn.arrows) == 4 and drawn.width > boxes["report"].x
