"""Failure analysis: when a task has used its retries, decide what happens next.

A mixin of the AgentRun workflow (deterministic code): it asks the `analyze_failure` activity,
keeps the number of analyses bounded, falls back to a rule of its own, and applies decisions.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from workflows.plan import Plan, Task
    from workflows.results import (
        AnalysisReply,
        AnalysisRequest,
        DecisionAction,
        DecisionRecord,
        FailureDecision,
        RunOptions,
        TaskFailure,
        TaskResult,
        TaskStatus,
        TokenUsage,
    )


def cause_message(error: ActivityError) -> str:
    """The message of an activity's failure, without Temporal's wrapping."""
    cause = error.cause
    message = getattr(cause, "message", None)
    return message if isinstance(message, str) else str(cause or error)


def _no_analysis_note(error: ActivityError) -> str:
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == "LLMNotConfigured":
        return "no analysis: no LLM is configured"
    return f"no analysis ({cause_message(error)})"


def usage_spent_by(error: ActivityError) -> TokenUsage:
    """The tokens a failed LLM activity spent, carried in its error's details."""
    cause = error.cause
    details = getattr(cause, "details", None) if isinstance(cause, ApplicationError) else None
    first = details[0] if details else None
    if isinstance(first, dict) and isinstance(first.get("usage"), dict):
        return TokenUsage.model_validate(first["usage"])
    return TokenUsage()


class FailureAnalysis:
    """Decides and applies `retry`, `modify`, `skip` or `fail_workflow` for failed tasks."""

    _options: RunOptions
    _plan: Plan | None
    _goal: str
    _tasks: dict[str, TaskResult]
    _outputs: dict[str, Any]
    _decisions: list[DecisionRecord]
    _usage: TokenUsage
    _run_error: str | None
    _analyses: int

    async def _llm_activity(self, name: str, request: Any, result_type: type, summary: str) -> Any:
        raise NotImplementedError

    async def _handle_failure(self, task: Task, failure: TaskFailure) -> Task | None:
        """Ask for a decision and apply it: the task to run again, or None when it is over."""
        result = self._tasks[task.id]
        result.status = TaskStatus.ANALYZING
        decision, source = await self._decide(task, failure)
        applied, note, next_task = self._apply(task, decision)
        self._decisions.append(
            DecisionRecord(
                task_id=task.id,
                decision=decision,
                applied=applied,
                source=source,
                error=failure,
                at=workflow.now(),
                note=note,
            )
        )
        if applied == "skip":
            result.status = TaskStatus.SKIPPED if source == "analyst" else TaskStatus.FAILED
            result.reason = decision.reason
        elif applied == "fail_workflow":
            result.status = TaskStatus.FAILED
            result.reason = decision.reason
            if self._run_error is None:
                self._run_error = f"task {task.id!r} failed: {failure.message}"
        return next_task

    def _apply(
        self, task: Task, decision: FailureDecision
    ) -> tuple[DecisionAction, str, Task | None]:
        """The action really applied, a note on why it differs, and the task to run next."""
        if decision.action == "retry":
            return "retry", "", task
        if decision.action == "modify":
            try:
                modified = task.with_config(decision.new_config or {})
                assert self._plan is not None
                self._plan = self._plan.replace_task(modified)
            except ValueError as error:
                return (
                    self._fallback_action(task),
                    f"the modified config was invalid: {error}",
                    None,
                )
            return "modify", "", modified
        if decision.action == "skip" and task.critical:
            return "fail_workflow", "skip is not allowed for a critical task", None
        return decision.action, "", None

    def _fallback_action(self, task: Task) -> DecisionAction:
        return "fail_workflow" if task.critical else "skip"

    async def _decide(self, task: Task, failure: TaskFailure) -> tuple[FailureDecision, str]:
        budget_note = self._analysis_budget_note(task)
        if budget_note:
            return self._fallback_decision(task, budget_note), "fallback"
        self._analyses += 1
        request = self._analysis_request(task, failure)
        try:
            reply = await self._llm_activity(
                "analyze_failure", request, AnalysisReply, f"analyse failure of {task.label}"
            )
        except ActivityError as error:
            if isinstance(error.cause, CancelledError):
                raise asyncio.CancelledError() from error
            note = _no_analysis_note(error)
            return self._fallback_decision(task, note), "fallback"
        return reply.decision, "analyst"

    def _analysis_budget_note(self, task: Task) -> str:
        if not self._options.analyze_failures:
            return "failure analysis is off for this run"
        done_for_task = sum(1 for record in self._decisions if record.task_id == task.id)
        if done_for_task >= self._options.max_analyses_per_task:
            return f"task reached its limit of {self._options.max_analyses_per_task} analyses"
        if self._analyses >= self._options.max_analyses_per_run:
            return f"run reached its limit of {self._options.max_analyses_per_run} analyses"
        return ""

    def _fallback_decision(self, task: Task, note: str) -> FailureDecision:
        action = self._fallback_action(task)
        consequence = "the run fails" if action == "fail_workflow" else "the run goes on without it"
        kind = "critical" if task.critical else "non-critical"
        return FailureDecision(action=action, reason=f"{note}; {kind} task, so {consequence}")

    def _analysis_request(self, task: Task, failure: TaskFailure) -> AnalysisRequest:
        assert self._plan is not None
        upstream = {dep: self._outputs.get(dep) for dep in sorted(self._plan.ancestors(task.id))}
        allowed: list[DecisionAction] = ["retry", "modify", "fail_workflow"]
        if not task.critical:
            allowed.insert(2, "skip")
        return AnalysisRequest(
            goal=self._goal,
            task=task.model_dump(mode="json", by_alias=True),
            failure=failure,
            upstream_outputs=upstream,
            previous_decisions=[r.decision for r in self._decisions if r.task_id == task.id],
            allowed_actions=allowed,
        )
