"""Runs one check of `poll`: the request, then the `until` test over its response. The workflow
sleeps on durable timers between checks."""

from __future__ import annotations

from typing import Any

from agentic.activities.base import ActionContext
from agentic.activities.http import run_api_call
from agentic.core.actions.base import Action
from agentic.core.actions.poll import SPEC, PollConfig
from agentic.core.actions.transform import is_truthy, search


async def run_poll_check(config: PollConfig, ctx: ActionContext) -> dict[str, Any]:
    """One check: send the request and test `until` over the response."""
    response = await run_api_call(config.request, ctx)
    return {"done": is_truthy(search(config.until, response)), "response": response}


ACTION = Action.of(SPEC, run=run_poll_check)
