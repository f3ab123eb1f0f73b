"""Plan patches, as pure functions: what a patch does to a running plan, and why one is refused.

A patch adds tasks and removes tasks that have not started; it never changes a task that ran.
The same rules hold wherever a patch comes from (the joiner, the planner asked after a failure,
a person's hint) and wherever it is checked (the LLM activity, before a repair round; the run,
before it applies one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from agentic.core.plan import Plan, Task, format_validation_error
from agentic.core.policy import refusals

NOT_STARTED = "pending"


class PatchRefused(ValueError):
    """A patch that does not fit the plan; `problems` says each reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_added(entries: list[Any]) -> tuple[list[Task], list[str]]:
    """The tasks a patch adds, each validated on its own, and the problems of those that are
    not tasks."""
    tasks: list[Task] = []
    problems: list[str] = []
    for position, entry in enumerate(entries):
        try:
            tasks.append(Task.model_validate(entry))
        except ValidationError as error:
            name = entry.get("id", position) if isinstance(entry, dict) else position
            problems.append(format_validation_error(error, prefix=f"add[{name}]: "))
        except (TypeError, ValueError) as error:
            problems.append(f"add[{position}]: {error}")
    return tasks, problems


def patched_plan(
    plan: Plan,
    statuses: Mapping[str, str],
    add: list[Task],
    remove: list[str],
    allowed_action_types: list[str] | None = None,
) -> Plan:
    """The plan with `remove` taken out and `add` appended, validated as a whole; a
    `PatchRefused` names every problem. `statuses` holds each task's status: only a task still
    `pending` may be removed (and so replaced, by adding its id again)."""
    problems = _removal_problems(plan, statuses, remove)
    problems += _addition_problems(plan, add, set(remove), allowed_action_types or [])
    if not add and not remove:
        problems.append('the patch adds and removes nothing: give "add" or "remove"')
    if problems:
        raise PatchRefused(problems)
    removed = set(remove)
    tasks = [task for task in plan.tasks if task.id not in removed] + add
    try:
        return Plan.model_validate({"goal": plan.goal, "tasks": tasks})
    except ValidationError as error:
        raise PatchRefused([format_validation_error(error)]) from None


def _removal_problems(plan: Plan, statuses: Mapping[str, str], remove: list[str]) -> list[str]:
    problems = []
    for task_id in remove:
        status = statuses.get(task_id)
        if task_id not in plan.by_id:
            problems.append(f"remove: there is no task {task_id!r} in the plan")
        elif status != NOT_STARTED:
            problems.append(
                f"remove: task {task_id!r} is {status}; only tasks that have not started may "
                "be removed or replaced (a patch never changes what ran)"
            )
    return problems


def _addition_problems(
    plan: Plan, add: list[Task], removed: set[str], allowed_action_types: list[str]
) -> list[str]:
    problems = []
    seen: set[str] = set()
    for task in add:
        if task.id in seen:
            problems.append(f"add: task id {task.id!r} is given twice")
        elif task.id in plan.by_id and task.id not in removed:
            problems.append(
                f"add: task id {task.id!r} is already in the plan; use a new id (or remove "
                "the task in the same patch to replace it, if it has not started)"
            )
        seen.add(task.id)
        if allowed_action_types and task.action_type not in allowed_action_types:
            problems.append(
                f"add: task {task.id!r}: action_type {task.action_type!r} is not allowed in "
                f"plans the LLM writes; use one of {', '.join(allowed_action_types)}"
            )
    return problems + refusals(add)
