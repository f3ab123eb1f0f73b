"""The run: plan the goal, wait for approval, run the plan's DAG in parallel, analyse failures.

Deterministic workflow code: time, sleep and ids come from `workflow.*`; everything that
touches the world is an activity.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    RetryState,
    TimeoutError,
)
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from activities.registry import ACTIONS
    from workflows.plan import Plan, Task, validate_action_config
    from workflows.references import UnresolvedReference, resolve
    from workflows.results import (
        FINISHED_TASK_STATUSES,
        ActionRequest,
        ActionResult,
        AnalysisReply,
        AnalysisRequest,
        ApprovalSignal,
        CancelSignal,
        DecisionAction,
        DecisionRecord,
        FailureDecision,
        Phase,
        PlanDraft,
        PlanRequest,
        RunInput,
        RunMetrics,
        RunResult,
        RunState,
        RunStatus,
        TaskFailure,
        TaskResult,
        TaskStatus,
        TokenUsage,
    )

WORKFLOW_NAME = "AgentRun"
PLAN_ROUNDS = 2
OUTPUT_SUMMARY_CHARS = 300
# Actions heartbeat every 2 s: a dead worker's attempt is retried elsewhere after this long.
ACTION_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
BLOCKING_STATUSES = {TaskStatus.FAILED, TaskStatus.SKIPPED, TaskStatus.CANCELLED}


class TaskFailed(Exception):
    """A round of attempts of one task ended in failure."""

    def __init__(self, failure: TaskFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def summarize(value: Any) -> Any:
    """A short preview of an output for the status query (results keep the whole output)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) <= OUTPUT_SUMMARY_CHARS:
        return value
    return text[:OUTPUT_SUMMARY_CHARS] + f"... ({len(text)} chars)"


@workflow.defn(name=WORKFLOW_NAME)
class AgentRunWorkflow:
    """One agent run, from goal (or plan) to result."""

    @workflow.init
    def __init__(self, run_input: RunInput) -> None:
        self._input = run_input
        self._options = run_input.options
        self._goal = run_input.goal_text
        self._plan: Plan | None = None
        self._phase = Phase.PLANNING
        self._tasks: dict[str, TaskResult] = {}
        self._outputs: dict[str, Any] = {}
        self._decisions: list[DecisionRecord] = []
        self._usage = TokenUsage()
        self._verdict: tuple[bool, ApprovalSignal] | None = None
        self._cancel: CancelSignal | None = None
        self._run_error: str | None = None
        self._status: RunStatus | None = None
        self._analyses = 0
        self._started_at = workflow.now()

    @workflow.run
    async def run(self, run_input: RunInput) -> RunResult:
        """Plan, approve, execute, and report."""
        plan = run_input.plan or await self._plan_goal()
        if plan is None:
            return self._finish(RunStatus.FAILED)
        self._adopt(plan)
        if self._options.approval == "plan":
            verdict = await self._await_plan_approval()
            if verdict is not None:
                return self._finish(verdict)
        await self._execute_plan()
        return self._finish(self._final_status())

    # ----- signals and queries -------------------------------------------------------------

    @workflow.signal(name="approve")
    def approve(self, signal: ApprovalSignal) -> None:
        """Approve the plan (approval mode `plan`)."""
        self._record_verdict(True, signal)

    @workflow.signal(name="reject")
    def reject(self, signal: ApprovalSignal) -> None:
        """Reject the plan: the run ends as `rejected`."""
        self._record_verdict(False, signal)

    @workflow.signal(name="cancel")
    def cancel(self, signal: CancelSignal) -> None:
        """Stop scheduling, cancel running tasks, record which tasks never ran."""
        if self._cancel is None:
            self._cancel = signal

    @workflow.query(name="status")
    def status(self) -> RunState:
        """The run as it is now, with outputs shortened to a summary."""
        tasks = [
            task.model_copy(update={"output": summarize(task.output)})
            for task in self._tasks.values()
        ]
        return RunState(
            workflow_id=workflow.info().workflow_id,
            goal=self._goal,
            phase=self._phase,
            status=self._status,
            error=self._run_error,
            plan=self._plan,
            tasks=tasks,
            decisions=self._decisions,
            usage=self._usage,
            cancel_requested=self._cancel is not None,
        )

    def _record_verdict(self, approved: bool, signal: ApprovalSignal) -> None:
        if self._phase not in (Phase.PLANNING, Phase.AWAITING_APPROVAL):
            workflow.logger.warning("plan verdict ignored: the run is %s", self._phase.value)
            return
        if self._verdict is None:
            self._verdict = (approved, signal)

    # ----- planning and approval -----------------------------------------------------------

    async def _plan_goal(self) -> Plan | None:
        request = PlanRequest(goal=self._goal)
        for _ in range(PLAN_ROUNDS):
            try:
                draft = await self._llm_activity("plan_goal", request, PlanDraft, "plan the goal")
            except ActivityError as error:
                self._run_error = f"planning failed: {_cause_message(error)}"
                return None
            self._usage = self._usage.plus(draft.usage)
            if draft.plan is not None:
                return draft.plan
            request = PlanRequest(goal=self._goal, previous_reply=draft.reply, errors=draft.errors)
        self._run_error = "the planner's reply was not a valid plan: " + "; ".join(request.errors)
        return None

    def _adopt(self, plan: Plan) -> None:
        self._plan = plan
        self._goal = self._goal or plan.goal
        for task in plan.tasks:
            self._tasks[task.id] = TaskResult(
                task_id=task.id, name=task.name, action_type=task.action_type
            )

    async def _await_plan_approval(self) -> RunStatus | None:
        """None when approved; otherwise the status the run ends with."""
        self._phase = Phase.AWAITING_APPROVAL
        await workflow.wait_condition(lambda: self._verdict is not None or self._cancel is not None)
        if self._cancel is not None:
            self._mark_never_ran(TaskStatus.CANCELLED, "the run was cancelled before approval")
            return RunStatus.CANCELLED
        approved, signal = self._verdict  # type: ignore[misc]
        if approved:
            return None
        who = f" by {signal.by}" if signal.by else ""
        self._run_error = f"plan rejected{who}: {signal.reason or 'no reason given'}"
        self._mark_never_ran(TaskStatus.SKIPPED, "the plan was rejected")
        return RunStatus.REJECTED

    # ----- execution -----------------------------------------------------------------------

    async def _execute_plan(self) -> None:
        self._phase = Phase.RUNNING
        running: dict[str, asyncio.Task[None]] = {}
        while not self._must_stop():
            self._skip_blocked_tasks()
            for task in self._ready_tasks():
                if len(running) >= self._options.max_parallel:
                    break
                self._tasks[task.id].status = TaskStatus.RUNNING
                running[task.id] = asyncio.create_task(self._run_task(task))
            if not running:
                break
            await workflow.wait_condition(
                lambda jobs=running: self._must_stop() or any(job.done() for job in jobs.values())
            )
            running = {task_id: job for task_id, job in running.items() if not job.done()}
        await self._stop_running(running)
        self._close_unfinished()

    def _must_stop(self) -> bool:
        return self._cancel is not None or self._run_error is not None

    def _ready_tasks(self) -> list[Task]:
        assert self._plan is not None
        return [
            task
            for task in self._plan.tasks
            if self._tasks[task.id].status == TaskStatus.PENDING
            and all(self._tasks[dep].status == TaskStatus.COMPLETED for dep in task.depends_on)
        ]

    def _skip_blocked_tasks(self) -> None:
        assert self._plan is not None
        for task in self._plan.tasks:
            result = self._tasks[task.id]
            blockers = [
                dep for dep in task.depends_on if self._tasks[dep].status in BLOCKING_STATUSES
            ]
            if result.status == TaskStatus.PENDING and blockers:
                blocker = self._tasks[blockers[0]]
                result.status = TaskStatus.SKIPPED
                result.reason = f"dependency {blocker.task_id!r} {blocker.status.value}"

    async def _stop_running(self, running: dict[str, asyncio.Task[None]]) -> None:
        for job in running.values():
            job.cancel()
        for task_id, job in running.items():
            try:
                await job
            except asyncio.CancelledError:
                result = self._tasks[task_id]
                result.status = TaskStatus.CANCELLED
                result.reason = self._stop_reason()
                result.finished_at = workflow.now()

    def _close_unfinished(self) -> None:
        if self._cancel is not None:
            self._mark_never_ran(TaskStatus.CANCELLED, "never ran: " + self._stop_reason())
        elif self._run_error is not None:
            self._mark_never_ran(TaskStatus.SKIPPED, "never ran: " + self._stop_reason())
        else:
            self._mark_never_ran(TaskStatus.SKIPPED, "never ran: its dependencies did not complete")

    def _mark_never_ran(self, status: TaskStatus, reason: str) -> None:
        for result in self._tasks.values():
            if result.status not in FINISHED_TASK_STATUSES:
                result.status = status
                result.reason = reason

    def _stop_reason(self) -> str:
        if self._cancel is not None:
            who = f" by {self._cancel.by}" if self._cancel.by else ""
            return f"run cancelled{who}" + (
                f": {self._cancel.reason}" if self._cancel.reason else ""
            )
        return self._run_error or ""

    # ----- one task --------------------------------------------------------------------------

    async def _run_task(self, task: Task) -> None:
        result = self._tasks[task.id]
        result.started_at = workflow.now()
        current, round_number = task, 1
        while True:
            result.status = TaskStatus.RUNNING
            try:
                output, attempts = await self._attempt(current, round_number)
            except TaskFailed as failed:
                result.attempts += failed.failure.attempts
                result.error = failed.failure
                next_task = await self._handle_failure(current, failed.failure)
                if next_task is None:
                    self._finish_task(result)
                    return
                current, round_number = next_task, round_number + 1
                continue
            result.attempts += attempts
            result.output, result.error = output, None
            result.status = TaskStatus.COMPLETED
            self._outputs[task.id] = output
            self._finish_task(result)
            return

    def _finish_task(self, result: TaskResult) -> None:
        result.finished_at = workflow.now()
        if result.started_at is not None:
            result.duration_seconds = (result.finished_at - result.started_at).total_seconds()

    async def _attempt(self, task: Task, round_number: int) -> tuple[Any, int]:
        """Run one round of a task (Temporal retries inside it); output and attempts used."""
        config = self._resolved_config(task)
        runners = {"wait": self._run_wait, "poll": self._run_poll}
        runner = runners.get(task.action_type, self._run_activity)
        return await runner(task, config, round_number)

    async def _run_wait(self, task: Task, config: Any, round_number: int) -> tuple[Any, int]:
        await workflow.sleep(config.seconds)
        return {"waited_seconds": config.seconds}, 1

    async def _run_activity(self, task: Task, config: Any, round_number: int) -> tuple[Any, int]:
        result = await self._execute_action(task, config, _activity_id(task, round_number))
        return result.output, result.attempt

    async def _run_poll(self, task: Task, config: Any, round_number: int) -> tuple[Any, int]:
        """Check with one activity each time, sleeping on durable timers in between."""
        deadline = workflow.now() + timedelta(seconds=config.timeout)
        checks = 0
        while True:
            checks += 1
            activity_id = f"{_activity_id(task, round_number)}-check{checks}"
            check = (await self._execute_action(task, config, activity_id)).output
            if check["done"]:
                return check["response"], 1
            remaining = (deadline - workflow.now()).total_seconds()
            if remaining <= 0:
                message = (
                    f"not done after {config.timeout:g}s and {checks} checks: {config.until!r} "
                    f"never became true; last response: {summarize(check['response'])}"
                )
                raise TaskFailed(_failure(message, "PollTimeout"))
            await workflow.sleep(min(config.interval, remaining))

    async def _execute_action(self, task: Task, config: Any, activity_id: str) -> ActionResult:
        request = ActionRequest(
            task_id=task.id,
            action_type=task.action_type,
            config=config.model_dump(by_alias=True, mode="json"),
        )
        try:
            return await workflow.execute_activity(
                task.action_type,
                request,
                result_type=ActionResult,
                activity_id=activity_id,
                summary=task.label,
                start_to_close_timeout=self._task_timeout(task, config),
                retry_policy=self._retry_policy(),
                heartbeat_timeout=ACTION_HEARTBEAT_TIMEOUT,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        except ActivityError as error:
            if isinstance(error.cause, CancelledError):
                raise asyncio.CancelledError() from error
            raise TaskFailed(self._failure_from(error)) from None

    def _resolved_config(self, task: Task) -> Any:
        """The task's config with references resolved, validated again."""
        raw_config = task.action_config.model_dump(by_alias=True, mode="json")
        try:
            resolved = resolve(raw_config, self._outputs)
            return validate_action_config(task.action_type, resolved, task.id)
        except UnresolvedReference as error:
            raise TaskFailed(_failure(str(error), "UnresolvedReference")) from None
        except ValueError as error:
            raise TaskFailed(_failure(str(error), "InvalidConfig")) from None

    def _task_timeout(self, task: Task, config: Any) -> timedelta:
        seconds = (
            self._options.task_timeout_seconds
            or config.attempt_timeout_seconds()
            or ACTIONS[task.action_type].default_timeout_seconds
        )
        return timedelta(seconds=seconds)

    def _retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            initial_interval=timedelta(seconds=self._options.retry_initial_seconds),
            backoff_coefficient=self._options.retry_backoff,
            maximum_interval=timedelta(seconds=self._options.retry_max_interval_seconds),
            maximum_attempts=self._options.max_retries + 1,
        )

    def _failure_from(self, error: ActivityError) -> TaskFailure:
        cause = error.cause
        exhausted = error.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED
        attempts = self._options.max_retries + 1 if exhausted else 1
        if isinstance(cause, ApplicationError):
            details = cause.details[0] if cause.details else {}
            if isinstance(details, dict):
                attempts = int(details.get("attempt", attempts))
            return TaskFailure(
                message=cause.message,
                error_type=cause.type or "ApplicationError",
                retryable=not cause.non_retryable,
                attempts=attempts,
            )
        if isinstance(cause, TimeoutError):
            return _failure(f"activity timed out ({cause.type.name})", "Timeout", True, attempts)
        return _failure(_cause_message(error), type(cause).__name__, True, attempts)

    # ----- failure analysis ------------------------------------------------------------------

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
            note = f"no analysis ({_cause_message(error)})"
            return self._fallback_decision(task, note), "fallback"
        self._usage = self._usage.plus(reply.usage)
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

    async def _llm_activity(self, name: str, request: Any, result_type: type, summary: str) -> Any:
        return await workflow.execute_activity(
            name,
            request,
            result_type=result_type,
            summary=summary,
            start_to_close_timeout=timedelta(seconds=self._options.llm_timeout_seconds),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=2),
                maximum_attempts=self._options.llm_max_attempts,
            ),
        )

    # ----- result ----------------------------------------------------------------------------

    def _final_status(self) -> RunStatus:
        if self._cancel is not None:
            return RunStatus.CANCELLED
        if self._run_error is not None:
            return RunStatus.FAILED
        return RunStatus.COMPLETED

    def _finish(self, status: RunStatus) -> RunResult:
        self._status = status
        self._phase = Phase.FINISHED
        finished_at = workflow.now()
        tasks = list(self._tasks.values())
        return RunResult(
            workflow_id=workflow.info().workflow_id,
            goal=self._goal,
            status=status,
            error=self._run_error,
            plan=self._plan,
            tasks=tasks,
            decisions=self._decisions,
            usage=self._usage,
            metrics=compute_metrics(tasks),
            started_at=self._started_at,
            finished_at=finished_at,
            duration_seconds=(finished_at - self._started_at).total_seconds(),
        )


def compute_metrics(tasks: list[TaskResult]) -> RunMetrics:
    """Counts by status, success rate, mean duration of the tasks that ran."""
    counts = {status: sum(1 for t in tasks if t.status == status) for status in TaskStatus}
    durations = [t.duration_seconds for t in tasks if t.duration_seconds is not None]
    return RunMetrics(
        total_tasks=len(tasks),
        completed=counts[TaskStatus.COMPLETED],
        failed=counts[TaskStatus.FAILED],
        skipped=counts[TaskStatus.SKIPPED],
        cancelled=counts[TaskStatus.CANCELLED],
        success_rate=counts[TaskStatus.COMPLETED] / len(tasks) if tasks else 0.0,
        average_task_duration_seconds=sum(durations) / len(durations) if durations else None,
        total_attempts=sum(t.attempts for t in tasks),
    )


def _failure(
    message: str, error_type: str, retryable: bool = False, attempts: int = 1
) -> TaskFailure:
    return TaskFailure(
        message=message, error_type=error_type, retryable=retryable, attempts=attempts
    )


def _activity_id(task: Task, round_number: int) -> str:
    """Activity ids read like the plan in the Web UI: the task id, then the round."""
    return task.id if round_number == 1 else f"{task.id}-round{round_number}"


def _cause_message(error: ActivityError) -> str:
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or error)
