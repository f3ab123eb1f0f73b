"""`cli.py llm check`: one tiny planning request to each LLM endpoint, and what came of it."""

from __future__ import annotations

from typing import Any

from agentic.agents.client import LLMClient, LLMReply
from agentic.agents.endpoints import LLMEndpoint
from agentic.agents.errors import LLMError
from agentic.agents.planner import parse_plan, planning_request
from agentic.core.messages import PlanRequest
from agentic.settings import Settings

CHECK_GOAL = "Wait one second, then write the word done to check.txt."
CHECK_MAX_TOKENS = 1024


async def check_endpoints(settings: Settings) -> list[dict[str, Any]]:
    """For each configured endpoint: the output mode that worked, latency, tokens, and whether
    the reply was a valid plan; or the error."""
    client = LLMClient.from_settings(settings)
    if client is None:
        return []
    request = planning_request(
        PlanRequest(goal=CHECK_GOAL), min(settings.llm_planner_max_tokens, CHECK_MAX_TOKENS)
    )
    try:
        answers = await client.check(request)
    finally:
        await client.close()
    return [_check_row(endpoint, answer) for endpoint, answer in answers]


def _check_row(endpoint: LLMEndpoint, answer: LLMReply | LLMError) -> dict[str, Any]:
    row: dict[str, Any] = {
        "endpoint": endpoint.name,
        "base_url": endpoint.base_url,
        "model": endpoint.model,
    }
    if isinstance(answer, LLMError):
        return {**row, "answered": False, "error": answer.message}
    plan, errors = parse_plan(answer.text, CHECK_GOAL)
    verdict = f"valid plan of {len(plan.tasks)} tasks" if plan else f"not a valid plan: {errors[0]}"
    return {
        **row,
        "answered": True,
        "mode": answer.call.mode,
        "seconds": answer.call.seconds,
        "prompt_tokens": answer.usage.prompt_tokens,
        "completion_tokens": answer.usage.completion_tokens,
        "plan": verdict,
    }
