"""The `wait` action: a durable timer in the workflow, not an activity."""

from __future__ import annotations

from pydantic import Field

from activities.base import ActionConfig, ActionSpec


class WaitConfig(ActionConfig):
    """Pause this branch of the plan for `seconds` (a Temporal timer: survives restarts)."""

    seconds: float = Field(ge=0, le=366 * 24 * 3600)


SPEC = ActionSpec(
    action_type="wait",
    config_model=WaitConfig,
    run=None,
    description="Durable delay (rate limiting, coordination). Output: {waited_seconds}.",
    describe_output=lambda output: f"waited {output.get('waited_seconds', 0):g}s",
)
