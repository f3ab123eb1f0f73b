"""Failure decisions, as pure functions: the analyst's budget, the engine's fallback rule, and
what applying a decision does to the plan and the task. No Temporal calls here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentic.core.foreach import parent_of
from agentic.core.messages import (
    AnalysisRequest,
    DecisionAction,
    DecisionRecord,
    FailureDecision,
    RunOptions,
    TaskFailure,
    TaskStatus,
)
from agentic.core.plan import Plan, Task
from agentic.core.policy import destinations
from agentic.core.secrets import redacted, unredacted


@dataclass(frozen=True)
class Applied:
    """A decision as applied: the action taken, a note when the engine's own rule replaced the
    decision (and why), the task to run again (None when the task is over) and the plan after
    it."""

    action: DecisionAction
    note: str
    next_task: Task | None
    plan: Plan

    @property
    def by_engine_rule(self) -> bool:
        """True when the engine's rule, not the decision as made, was applied."""
        return bool(self.note)


def budget_note(
    options: RunOptions, decisions: list[DecisionRecord], analyses: int, task_id: str
) -> str:
    """Why the analyst is not asked this time ("" when it is)."""
    if not options.analyze_failures:
        return "failure analysis is off for this run"
    done_for_task = sum(1 for record in decisions if record.task_id == task_id)
    if done_for_task >= options.max_analyses_per_task:
        return f"task reached its limit of {options.max_analyses_per_task} analyses"
    if analyses >= options.max_analyses_per_run:
        return f"run reached its limit of {options.max_analyses_per_run} analyses"
    return ""


def fallback_action(task: Task) -> DecisionAction:
    """The engine's own rule: a critical task fails the run; another one is given up."""
    return "fail_workflow" if task.critical else "skip"


def fallback_decision(task: Task, note: str) -> FailureDecision:
    """The fallback rule as a decision, saying why it applies and what follows."""
    action = fallback_action(task)
    consequence = "the run fails" if action == "fail_workflow" else "the run goes on without it"
    kind = "critical" if task.critical else "non-critical"
    return FailureDecision(action=action, reason=f"{note}; {kind} task, so {consequence}")


def apply_decision(plan: Plan, task: Task, decision: FailureDecision) -> Applied:
    """What `decision` does: retry as is, run a modified config, or end the task."""
    if decision.action == "retry":
        return Applied("retry", "", task, plan)
    if decision.action == "modify":
        original = task.action_config.model_dump(by_alias=True, mode="json")
        new_config = decision.new_config or {}
        try:
            modified = task.with_config(new_config)
            # What the analyst saw as [redacted] goes back in, unless the task now sends
            # elsewhere: a credential never follows a changed destination.
            sends_to = destinations(task.action_type, task.action_config)
            if sends_to is not None and sends_to == destinations(
                modified.action_type, modified.action_config
            ):
                modified = task.with_config(unredacted(new_config, original))
            return Applied("modify", "", modified, plan.replace_task(modified))
        except ValueError as error:
            note = f"the modified config was invalid: {error}"
            return Applied(fallback_action(task), note, None, plan)
    if decision.action == "skip" and task.critical:
        return Applied("fail_workflow", "skip is not allowed for a critical task", None, plan)
    return Applied(decision.action, "", None, plan)  # skip, fail_workflow, replan: it ends


def ended_status(applied: DecisionAction, source: str) -> TaskStatus | None:
    """The task's status once a decision ended it (None while it runs again): a skip by the
    analyst is `skipped`; given up by the engine's own rule (source `fallback`), it is
    `failed`."""
    if applied == "skip":
        return TaskStatus.SKIPPED if source == "analyst" else TaskStatus.FAILED
    if applied in ("fail_workflow", "replan"):
        return TaskStatus.FAILED
    return None


def ending(
    applied: Applied, decision: FailureDecision, source: str
) -> tuple[TaskStatus, str] | None:
    """The task's status and reason once `applied` ended it (None while it runs again). When
    the engine's rule replaced the decision, that rule decided, and its note says why."""
    decided_by = "fallback" if applied.by_engine_rule else source
    status = ended_status(applied.action, decided_by)
    if status is None:
        return None
    return status, applied.note or decision.reason


def allowed_actions(task: Task, may_replan: bool = False) -> list[DecisionAction]:
    """What the analyst may decide for `task`: skip only for a non-critical one; replan when
    the run may still patch its plan (never for a for-each's item: its for-each is the plan's
    task)."""
    allowed: list[DecisionAction] = ["retry", "modify", "fail_workflow"]
    if not task.critical:
        allowed.insert(2, "skip")
    if may_replan and parent_of(task.id) is None:
        allowed.append("replan")
    return allowed


def analysis_request(
    goal: str,
    plan: Plan,
    task: Task,
    failure: TaskFailure,
    outputs: dict[str, Any],
    decisions: list[DecisionRecord],
    may_replan: bool = False,
) -> AnalysisRequest:
    """What the analyst is told: the task, its failure, upstream outputs, earlier decisions;
    values of keys that look secret (Authorization, Cookie, token, ...) redacted."""
    # A for-each's item (`orders[3]`) has its task's upstream.
    in_plan = parent_of(task.id) or task.id
    upstream = {dep: redacted(outputs.get(dep)) for dep in sorted(plan.ancestors(in_plan))}
    return AnalysisRequest(
        goal=goal,
        task=redacted(task.model_dump(mode="json", by_alias=True)),
        failure=failure,
        upstream_outputs=upstream,
        previous_decisions=[r.decision for r in decisions if r.task_id == task.id],
        allowed_actions=allowed_actions(task, may_replan),
    )
