"""Sub-plans: a `sub_plan` task runs a plan of its own (inline, or planned from a goal) as a
child run. The child sees the task's `inputs` as `{{ inputs.<name><path> }}`, filled in when
it starts. Pure functions: safe in workflow code."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from agentic.core.plan import Plan, Task, filled_tasks
from agentic.core.references import (
    INPUT_REFERENCE,
    UnresolvedReference,
    fill_matches,
    follow_or_null,
    iter_strings,
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


def _filled(value: Any, inputs: Mapping[str, Any]) -> Any:
    def resolve(match: re.Match[str]) -> Any:
        if match["name"] not in inputs:
            given = ", ".join(sorted(inputs)) or "none"
            raise UnresolvedReference(
                f"{match.group(0)}: no input {match['name']!r} (inputs given: {given})"
            )
        return follow_or_null(inputs[match["name"]], match["path"])

    return fill_matches(value, INPUT_REFERENCE, resolve)


def bind_inputs(plan: Plan, inputs: Mapping[str, Any]) -> Plan:
    """The plan with `{{ inputs... }}` filled from `inputs` in every task's config and
    for_each; UnresolvedReference names an input that was not given, ValueError a config
    that is no longer valid once filled."""
    if not plan_input_names(plan):
        return plan
    tasks = filled_tasks(plan.tasks, lambda value: _filled(value, inputs))
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


MAX_TEMPLATE_NESTING = 8


def with_templates(plan: Plan, load: Callable[[str], Plan], nesting: int = 0) -> Plan:
    """The plan with each `sub_plan` of a `template` given that template's plan, its params
    bound (and the templates it uses in turn); ValueError names the task and what is wrong."""
    if not uses_templates(plan):
        return plan
    if nesting > MAX_TEMPLATE_NESTING:
        raise ValueError(f"templates nest more than {MAX_TEMPLATE_NESTING} deep (one uses itself?)")
    tasks = []
    for task in plan.tasks:
        config = task.action_config
        name = getattr(config, "template", None)
        inline = config.child_plan() if name is None else None
        if name is None and inline is None:
            tasks.append(task)
            continue
        try:
            if name is not None:
                child = load(name).with_params(getattr(config, "params", None) or {})
            else:
                child = Plan.model_validate(inline)
            child = with_templates(child, load, nesting + 1)
        except ValueError as error:
            raise ValueError(f"task {task.id!r}: template {name}: {error}" if name else
                             f"task {task.id!r}: {error}") from None  # fmt: skip
        expanded = config.model_dump(by_alias=True, mode="json", exclude={"template", "params"})
        expanded["plan"] = child.model_dump(by_alias=True, mode="json")
        tasks.append(task.with_config(expanded))
    return Plan.model_validate({**plan.model_dump(by_alias=True, exclude={"tasks"}),
                                "tasks": tasks})  # fmt: skip


def uses_templates(plan: Plan) -> bool:
    """Whether a `sub_plan` of the plan (or of its inline sub-plans) names a template."""
    for task in plan.tasks:
        if getattr(task.action_config, "template", None):
            return True
        inline = task.action_config.child_plan()
        if inline is not None and uses_templates(Plan.model_validate(inline)):
            return True
    return False
