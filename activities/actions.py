"""Temporal activities for the registered actions, built from the registry in one place."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.base import ActionContext, ActionSpec, non_retryable
from activities.registry import ACTIONS
from workflows.results import ActionRequest, ActionResult

logger = structlog.get_logger("activities")
# Heartbeats let Temporal deliver cancellation and notice a dead worker within HEARTBEAT_TIMEOUT
# (set by the workflow), instead of after the whole start-to-close timeout.
HEARTBEAT_INTERVAL_SECONDS = 2.0


async def run_with_heartbeats(action: Awaitable[Any]) -> Any:
    """Await `action`, heartbeating meanwhile; cancelling the activity cancels the action."""
    running = asyncio.ensure_future(action)
    try:
        while True:
            done, _ = await asyncio.wait({running}, timeout=HEARTBEAT_INTERVAL_SECONDS)
            if done:
                return running.result()
            activity.heartbeat()
    finally:
        running.cancel()


def _with_attempt(error: ApplicationError, attempt: int) -> ApplicationError:
    """The same error carrying the attempt number, so the workflow can count attempts."""
    return ApplicationError(
        error.message,
        {"attempt": attempt},
        type=error.type,
        non_retryable=error.non_retryable,
        next_retry_delay=error.next_retry_delay,
    )


def log_failure(log: Any, event: str, error: ApplicationError) -> None:
    """One line for one failed attempt: its error type and message, whether it is retried."""
    log.warning(
        event, error_type=error.type, error=error.message, retryable=not error.non_retryable
    )


def _make_activity(spec: ActionSpec, ctx: ActionContext) -> Callable[..., Any]:
    @activity.defn(name=spec.action_type)
    async def run_action(request: ActionRequest) -> ActionResult:
        info = activity.info()
        log = logger.bind(
            workflow_id=info.workflow_id,
            task_id=request.task_id,
            action_type=spec.action_type,
            attempt=info.attempt,
        )
        started = time.monotonic()
        try:
            config = spec.config_model.model_validate(request.config)
            output = await run_with_heartbeats(spec.run(config, ctx))
        except ValidationError as error:
            failure = non_retryable(f"invalid config: {error}", "InvalidConfig")
            log_failure(log, "action_failed", failure)
            raise _with_attempt(failure, info.attempt) from error
        except ApplicationError as error:
            log_failure(log, "action_failed", error)
            raise _with_attempt(error, info.attempt) from error
        except asyncio.CancelledError:
            log.info("action_cancelled")
            raise
        except Exception as error:
            log.exception("action_crashed")
            failure = ApplicationError(
                f"{type(error).__name__}: {error}", type=type(error).__name__
            )
            raise _with_attempt(failure, info.attempt) from error
        log.info("action_completed", seconds=round(time.monotonic() - started, 4))
        return ActionResult(output=output, attempt=info.attempt)

    return run_action


def action_activities(ctx: ActionContext) -> list[Callable[..., Any]]:
    """One activity per registered action that runs outside the workflow."""
    return [_make_activity(spec, ctx) for spec in ACTIONS.values() if spec.run is not None]
