"""`wait`: a durable timer in the workflow, not an activity."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from agentic.core.actions.base import ActionConfig, ActionSpec, Execution


class WaitConfig(ActionConfig):
    """Pause this branch of the plan for `seconds` (a Temporal timer: survives restarts)."""

    seconds: float = Field(ge=0, le=366 * 24 * 3600)
    """How long to wait, on a durable Temporal timer."""


def describe_wait(output: Any) -> str:
    """`waited 5s`."""
    seconds = output.get("waited_seconds", 0) if isinstance(output, dict) else 0
    return f"waited {seconds:g}s"


SPEC = ActionSpec(
    action_type="wait",
    config_model=WaitConfig,
    description="Durable delay (rate limiting, coordination). Output: {waited_seconds}.",
    execution=Execution.TIMER,
    describe_output=describe_wait,
)
