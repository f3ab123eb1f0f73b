"""`cli.py diff RUN_A RUN_B` (issue 24): tasks added and removed, configs, statuses and outputs
that changed (a short structural diff of the JSON), durations side by side."""

from __future__ import annotations

from agentic.core.diffs import json_changes
from tests.helpers import task


def test_json_changes_name_each_path_that_changed():
    a = {"rows": [{"age": 36}, {"age": 17}], "cursor": "x", "total": 2}
    b = {"rows": [{"age": 37}, {"age": 17}, {"age": 52}], "total": 3, "next": None}

    assert json_changes(a, b) == [
        "rows[0].age: 36 -> 37",
        '+ rows[2]: {"age": 52}',
        "- cursor",
        "total: 2 -> 3",
        "+ next: null",
    ]
    assert json_changes(1, 1) == []
    assert json_changes(list(range(20)), list(range(1, 21)))[-1] == "... and 13 more changes"


def test_diff_shows_what_changed_between_two_runs(stack, run_id):
    first = {"tasks": [
        task("users", "data_transform", {"input": [36, 17], "expression": "@"}),
        task("adults", "data_transform", {"input": "{{ tasks.users.output }}",
                                          "expression": "[?@ >= `18`]"}, "users"),
        task("old", "wait", {"seconds": 0}),
    ]}  # fmt: skip
    second = {"tasks": [
        task("users", "data_transform", {"input": [36, 17, 52], "expression": "@"}),
        task("adults", "data_transform", {"input": "{{ tasks.users.output }}",
                                          "expression": "[?@ >= `18`]"}, "users"),
        task("count", "data_transform", {"input": "{{ tasks.adults.output }}",
                                         "expression": "length(@)"}, "adults"),
    ]}  # fmt: skip
    stack.run_plan(first, f"{run_id}-a", "--approval", "none")
    stack.run_plan(second, f"{run_id}-b", "--approval", "none")

    compared = stack.cli_json("diff", f"{run_id}-a", f"{run_id}-b")
    shown = stack.cli("diff", f"{run_id}-a", f"{run_id}-b").stdout

    assert compared["added"] == ["count"] and compared["removed"] == ["old"]
    tasks = {entry["task_id"]: entry for entry in compared["tasks"]}
    assert tasks["users"]["config"] == ["+ input[2]: 52"]
    assert tasks["adults"]["config"] == [] and tasks["adults"]["output"] == ["+ [1]: 52"]
    assert compared["status"] == ["completed", "completed"]
    assert "added: count" in shown and "removed: old" in shown
    assert "adults output: + [1]: 52" in shown
    same = stack.cli("diff", f"{run_id}-a", f"{run_id}-a").stdout
    assert "the same tasks, configs, statuses and outputs" in same
