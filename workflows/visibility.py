"""What the Temporal Web UI and `temporal workflow list --query` can see of a run.

Search attributes (registered by the worker and by `cli.py server`):
    AgentStatus     Keyword  planning | awaiting_approval | running | paused |
                             completed | failed | cancelled | rejected
    AgentGoal       Text     the goal
    AgentTaskCount  Int      tasks in the plan
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

STATUS = SearchAttributeKey.for_keyword("AgentStatus")
GOAL = SearchAttributeKey.for_text("AgentGoal")
TASK_COUNT = SearchAttributeKey.for_int("AgentTaskCount")
SEARCH_ATTRIBUTES = {STATUS.name: "Keyword", GOAL.name: "Text", TASK_COUNT.name: "Int"}


class AgentStatus(StrEnum):
    """The values of the AgentStatus search attribute."""

    PLANNING = "planning"
    AWAITING_APPROVAL = "awaiting_approval"
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
        f"{', '.join(task.depends_on)}{_condition(task)} |"
        for task in plan.tasks[:limit]
    ]
    more = [f"\n... and {len(plan.tasks) - limit} more tasks"] if len(plan.tasks) > limit else []
    header = ["| task | action | what | after |", "| --- | --- | --- | --- |"]
    return "\n".join([*header, *rows, *more])


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
    return TypedSearchAttributes(pairs)
