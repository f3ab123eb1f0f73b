"""Which tasks wait for a person in approval mode `risky`: the plan marks them
(`requires_approval`), or their action's risk rule says so (see each spec's `risk` and
`risk_check`)."""

from __future__ import annotations

from typing import Any

from agentic.core.actions.base import RiskCheck
from agentic.core.plan import Task
from agentic.core.registry import ACTIONS
from agentic.core.subplans import nested_plans


def risk_reason(task: Task, config: Any = None) -> str:
    """Why `task` needs approval before it runs ("" when it does not), from its config (the
    resolved one when known: clearer messages). A risk that depends on the world is
    `risk_of`'s. A rule that fails (a plug-in's bug) makes the task risky: a person decides."""
    if task.requires_approval:
        return "the plan marks it requires_approval"
    rule = ACTIONS[task.action_type].risk
    try:
        return rule(config if config is not None else task.action_config) if rule else ""
    except Exception as error:
        return f"the risk rule of {task.action_type} failed ({type(error).__name__}: {error})"


def risk_of(task: Task, config: Any = None) -> tuple[str, RiskCheck | None]:
    """Why the task needs approval, or else the look at the world that decides it (its
    action's `risk_check`); a check rule that fails makes the task risky."""
    reason = risk_reason(task, config)
    rule = ACTIONS[task.action_type].risk_check
    if reason or rule is None:
        return reason, None
    try:
        return "", rule(config if config is not None else task.action_config)
    except Exception as error:
        return (
            f"the risk check of {task.action_type} failed ({type(error).__name__}: {error})",
            None,
        )


def edited_risk(task: Task, config: Any = None) -> str:
    """What a task that waits for approval says after a person edited its config: the risk of
    the config as edited (its check is not made again: approving runs the task)."""
    reason, check = risk_of(task, config)
    if reason:
        return reason
    if check is not None:
        return f"{check.reason} (if {check.condition})"
    return "edited; not risky as edited"


def describe_risks(tasks: list[Task]) -> dict[str, str]:
    """For a plan, the tasks that will (or may) wait for approval, with why."""
    risks = {}
    for task in tasks:
        reason, check = risk_of(task)
        if reason:
            risks[task.id] = reason
        elif check is not None:
            risks[task.id] = f"only if {check.condition}"
        for nested in nested_plans(task):  # a sub-plan's tasks, as `approve --task` names them
            risks.update({f"{task.id}.{inner}": why
                          for inner, why in describe_risks(nested.tasks).items()})  # fmt: skip
    return risks
