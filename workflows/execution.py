"""Running one round of a task, in workflow code: resolve its references, then run it as its
action's spec says (an activity, a durable timer, or a poll loop). Everything it needs comes in
as arguments."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable, Mapping, Set
from dataclasses import dataclass
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
    from agentic.core.actions.base import ActionConfig, PollingConfig, TimerConfig
    from agentic.core.blobs import HISTORY_PAYLOAD_LIMIT_BYTES, encoded_size, holds_blobs
    from agentic.core.errors import ActionError, ErrorType
    from agentic.core.messages import (
        ActionRequest,
        ActionResult,
        ChildRerun,
        RunOptions,
        RunResult,
        TaskFailure,
    )
    from agentic.core.plan import Task, validate_action_config
    from agentic.core.references import (
        UnresolvedReference,
        referenced_tasks,
        resolve,
        resolve_absent,
    )
    from agentic.core.registry import ACTIONS
    from agentic.core.secrets import secret_reference_count
    from agentic.workflows.budgets import poll_interval, polls_exhausted

# Runs started before this patch poll as often and as long as their config says.
POLL_BOUNDS = "poll-bounds"
# Runs started before this patch run pure actions as regular activities.
LOCAL_PURE_ACTIONS = "local-pure-actions"
# Runs started before this patch run pure actions as local activities (when small).
INLINE_PURE_ACTIONS = "inline-pure-actions"
# Runs started before this patch run reads (GETs, read-only queries, file reads) as regular
# activities.
LOCAL_READS = "local-reads"
# A pure action whose config (references resolved) is larger runs as a regular activity: a
# local activity, or a computation in the workflow, holds the workflow task while it runs.
# These limits decide where recorded runs ran their actions: changing them (or what
# encoded_size, holds_blobs or secret_reference_count count) is a workflow change.
LOCAL_ACTIVITY_MAX_CONFIG_BYTES = 64 * 1024
# An output computed in the workflow that is larger is computed again by an activity, whose
# output goes to the blob store when it is over BLOB_THRESHOLD_BYTES (smaller ones stay in
# the run's state, whatever that setting).
INLINE_MAX_OUTPUT_BYTES = 64 * 1024
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


def cause_message(error: ActivityError) -> str:
    """The message of an activity's failure, without Temporal's wrapping."""
    return _message_of(error.cause, error)


def _message_of(cause: BaseException | None, fallback: BaseException) -> str:
    message = getattr(cause, "message", None)
    return message if isinstance(message, str) else str(cause or fallback)


def summarize(value: Any) -> Any:
    """A short preview of an output for the status query and messages."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) <= OUTPUT_SUMMARY_CHARS:
        return value
    return text[:OUTPUT_SUMMARY_CHARS] + f"... ({len(text)} chars)"


@dataclass(frozen=True)
class Parent:
    """What a child run needs of the run that starts it: how deep that run is, its options
    with the budgets it has left (None: the round's own options), what to tell it when the
    child starts (its workflow id) and ends (its result), and whether it is stopping (then a
    cancelled child is its doing). `ask` waits for the answer to the task's question (an
    `ask` config), for a question's round. `rerun`: in a rerun, how the child runs again (as a
    rerun of the child it ran before; None: from the start)."""

    depth: int = 0
    options_left: Callable[[], RunOptions | None] = lambda: None
    started: Callable[[str], None] = lambda child_id: None
    ended: Callable[[RunResult], None] = lambda result: None
    stopping: Callable[[], bool] = lambda: False
    ask: Callable[[Any], Awaitable[Any]] | None = None
    rerun: ChildRerun | None = None


def round_activity_id(task: Task, round_number: int, loop_round: int = 0) -> str:
    """Activity ids read like the plan in the Web UI: the task id, a loop's round after the
    first (`:loop2`), then the round of attempts after a failure decision (`:round2`).

    ":" cannot appear in a task id, so these never clash with another task's ids."""
    base = task.id if loop_round <= 1 else f"{task.id}:loop{loop_round}"
    return base if round_number == 1 else f"{base}:round{round_number}"


def resolved_config(
    task: Task, outputs: Mapping[str, Any], absent: Set[str] = frozenset()
) -> tuple[ActionConfig, dict[str, Any]]:
    """The task's config with references resolved, validated again (TaskFailed if it cannot
    be resolved or is no longer valid), and the outputs its activity must resolve it from.
    References to the tasks in `absent` (skipped by their condition) are null.

    Those are empty unless the config refers to outputs kept in the blob store: then the config
    is returned as planned with the outputs it refers to, and its activity resolves it (the
    workflow never loads a stored value)."""
    planned = task.action_config
    raw_config = planned.open_part()
    referenced = {task_id: outputs[task_id] for task_id in referenced_tasks(raw_config)
                  if task_id in outputs and task_id not in absent}  # fmt: skip
    try:
        if any(holds_blobs(output) for output in referenced.values()):
            if not absent & referenced_tasks(raw_config):
                return planned, referenced
            partly = planned.with_sealed(resolve_absent(raw_config, absent))
            return validate_action_config(task.action_type, partly, task.id), referenced
        resolved = planned.with_sealed(resolve(raw_config, outputs, absent))
        return validate_action_config(task.action_type, resolved, task.id), {}
    except UnresolvedReference as error:
        raise TaskFailed(failure(str(error), ErrorType.UNRESOLVED_REFERENCE)) from None
    except ValueError as error:
        raise TaskFailed(failure(str(error), ErrorType.INVALID_CONFIG)) from None


async def run_timer(
    task: Task,
    config: TimerConfig,
    activity_id: str,
    options: RunOptions,
    outputs: Any,
    parent: Parent,
) -> tuple[Any, int]:
    await workflow.sleep(config.seconds)
    return {"waited_seconds": config.seconds}, 1


async def run_activity(
    task: Task,
    config: Any,
    activity_id: str,
    options: RunOptions,
    outputs: dict[str, Any],
    parent: Parent,
) -> tuple[Any, int]:
    allow_local = True
    if _computes_inline(task, config, outputs):
        output = _compute_inline(task, config)
        if encoded_size(output) <= INLINE_MAX_OUTPUT_BYTES:
            return output, 1
        allow_local = False
    result = await execute_action(
        task, config, activity_id, options, outputs=outputs, allow_local=allow_local
    )
    return result.output, result.attempt


def _computes_inline(task: Task, config: ActionConfig, outputs: dict[str, Any]) -> bool:
    """A pure action with a `compute` function, a small config, no secret and nothing to load
    from the blob store is computed by the workflow itself (see ActionSpec.compute)."""
    spec = ACTIONS[task.action_type]
    if spec.compute is None or outputs:
        return False
    planned = task.action_config.model_dump(by_alias=True, mode="json")
    return (
        secret_reference_count(planned) == 0
        and encoded_size(config.model_dump(by_alias=True, mode="json"))
        <= LOCAL_ACTIVITY_MAX_CONFIG_BYTES
        and workflow.patched(INLINE_PURE_ACTIONS)
    )


def _compute_inline(task: Task, config: ActionConfig) -> Any:
    """The action's output, computed here; TaskFailed as its activity would fail, except that
    a failure is never retried (the same computation fails the same way). Any other exception
    is a bug: it fails the workflow task, which Temporal retries, so the run holds until a
    fixed worker computes it (had the task failed, the fix would change recorded runs)."""
    compute = ACTIONS[task.action_type].compute
    assert compute is not None
    try:
        return compute(config)
    except ActionError as error:
        raise TaskFailed(failure(error.message, error.error_type)) from None


async def run_poll(
    task: Task,
    config: PollingConfig,
    activity_id: str,
    options: RunOptions,
    outputs: dict[str, Any],
    parent: Parent,
) -> tuple[Any, int]:
    """Check with one activity each time, sleeping on durable timers in between."""
    deadline = workflow.now() + timedelta(seconds=config.timeout)
    bounded = workflow.patched(POLL_BOUNDS)
    checks = 0
    while True:
        limit = polls_exhausted(checks, options) if bounded else None
        if limit:
            message = f"not done after {checks} checks: {limit}"
            raise TaskFailed(failure(message, ErrorType.POLL_LIMIT))
        checks += 1
        check_id = f"{activity_id}:check{checks}"
        checked = await execute_action(task, _config(config), check_id, options, outputs=outputs)
        check = checked.output
        if check["done"]:
            return check["response"], 1
        remaining = (deadline - workflow.now()).total_seconds()
        if remaining <= 0:
            message = (
                f"not done after {config.timeout:g}s and {checks} checks: {config.until!r} "
                f"never became true; last response: {summarize(check['response'])}"
            )
            raise TaskFailed(failure(message, ErrorType.POLL_TIMEOUT))
        interval = poll_interval(config.interval, options) if bounded else config.interval
        await workflow.sleep(min(interval, remaining))


def _config(config: Any) -> ActionConfig:
    assert isinstance(config, ActionConfig)
    return config


async def execute_action(
    task: Task,
    config: ActionConfig,
    activity_id: str,
    options: RunOptions,
    summary: str = "",
    action_type: str | None = None,
    outputs: dict[str, Any] | None = None,
    allow_local: bool = True,
) -> ActionResult:
    """Run an action's activity (`task`'s own, or `action_type`'s for a look at the world);
    TaskFailed when its attempts are used up, asyncio.CancelledError when it was cancelled.
    `outputs`: the deferred outputs it resolves the config from; `allow_local`: False to run
    a pure action as a regular activity whatever its size."""
    action_type = action_type or task.action_type
    planned = task.action_config.model_dump(by_alias=True, mode="json")
    request = ActionRequest(
        task_id=task.id,
        action_type=action_type,
        config=config.model_dump(by_alias=True, mode="json"),
        allow_hosts=options.allow_hosts,
        planned_secret_references=secret_reference_count(planned),
        outputs=outputs or {},
        idempotency_scope=options.idempotency_scope,
    )
    size = encoded_size(request.config) + encoded_size(request.outputs)
    if size > HISTORY_PAYLOAD_LIMIT_BYTES:
        message = (
            f"the config takes {size} bytes once its references are resolved, more than "
            "Temporal's history can hold (2 MB): refer to fewer or smaller outputs"
        )
        raise TaskFailed(failure(message, ErrorType.INVALID_CONFIG))
    attempt_timeout = _attempt_timeout(action_type, config, options)
    call = _ActivityCall(action_type, request, activity_id, summary or task.label, attempt_timeout)
    local = allow_local and task.local and options.local_activities == "auto"
    try:
        if local and _runs_locally(action_type, request, size):
            return await workflow.execute_local_activity(
                action_type,
                request,
                result_type=ActionResult,
                activity_id=activity_id,
                summary=call.summary,
                start_to_close_timeout=attempt_timeout,
                retry_policy=_retry_policy(options),
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        if local and _reads_locally(action_type, config, options):
            return await _read_locally(call, options)
        return await _regular_activity(call, options)
    except ActivityError as error:
        if isinstance(error.cause, CancelledError):
            raise asyncio.CancelledError() from error
        raise TaskFailed(cause_failure(error.cause, error.retry_state, options, error)) from None


@dataclass(frozen=True)
class _ActivityCall:
    """One action's activity, as it runs whichever way: local or regular."""

    action_type: str
    request: ActionRequest
    activity_id: str
    summary: str
    attempt_timeout: timedelta


async def _regular_activity(call: _ActivityCall, options: RunOptions) -> ActionResult:
    return await workflow.execute_activity(
        call.action_type,
        call.request,
        result_type=ActionResult,
        activity_id=call.activity_id,
        task_queue=options.action_task_queue,
        summary=call.summary,
        start_to_close_timeout=call.attempt_timeout,
        retry_policy=_retry_policy(options),
        heartbeat_timeout=timedelta(seconds=options.heartbeat_timeout_seconds),
        cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    )


async def _read_locally(call: _ActivityCall, options: RunOptions) -> ActionResult:
    """A read as a local activity for at most the run's local_activity_max_seconds: the
    attempts that start within it, each cut at its end. One still running then, or still
    failing with attempts left, runs again as a regular activity with the task's retry policy,
    so it heartbeats and another worker takes it over if this one dies. A failure within the
    budget (not retryable, or the policy's attempts used up) is the task's, as a regular
    activity's would be."""
    budget = timedelta(seconds=options.local_activity_max_seconds)
    attempts = _attempts_within(options.local_activity_max_seconds, options)
    policy = _retry_policy(options)
    try:
        return await workflow.execute_local_activity(
            call.action_type,
            call.request,
            result_type=ActionResult,
            activity_id=call.activity_id,
            summary=call.summary,
            schedule_to_close_timeout=budget,
            start_to_close_timeout=min(budget, call.attempt_timeout),
            retry_policy=dataclasses.replace(policy, maximum_attempts=attempts),
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
    except ActivityError as error:
        if not _moves_on(error.cause, attempts < policy.maximum_attempts):
            raise
    except (ApplicationError, TimeoutError) as error:
        # Temporal hands a local activity's own failure over unwrapped (no ActivityError).
        if not _moves_on(error, attempts < policy.maximum_attempts):
            raise TaskFailed(cause_failure(error, None, options)) from None
    workflow.logger.info("%s: a read over its local budget runs as an activity", call.activity_id)
    return await _regular_activity(call, options)


def _attempts_within(seconds: float, options: RunOptions) -> int:
    """How many attempts the retry policy starts within `seconds` (not counting the time the
    attempts take), at most the policy's own."""
    attempts, waited, interval = 1, 0.0, options.retry_initial_seconds
    while attempts < options.max_retries + 1:
        waited += min(interval, options.retry_max_interval_seconds)
        if waited >= seconds:
            break
        attempts += 1
        interval *= options.retry_backoff
    return attempts


def _moves_on(cause: BaseException | None, attempts_left: bool) -> bool:
    """Whether a local read that failed runs again as a regular activity: it timed out (its
    budget ran out; Temporal may call that start-to-close), or it failed in a way a retry may
    fix while the retry policy has attempts the budget left out."""
    if isinstance(cause, TimeoutError):
        return True
    return isinstance(cause, ApplicationError) and not cause.non_retryable and attempts_left


async def transform_in_activity(
    task: Task,
    value: Any,
    expression: str,
    activity_id: str,
    summary: str,
    options: RunOptions,
    outputs: dict[str, Any] | None = None,
) -> Any:
    """JMESPath `expression` over `value`, computed by the data_transform activity for the
    workflow's own look at `task`'s data (a condition, a loop's end, a list's length): the
    activity resolves `value`'s references from `outputs` and loads what the blob store keeps,
    which the workflow never does; a large result goes to the blob store."""
    config = validate_action_config("data_transform", {"input": value, "expression": expression})
    check = task.model_copy(update={"action_type": "data_transform", "action_config": config})
    done = await execute_action(check, config, activity_id, options, summary=summary,
                                outputs=outputs, allow_local=False)  # fmt: skip
    return done.output


def _runs_locally(action_type: str, request: ActionRequest, size: int) -> bool:
    """A pure action with a small config and nothing to load from the blob store runs as a
    local activity (in this worker, no server round trip, one marker in the history)."""
    return (
        ACTIONS[action_type].pure
        and not request.outputs
        and size <= LOCAL_ACTIVITY_MAX_CONFIG_BYTES
        and workflow.patched(LOCAL_PURE_ACTIONS)
    )


def _reads_locally(action_type: str, config: ActionConfig, options: RunOptions) -> bool:
    """An action that only reads runs as a local activity (see _read_locally), when the run's
    actions run on its own task queue (another queue's workers may reach what this one
    cannot). It may load its inputs from the blob store: the budget bounds that too."""
    return (
        options.action_task_queue is None
        and ACTIONS[action_type].runs_again_safely(config)
        and workflow.patched(LOCAL_READS)
    )


def _attempt_timeout(action_type: str, config: ActionConfig, options: RunOptions) -> timedelta:
    seconds = (
        options.task_timeout_seconds
        or config.attempt_timeout_seconds()
        or ACTIONS[action_type].default_timeout_seconds
    )
    return timedelta(seconds=seconds)


def _retry_policy(options: RunOptions) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=options.retry_initial_seconds),
        backoff_coefficient=options.retry_backoff,
        maximum_interval=timedelta(seconds=options.retry_max_interval_seconds),
        maximum_attempts=options.max_retries + 1,
    )


def cause_failure(
    cause: BaseException | None,
    retry_state: RetryState | None,
    options: RunOptions,
    error: BaseException | None = None,
) -> TaskFailure:
    """The task failure an activity's failure `cause` (of `error`) stands for, with the
    attempts it used (its details say how many; else all of them when they were used up, else
    one)."""
    exhausted = retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED
    attempts = options.max_retries + 1 if exhausted else 1
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
        timeout = cause.type.name if cause.type else "unknown"
        return failure(f"activity timed out ({timeout})", ErrorType.TIMEOUT, True, attempts)
    text = _message_of(cause, error or cause)  # type: ignore[arg-type]
    return failure(text, type(cause).__name__, True, attempts)
