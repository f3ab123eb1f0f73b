"""What the engine refuses in a plan before it runs: each action's `refusal` rule (a file path
out of the workspace), applied to new plans (the client, the planner, edits), never to runs
already recorded. Also where a config sends data (each action's `destinations`). What needs
the worker's view of the world (the network policy) is checked by the planner activity and,
for every plan, where the action connects."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agentic.core.plan import Plan, Task, misplaced_references
from agentic.core.registry import ACTIONS
from agentic.core.subplans import DEFAULT_MAX_DEPTH, depth_refusal


def config_refusal(action_type: str, config: Any) -> str:
    """Why a config is refused ("" when it is not); a rule that fails (a plug-in's bug)
    refuses, naming the failure."""
    rule = ACTIONS[action_type].refusal
    try:
        return rule(config) if rule else ""
    except Exception as error:
        return f"the refusal rule of {action_type} failed ({type(error).__name__}: {error})"


def destinations(action_type: str, config: Any) -> list[tuple[str, int]] | None:
    """The (host, port) a config sends data to ([] for an action that sends nowhere); None
    when the action's rule fails (a plug-in's bug): nowhere is known."""
    rule = ACTIONS[action_type].destinations
    try:
        return rule(config) if rule else []
    except Exception:
        return None


def refusals(tasks: Iterable[Task]) -> list[str]:
    """Why each of the tasks is refused, naming the task."""
    tasks = list(tasks)
    return [
        f"task {task.id!r}: {reason}"
        for task in tasks
        if (reason := config_refusal(task.action_type, task.action_config))
    ] + [problem for task in tasks for problem in misplaced_references(task)]


def plan_refusals(plan: Plan, max_depth: int = DEFAULT_MAX_DEPTH) -> list[str]:
    """Why each task of the plan is refused, naming the task, and why its sub-plans nest too
    deep."""
    too_deep = depth_refusal(plan, max_depth)
    return refusals(plan.tasks) + ([f"the plan: {too_deep}"] if too_deep else [])
