"""Which tasks wait for a person in approval mode `risky`: the plan marks them
(`requires_approval`), or their action's risk rule says so (see each spec's `risk` and
`risk_check`)."""

from __future__ import annotations

from typing import Any

from core.actions.base import RiskCheck
from core.plan import Task
from core.registry import ACTIONS


def risk_reason(task: Task, config: Any = None) -> str:
    """Why `task` needs approval before it runs ("" when it does not), from its config (the
    resolved one when known: clearer messages). A risk that depends on the world is
    `risk_check`'s."""
    if task.requires_approval:
        return "the plan marks it requires_approval"
    rule = ACTIONS[task.action_type].risk
    return rule(config if config is not None else task.action_config) if rule else ""


def risk_check(task: Task, config: Any = None) -> RiskCheck | None:
    """The look at the world that decides whether the task is risky, if its action has one."""
    rule = ACTIONS[task.action_type].risk_check
    return rule(config if config is not None else task.action_config) if rule else None


def describe_risks(tasks: list[Task]) -> dict[str, str]:
    """For a plan, the tasks that will (or may) wait for approval, with why."""
    risks = {}
    for task in tasks:
        reason = risk_reason(task)
        check = None if reason else risk_check(task)
        if reason:
            risks[task.id] = reason
        elif check is not None:
            risks[task.id] = f"only if {check.condition}"
    return risks
