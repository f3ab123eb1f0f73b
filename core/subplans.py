"""Sub-plans: a `sub_plan` task runs a plan of its own (inline, or planned from a goal) as a
child run. The child sees the task's `inputs` as `{{ inputs.<name><path> }}`, filled in when
it starts. Pure functions: safe in workflow code."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from agentic.core.plan import Plan, Task
from agentic.core.references import (
    INPUT_REFERENCE,
    UnresolvedReference,
    follow_or_null,
    iter_strings,
    to_text,
)

DEFAULT_MAX_DEPTH = 3


def input_names(value: Any) -> set[str]:
    """The input names a config's strings refer to."""
    return {m["name"] for text in iter_strings(value) for m in INPUT_REFERENCE.finditer(text)}


def plan_input_names(plan: Plan) -> set[str]:
    """The inputs a plan's tasks refer to (in their configs and for_each)."""
    names: set[str] = set()
    for task in plan.tasks:
        names |= input_names(task.action_config.open_part()) | input_names(task.for_each)
    return names


def _fill(text: str, inputs: Mapping[str, Any]) -> Any:
    def value(match: re.Match[str]) -> Any:
        if match["name"] not in inputs:
            given = ", ".join(sorted(inputs)) or "none"
            raise UnresolvedReference(
                f"{match.group(0)}: no input {match['name']!r} (inputs given: {given})"
            )
        return follow_or_null(inputs[match["name"]], match["path"])

    whole = INPUT_REFERENCE.fullmatch(text.strip())
    if whole:
        return value(whole)
    return INPUT_REFERENCE.sub(lambda match: to_text(value(match)), text)


def _filled(value: Any, inputs: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return _fill(value, inputs)
    if isinstance(value, Mapping):
        return {key: _filled(entry, inputs) for key, entry in value.items()}
    if isinstance(value, list | tuple):
        return [_filled(entry, inputs) for entry in value]
    return value


def bind_inputs(plan: Plan, inputs: Mapping[str, Any]) -> Plan:
    """The plan with `{{ inputs... }}` filled from `inputs` in every task's config and
    for_each; UnresolvedReference names an input that was not given, ValueError a config
    that is no longer valid once filled."""
    if not plan_input_names(plan):
        return plan
    tasks = []
    for task in plan.tasks:
        planned = task.action_config
        config = planned.with_sealed(_filled(planned.open_part(), inputs))
        bound = task.with_config(config)
        if task.for_each is not None:
            bound = bound.model_copy(update={"for_each": _filled(task.for_each, inputs)})
        tasks.append(bound)
    return Plan.model_validate({"goal": plan.goal, "tasks": tasks})


def nested_plans(task: Task) -> Iterator[Plan]:
    """The inline plan a task runs as a child run (none for most tasks)."""
    inline = task.action_config.child_plan()
    if inline is not None:
        yield Plan.model_validate(inline)


def plan_depth(plan: Plan) -> int:
    """How deep runs nest for this plan: 1 for a plan without inline sub-plans."""
    return 1 + max(
        (plan_depth(nested) for task in plan.tasks for nested in nested_plans(task)), default=0
    )


def depth_refusal(plan: Plan, max_depth: int) -> str:
    """Why the plan's inline sub-plans nest too deep ("" when they do not)."""
    depth = plan_depth(plan)
    if depth - 1 <= max_depth:
        return ""
    return (
        f"its sub-plans nest {depth - 1} deep, more than max_depth ({max_depth}); flatten "
        "a level into its parent plan, or raise max_depth"
    )


def goal_with_inputs(goal: str, inputs: Mapping[str, Any] | None) -> str:
    """A child run's goal for the planner: the goal, and the inputs its plan may use."""
    if not inputs:
        return goal
    listed = "\n".join(f"- {{{{ inputs.{name} }}}} = {json.dumps(value, default=str)[:500]}"
                       for name, value in inputs.items())  # fmt: skip
    return f"{goal}\n\nInputs this plan may use (write them as shown):\n{listed}"
