"""Running one round of a task: resolve its references, then an activity, a timer or a poll.

A mixin of the AgentRun workflow (deterministic code).
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
    from workflows.analysis import cause_message
    from workflows.plan import Task, validate_action_config
    from workflows.references import UnresolvedReference, resolve
    from workflows.results import ActionRequest, ActionResult, RunOptions, TaskFailure

# Actions heartbeat every 2 s: a dead worker's attempt is retried elsewhere after this long.
ACTION_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
OUTPUT_SUMMARY_CHARS = 300


class TaskFailed(Exception):
    """A round of attempts of one task ended in failure."""

    def __init__(self, failure: TaskFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def failure(
    message: str, error_type: str, retryable: bool = False, attempts: int = 1
) -> TaskFailure:
    """A task failure found by the workflow itself."""
    return TaskFailure(
        message=message, error_type=error_type, retryable=retryable, attempts=attempts
    )


def summarize(value: Any) -> Any:
    """A short preview of an output for the status query and messages."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) <= OUTPUT_SUMMARY_CHARS:
        return value
    return text[:OUTPUT_SUMMARY_CHARS] + f"... ({len(text)} chars)"


def round_activity_id(task: Task, round_number: int) -> str:
    """Activity ids read like the plan in the Web UI: the task id, then the round.

    ":" cannot appear in a task id, so these never clash with another task's ids."""
    return task.id if round_number == 1 else f"{task.id}:round{round_number}"


class ActionExecution:
    """Runs a round of a task; Temporal's retry policy retries inside it."""

    _options: RunOptions
    _outputs: dict[str, Any]

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
        result = await self._execute_action(task, config, round_activity_id(task, round_number))
        return result.output, result.attempt

    async def _run_poll(self, task: Task, config: Any, round_number: int) -> tuple[Any, int]:
        """Check with one activity each time, sleeping on durable timers in between."""
        deadline = workflow.now() + timedelta(seconds=config.timeout)
        checks = 0
        while True:
            checks += 1
            check_id = f"{round_activity_id(task, round_number)}:check{checks}"
            check = (await self._execute_action(task, config, check_id)).output
            if check["done"]:
                return check["response"], 1
            remaining = (deadline - workflow.now()).total_seconds()
            if remaining <= 0:
                message = (
                    f"not done after {config.timeout:g}s and {checks} checks: {config.until!r} "
                    f"never became true; last response: {summarize(check['response'])}"
                )
                raise TaskFailed(failure(message, "PollTimeout"))
            await workflow.sleep(min(config.interval, remaining))

    async def _execute_action(
        self, task: Task, config: Any, activity_id: str, summary: str = ""
    ) -> ActionResult:
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
                summary=summary or task.label,
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
            raise TaskFailed(failure(str(error), "UnresolvedReference")) from None
        except ValueError as error:
            raise TaskFailed(failure(str(error), "InvalidConfig")) from None

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
            return failure(f"activity timed out ({cause.type.name})", "Timeout", True, attempts)
        return failure(cause_message(error), type(cause).__name__, True, attempts)
