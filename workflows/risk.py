"""The one rule for what is risky: in approval mode `risky`, these tasks wait for a person.

- a `file_operation` that deletes a file, or writes over a file that already exists;
- a `db_query` with `"write": true`;
- an `api_call` (or a `poll` request) with a method other than GET or HEAD;
- any task the plan marks `"requires_approval": true`.
"""

from __future__ import annotations

from typing import Any

from workflows.plan import Task

SAFE_METHODS = {"GET", "HEAD"}


def risk_reason(task: Task, config: Any = None) -> str:
    """Why `task` needs approval before it runs ("" when it does not).

    `config` is the task's resolved config when known (clearer messages); the overwrite case
    needs a look at the workspace, see `overwrite_target`.
    """
    config = config if config is not None else task.action_config
    if task.requires_approval:
        return "the plan marks it requires_approval"
    if task.action_type == "file_operation" and config.operation == "delete":
        return f"deletes the file {config.path}"
    if task.action_type == "db_query" and config.write:
        return "writes to the database"
    request = config.request if task.action_type == "poll" else config
    if task.action_type in ("api_call", "poll") and request.method not in SAFE_METHODS:
        return f"sends {request.method} {request.url}"
    return ""


def overwrite_target(task: Task, config: Any = None) -> str | None:
    """The workspace path a task would write, to check whether it exists; else None."""
    config = config if config is not None else task.action_config
    if task.action_type == "file_operation" and config.operation == "write":
        return config.path
    return None


def describe_risks(tasks: list[Task]) -> dict[str, str]:
    """For a plan, the tasks that will (or may) wait for approval, with why."""
    risks = {}
    for task in tasks:
        reason = risk_reason(task)
        if reason:
            risks[task.id] = reason
        elif overwrite_target(task):
            risks[task.id] = f"only if {overwrite_target(task)} already exists (overwrite)"
    return risks
