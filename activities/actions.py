"""Temporal activities for actions, built in one place: one activity per action type, named
after it. An `ActionError` becomes Temporal's error (retried only when retryable), carrying
the attempt number; anything else is classified by the action, or retried as a crash."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from pydantic import ValidationError
from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetStickyTaskQueueRequest
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from agentic.activities.base import ActionContext
from agentic.activities.blobs import check_history_size
from agentic.activities.network import NetworkRefused, refusal_error
from agentic.activities.secrets import Masker
from agentic.core.actions.base import Action
from agentic.core.errors import ActionError, EngineError, ErrorType, non_retryable
from agentic.core.messages import ActionRequest, ActionResult
from agentic.core.policy import destinations
from agentic.core.references import UnresolvedReference, resolve

logger = structlog.get_logger("activities")
# Heartbeats let Temporal deliver cancellation and notice a dead worker within the heartbeat
# timeout (set by the workflow), instead of after the whole start-to-close timeout. Twice a
# second cost no measurable CPU against once (bench/load.py --delay 3: 100 calls in flight).
HEARTBEAT_INTERVAL_SECONDS = 0.5


async def run_with_heartbeats(action: Awaitable[Any], details: Any = None) -> Any:
    """Await `action`, heartbeating meanwhile; cancelling the activity cancels the action.
    A retried attempt also takes the run off its last worker's sticky queue meanwhile."""
    info = activity.info()
    local = info.is_local  # a local activity cannot heartbeat (and need not)
    running = asyncio.ensure_future(action)
    unsticking = _unstick_if_retried(info)
    try:
        while True:
            done, _ = await asyncio.wait({running}, timeout=HEARTBEAT_INTERVAL_SECONDS)
            if done:
                if unsticking is not None:
                    await unsticking
                return running.result()
            if not local:
                activity.heartbeat(*([details] if details is not None else []))
    finally:
        running.cancel()
        if unsticking is not None:
            unsticking.cancel()


def _unstick_if_retried(info: activity.Info) -> asyncio.Task[None] | None:
    if info.attempt == 1 or info.is_local or not (info.workflow_id and info.workflow_run_id):
        return None
    return asyncio.create_task(_unstick(info.namespace, info.workflow_id, info.workflow_run_id))


async def _unstick(namespace: str, workflow_id: str, run_id: str) -> None:
    """Send the run's next workflow task to its task queue, not to the sticky queue of the
    worker that ran it last. An attempt is retried mostly because its worker died; that
    worker's sticky queue would hold the task for the whole sticky timeout before Temporal
    gave it to a live worker. The cost, when that worker lives on: it replays the run once."""
    request = ResetStickyTaskQueueRequest(
        namespace=namespace, execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id)
    )
    try:
        await activity.client().workflow_service.reset_sticky_task_queue(request)
    except (RPCError, RuntimeError) as error:  # RuntimeError: run without a worker's client
        # The run waits out the sticky timeout: slower, not wrong.
        logger.warning("sticky_reset_failed", workflow_id=workflow_id, error=str(error))


def temporal_error(error: EngineError, attempt: int, **details: Any) -> ApplicationError:
    """The Temporal error for the engine's error; its details carry the attempt number."""
    return ApplicationError(
        error.message,
        {"attempt": attempt, **details},
        type=error.error_type,
        non_retryable=not error.retryable,
    )


def log_failure(log: Any, event: str, error: EngineError) -> None:
    """One line for one failed attempt: its error type and message, whether it is retried."""
    log.warning(event, error_type=error.error_type, error=error.message, retryable=error.retryable)


def _classified(action: Action, error: Exception) -> ActionError | None:
    if action.classify_error is None:
        return None
    return action.classify_error(error)


def make_activity(action: Action, ctx: ActionContext) -> Callable[..., Any]:
    """The activity that runs `action` (named after its type)."""
    assert action.run is not None, f"{action.action_type} runs in the workflow"

    @activity.defn(name=action.action_type)
    async def run_action(request: ActionRequest) -> ActionResult:
        info = activity.info()
        log = logger.bind(workflow_id=info.workflow_id, task_id=request.task_id,
                          action_type=action.action_type, attempt=info.attempt)  # fmt: skip
        started = time.monotonic()
        masker = ctx.secrets.masker()
        try:
            # Secrets are filled before references into stored outputs are resolved: such an
            # output is data, so a secret reference in it stays text (and the walk stays small).
            filled, masker = ctx.secrets.fill(request.config, request.planned_secret_references)
            # Loading stored inputs and storing a large output take a while too: heartbeats
            # go on through all of it.
            kept = await run_with_heartbeats(_attempt(action, ctx, request, filled, masker))
        except ValidationError as error:
            message = masker.mask(f"invalid config: {error}")
            failure = non_retryable(message, ErrorType.INVALID_CONFIG)
            log_failure(log, "action_failed", failure)
            raise temporal_error(failure, info.attempt) from None
        except ActionError as error:
            error.message = masker.mask(error.message)
            log_failure(log, "action_failed", error)
            raise temporal_error(error, info.attempt) from None
        except asyncio.CancelledError:
            log.info("action_cancelled")
            raise
        except NetworkRefused as error:  # a custom action's request through ctx.http
            refusal = refusal_error(error)
            refusal.message = masker.mask(refusal.message)
            log_failure(log, "action_failed", refusal)
            raise temporal_error(refusal, info.attempt) from None
        except Exception as error:
            classified = _classified(action, error)
            if classified is not None:
                classified.message = masker.mask(classified.message)
                log_failure(log, "action_failed", classified)
                raise temporal_error(classified, info.attempt) from None
            # A traceback cannot be masked: none when the task used a secret.
            log.error("action_crashed", error_type=type(error).__name__,
                      error=masker.mask(str(error)), exc_info=not masker.used)  # fmt: skip
            crash = ActionError(masker.mask(f"{type(error).__name__}: {error}"),
                                type(error).__name__, retryable=True)  # fmt: skip
            raise temporal_error(crash, info.attempt) from None
        log.info("action_completed", seconds=round(time.monotonic() - started, 4))
        return ActionResult(output=kept, attempt=info.attempt)

    return run_action


async def _attempt(
    action: Action,
    ctx: ActionContext,
    request: ActionRequest,
    filled: dict[str, Any],
    masker: Masker,
) -> Any:
    """One attempt of `action` on its config (secrets filled): resolve what refers to stored
    outputs, validate, check where secrets go, run, and keep a large output in the store."""
    assert action.run is not None
    info = activity.info()
    config = action.config_model.model_validate(await resolved_config(filled, request, ctx))
    if masker.used:
        masker.check(destinations(action.action_type, config) or [], action.action_type)
    task_ctx = ctx.for_run(
        request.allow_hosts, workflow_id=info.workflow_id or "",
        run_id=request.idempotency_scope or info.workflow_run_id or "", task_id=request.task_id,
        activity_id=info.activity_id, masker=masker,
    )  # fmt: skip
    output = await action.run(config, task_ctx)
    kept = await ctx.blobs.offload(masker.mask(output), info.workflow_id or "")
    check_history_size(kept)
    return kept


async def resolved_config(
    config: dict[str, Any], request: ActionRequest, ctx: ActionContext
) -> dict[str, Any]:
    """`config` with its references resolved: by the workflow already, or here when they
    point into outputs kept in the blob store (the workflow never loads those)."""
    if not request.outputs:
        return config
    outputs = {task_id: await ctx.blobs.load(output) for task_id, output in request.outputs.items()}
    try:
        resolved: dict[str, Any] = resolve(config, outputs)
    except UnresolvedReference as error:
        raise non_retryable(str(error), ErrorType.UNRESOLVED_REFERENCE) from None
    return resolved


def action_activities(actions: list[Action], ctx: ActionContext) -> list[Callable[..., Any]]:
    """One activity per action that runs outside the workflow."""
    return [make_activity(action, ctx) for action in actions if action.run is not None]
