"""What the Temporal Web UI and `temporal workflow list --query` can see of a run.

Search attributes (registered by the worker and by `cli.py server`):
    AgentStatus     Keyword  planning | awaiting_approval | awaiting_answer | running | paused |
                             completed | failed | cancelled | rejected
    AgentGoal       Text     the goal
    AgentTaskCount  Int      tasks in the plan
    RerunOf         Keyword  the run a rerun runs again
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from agentic.core.foreach import describe_items

STATUS = SearchAttributeKey.for_keyword("AgentStatus")
GOAL = SearchAttributeKey.for_text("AgentGoal")
TASK_COUNT = SearchAttributeKey.for_int("AgentTaskCount")
RERUN_OF = SearchAttributeKey.for_keyword("RerunOf")
SEARCH_ATTRIBUTES = {
    STATUS.name: "Keyword",
    GOAL.name: "Text",
    TASK_COUNT.name: "Int",
    RERUN_OF.name: "Keyword",
}


class AgentStatus(StrEnum):
    """The values of the AgentStatus search attribute."""

    PLANNING = "planning"
    AWAITING_APPROVAL = "awaiting_approval"
    AWAITING_ANSWER = "awaiting_answer"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


GOAL_MAX_CHARS = 2000


def plan_summary(task_labels: list[str], limit: int = 12) -> str:
    """A one-line summary of a plan's tasks for the memo."""
    shown = ", ".join(task_labels[:limit])
    more = f" and {len(task_labels) - limit} more" if len(task_labels) > limit else ""
    return f"{len(task_labels)} tasks: {shown}{more}"


def plan_details(plan: Any, limit: int = 50) -> str:
    """The plan as a Markdown table, for the run's details in the Web UI."""
    rows = [
        f"| `{task.id}` | {task.action_type} | {task.name.replace('|', '/')} | "
        f"{', '.join(task.depends_on)}{_condition(task)}{_construct(task)} |"
        for task in plan.tasks[:limit]
    ]
    more = [f"\n... and {len(plan.tasks) - limit} more tasks"] if len(plan.tasks) > limit else []
    header = ["| task | action | what | after |", "| --- | --- | --- | --- |"]
    return "\n".join([*header, *rows, *more])


def _construct(task: Any) -> str:
    """`; for each item of ...`, `; repeat until ...`: a for-each's or a loop's note."""
    notes = ""
    if getattr(task, "for_each", None) is not None:
        source = task.for_each if isinstance(task.for_each, str) else f"{len(task.for_each)} items"
        notes += f"; for each of {source.replace('|', '/')}"
    if getattr(task, "repeat", None) is not None:
        notes += (
            f"; repeat until `` {task.repeat.until.replace('|', '/')} `` (max {task.repeat.max})"
        )
    return notes


PROGRESS_ROWS = 50


def progress_details(tasks: list[Any], count: int | None = None) -> str:
    """Where the run's tasks are, as a Markdown table, for the Web UI's current details: a
    for-each's items by status, a sub-plan's child run. Shows the first PROGRESS_ROWS of
    `tasks`, of `count` tasks in all (default: as many as `tasks`)."""
    count = len(tasks) if count is None else count
    rows = [
        f"| `{task.task_id}` | {task.status.value} | {_progress(task).replace('|', '/')} |"
        for task in tasks[:PROGRESS_ROWS]
    ]
    more = [f"\n... and {count - PROGRESS_ROWS} more tasks"] if count > PROGRESS_ROWS else []
    return "\n".join(["| task | status | progress |", "| --- | --- | --- |", *rows, *more])


ANSWER_MAX_CHARS = 2_000
GOAL_DETAILS = (
    "The LLM plans the goal (tasks may start while the plan streams in); once every task "
    "ended, it answers the goal (see Current Details) or asks for more work."
)


def answer_details(answer: Any, note: str) -> str:
    """The joiner's answer (or why there is none), atop the Web UI's current details."""
    if answer is None:
        return f"**Answer:** none ({note})"
    text = answer if isinstance(answer, str) else json.dumps(answer, indent=2, default=str)
    if len(text) > ANSWER_MAX_CHARS:
        text = text[:ANSWER_MAX_CHARS] + f"... ({len(text)} characters; `result ID` has it all)"
    return (
        f"**Answer:**\n\n{text}"
        if isinstance(answer, str)
        else f"**Answer:**\n\n```json\n{text}\n```"
    )


def _progress(task: Any) -> str:
    if task.items:
        return describe_items(task.items, sum(task.items.values()))
    if task.child_run_id:
        return f"child run `{task.child_run_id}`"
    if task.rounds:
        return f"{task.rounds} rounds"
    return task.output_summary or task.reason


def _condition(task: Any) -> str:
    """`; if <when>`, for a task with a condition."""
    when = getattr(task, "when", None)
    if not when:
        return ""
    # A double-backtick code span may hold the single backticks of JMESPath literals.
    return f"; if `` {when.replace('|', '/')} ``"


def run_memo(run_input: Any) -> dict[str, Any]:
    """A new run's memo (a RunInput's): its goal and, for a plan, a summary of its tasks."""
    memo: dict[str, Any] = {"goal": run_input.goal_text}
    if run_input.rerun_of:
        memo["rerun_of"] = run_input.rerun_of
    if run_input.plan is not None:
        memo["plan"] = plan_summary([task.label for task in run_input.plan.tasks])
    return memo


def run_search_attributes(run_input: Any) -> TypedSearchAttributes:
    """A new run's search attributes (a RunInput's): planning, its goal, its task count."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(STATUS, AgentStatus.PLANNING.value),
        SearchAttributePair(GOAL, run_input.goal_text[:GOAL_MAX_CHARS]),
    ]
    if run_input.plan is not None:
        pairs.append(SearchAttributePair(TASK_COUNT, len(run_input.plan.tasks)))
    if run_input.rerun_of:
        pairs.append(SearchAttributePair(RERUN_OF, run_input.rerun_of))
    return TypedSearchAttributes(pairs)
