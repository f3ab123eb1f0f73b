"""The planner and analyst activities: thin wrappers that call `agents/` through one client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.actions import log_failure
from activities.base import non_retryable
from agents.analyst import (
    analyst_messages,
    analyst_repair_messages,
    analyst_system_prompt,
    decision_json_schema,
    parse_decision,
)
from agents.client import LLMClient
from agents.planner import PLAN_JSON_SCHEMA, parse_plan, planner_messages, planner_system_prompt
from workflows.results import AnalysisReply, AnalysisRequest, PlanDraft, PlanRequest

logger = structlog.get_logger("activities.llm")

LLM_NOT_CONFIGURED = (
    "no LLM configured: set OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL (an OpenAI-compatible "
    "server such as vLLM, llama.cpp or Ollama) and OPENAI_MODEL; runs of a given plan (--plan) "
    "need no LLM"
)


class LLMActivities:
    """`plan_goal` and `analyze_failure`, sharing one LLM client (None when not configured)."""

    def __init__(self, client: LLMClient | None) -> None:
        self._client = client

    def _require_client(self) -> LLMClient:
        if self._client is None:
            raise non_retryable(LLM_NOT_CONFIGURED, "LLMNotConfigured")
        return self._client

    @activity.defn(name="plan_goal")
    async def plan_goal(self, request: PlanRequest) -> PlanDraft:
        """One planning call. An invalid plan comes back with its errors for a repair round."""
        log = _activity_logger()
        with _failures_logged(log, "planning_failed"):
            return await self._plan_goal(request, log)

    async def _plan_goal(self, request: PlanRequest, log: Any) -> PlanDraft:
        client = self._require_client()
        messages = planner_messages(request.goal, request.previous_reply, request.errors)
        reply = await client.complete_json(
            planner_system_prompt(), messages, "plan", PLAN_JSON_SCHEMA
        )
        plan, errors = parse_plan(reply.text, request.goal)
        log.info(
            "plan_drafted",
            repair=request.previous_reply is not None,
            valid=plan is not None,
            tasks=len(plan.tasks) if plan else 0,
            errors=errors,
        )
        return PlanDraft(plan=plan, reply=reply.text, errors=errors, usage=reply.usage)

    @activity.defn(name="analyze_failure")
    async def analyze_failure(self, request: AnalysisRequest) -> AnalysisReply:
        """One analyst call, plus one repair call if the reply is not a valid decision."""
        log = _activity_logger(task_id=request.task.get("id"))
        with _failures_logged(log, "analysis_failed"):
            return await self._analyze_failure(request, log)

    async def _analyze_failure(self, request: AnalysisRequest, log: Any) -> AnalysisReply:
        client = self._require_client()
        task_id = request.task.get("id")
        action_type = request.task.get("action_type")
        schema = decision_json_schema(request.allowed_actions)
        messages = analyst_messages(request)
        reply = await client.complete_json(
            analyst_system_prompt(), messages, "failure_decision", schema
        )
        usage = reply.usage
        decision, errors = parse_decision(reply.text, request.allowed_actions, action_type)
        if decision is None:
            log.warning("analyst_reply_invalid", errors=errors)
            messages = analyst_repair_messages(messages, reply.text, errors)
            reply = await client.complete_json(
                analyst_system_prompt(), messages, "failure_decision", schema
            )
            usage = usage.plus(reply.usage)
            decision, errors = parse_decision(reply.text, request.allowed_actions, action_type)
        if decision is None:
            raise non_retryable(
                f"the analyst's reply for task {task_id!r} is not a valid decision after a "
                f"repair round: {'; '.join(errors)}",
                "InvalidAnalystReply",
            )
        log.info("failure_analyzed", action=decision.action, reason=decision.reason)
        return AnalysisReply(decision=decision, usage=usage)


def _activity_logger(**ids: Any) -> Any:
    info = activity.info()
    return logger.bind(workflow_id=info.workflow_id, attempt=info.attempt, **ids)


@contextmanager
def _failures_logged(log: Any, event: str) -> Iterator[None]:
    """One line per failed attempt (Temporal's own warning with a traceback is filtered)."""
    try:
        yield
    except ApplicationError as error:
        log_failure(log, event, error)
        raise
    except Exception:
        log.exception(event, error_type="unexpected")
        raise


def llm_activities(client: LLMClient | None) -> list[Callable[..., Any]]:
    """The LLM activities bound to `client`, for the worker to register."""
    llm = LLMActivities(client)
    return [llm.plan_goal, llm.analyze_failure]
