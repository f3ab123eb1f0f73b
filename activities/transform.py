"""Runs `data_transform` as an activity, when the workflow does not compute it itself (a config
over 64 KB, a secret, an input in the blob store, a result over 64 KB): its output is recorded
once and never recomputed."""

from __future__ import annotations

from typing import Any

from agentic.activities.base import ActionContext
from agentic.activities.compute import compute
from agentic.core.actions.base import Action
from agentic.core.actions.transform import SPEC, DataTransformConfig, transform


async def run_data_transform(config: DataTransformConfig, ctx: ActionContext) -> Any:
    """The expression's result (after the `require` check), computed in a thread: over a large
    input it takes a while, and the event loop must go on heartbeating the other actions."""
    return await compute(transform, config)


ACTION = Action.of(SPEC, run=run_data_transform)
