"""People in the loop, as pure functions: what an edit makes of the plan, and how a verdict
reads. No Temporal calls here."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from agentic.core.messages import ApprovalSignal, EditRequest, Phase, TaskResult, TaskStatus
from agentic.core.plan import Plan, format_validation_error


@dataclass(frozen=True)
class Waiting:
    """What waits for a person now: the plan (and whether a verdict on it came), the tasks
    (and which of them got a verdict)."""

    phase: Phase
    plan: Plan | None
    plan_verdict_given: bool
    tasks: dict[str, TaskResult]
    task_verdicts: frozenset[str]


def edited_plan(waiting: Waiting, request: EditRequest) -> tuple[Plan, str]:
    """The plan after the edit, and what was edited ("plan" or a task id); a ValueError saying
    why when the edit is refused. Only what waits for approval, with no verdict yet, may be
    edited: nothing is approved unseen."""
    if waiting.phase == Phase.FINISHED or waiting.plan is None:
        raise ValueError(f"the run is {waiting.phase.value}: there is no plan to edit")
    plan_waits = waiting.phase == Phase.AWAITING_APPROVAL and not waiting.plan_verdict_given
    if request.plan is not None:
        if not plan_waits:
            raise ValueError(
                "the whole plan can only be replaced while it waits for approval "
                f"(the run is {waiting.phase.value})"
            )
        try:
            return Plan.model_validate(request.plan), "plan"
        except ValidationError as error:
            raise ValueError(f"invalid plan: {format_validation_error(error)}") from None
    if request.task is None or request.config is None:
        raise ValueError("give a whole plan, or a task and its new config")
    task = waiting.plan.by_id.get(request.task)
    if task is None:
        raise ValueError(f"no task {request.task!r}; tasks: {', '.join(waiting.tasks)}")
    status = waiting.tasks[task.id].status
    task_waits = status == TaskStatus.WAITING_APPROVAL and task.id not in waiting.task_verdicts
    if not (plan_waits or task_waits):
        raise ValueError(
            f"task {task.id!r} is {status.value}: a task can be edited only while it (or the "
            "plan) waits for approval"
        )
    return waiting.plan.replace_task(task.with_config(request.config)), task.id


def rejection(signal: ApprovalSignal) -> str:
    """`rejected by bob: too risky`, or `timed out: no approval within 60s`."""
    if signal.by == "timeout":
        return f"timed out: {signal.reason}"
    who = f" by {signal.by}" if signal.by else ""
    return f"rejected{who}: {signal.reason or 'no reason given'}"
