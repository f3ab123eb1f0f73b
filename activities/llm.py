"""The planner and analyst activities: thin wrappers that call `agents/` through one client and
map its errors to Temporal's (retryable or not), carrying the tokens a failure already spent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from temporalio import activity

from agentic.activities.actions import log_failure, run_with_heartbeats, temporal_error
from agentic.activities.network import PlanNetworkCheck
from agentic.agents.analyst import decide
from agentic.agents.client import LLMClient
from agentic.agents.errors import LLMError
from agentic.agents.joiner import join
from agentic.agents.planner import draft_plan
from agentic.agents.replans import TaskCheck, draft_patch
from agentic.agents.streaming import stream_plan
from agentic.core.errors import ErrorType, non_retryable
from agentic.core.messages import (
    AnalysisReply,
    AnalysisRequest,
    JoinerReply,
    JoinerRequest,
    PatchDraft,
    PatchRequest,
    PlanDraft,
    PlanRequest,
    StreamedTask,
)
from agentic.core.plan import Task
from agentic.core.policy import plan_refusals

logger = structlog.get_logger("agentic.activities.llm")
Reply = TypeVar("Reply")

LLM_NOT_CONFIGURED = (
    "no LLM configured: set OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL (an OpenAI-compatible "
    "server such as vLLM, llama.cpp or Ollama) and OPENAI_MODEL, or LLM_ENDPOINTS; runs of a "
    "given plan (--plan) need no LLM"
)


@dataclass(frozen=True)
class TokenLimits:
    """`max_tokens` for each kind of request (LLM_PLANNER_MAX_TOKENS, LLM_ANALYST_MAX_TOKENS;
    the joiner may write a patch, so it has the planner's)."""

    planner: int = 4096
    analyst: int = 1024


class LLMActivities:
    """`plan_goal`, `analyze_failure`, `join` and `plan_patch`, sharing one LLM client (None
    when not configured)."""

    def __init__(
        self,
        client: LLMClient | None,
        limits: TokenLimits | None = None,
        network: PlanNetworkCheck | None = None,
    ) -> None:
        self._client = client
        self._limits = limits or TokenLimits()
        self._network = network

    @activity.defn(name="plan_goal")
    async def plan_goal(self, request: PlanRequest) -> PlanDraft:
        """One planning call. An invalid plan, or one that asks what the engine refuses (a
        path out of the workspace, a host the network policy refuses), comes back with its
        errors for a repair round."""
        draft = await self._call(
            "planning_failed",
            lambda client, attempt: draft_plan(client, request, self._limits.planner, attempt),
        )
        return await self._checked(draft, request)

    async def _checked(
        self, draft: PlanDraft, request: PlanRequest, streamed: list[str] | None = None
    ) -> PlanDraft:
        """The draft, its plan refused (errors for a repair round) when it asks what the engine
        or the worker's network policy refuses."""
        if draft.plan is not None:
            refused = plan_refusals(draft.plan)
            if self._network is not None:
                refused += await self._network.refusals(draft.plan, request.allow_hosts)
            if refused:
                draft = draft.model_copy(update={"plan": None, "errors": refused})
        logger.bind(**_ids()).info(
            "plan_drafted",
            repair=request.previous_reply is not None,
            streamed=streamed,
            valid=draft.plan is not None,
            tasks=len(draft.plan.tasks) if draft.plan else 0,
            errors=draft.errors,
            answered_by=[call.model + "@" + call.endpoint for call in draft.calls],
        )
        return draft

    @activity.defn(name="plan_goal_streamed")
    async def plan_goal_streamed(self, request: PlanRequest) -> PlanDraft:
        """`plan_goal` with a streamed reply: each task, once complete and valid on its own
        (and allowed by the network policy), is signalled to the run as `planned_task`, so it
        may start while the rest of the plan is still being written."""
        info = activity.info()
        run = activity.client().get_workflow_handle(
            str(info.workflow_id), run_id=info.workflow_run_id
        )
        check = self._network_check(request.allow_hosts)

        async def hand_over(task: Task, index: int) -> None:
            if check is None or not await check([task]):
                await run.signal("planned_task", StreamedTask(task=task, index=index))

        streamed = await self._call(
            "planning_failed",
            lambda client, attempt: stream_plan(
                client, request, self._limits.planner, hand_over, attempt
            ),
        )
        return await self._checked(streamed.draft, request, streamed=streamed.handed_over)

    @activity.defn(name="analyze_failure")
    async def analyze_failure(self, request: AnalysisRequest) -> AnalysisReply:
        """One analyst call, plus one repair call if the reply is not a valid decision."""
        reply = await self._call(
            "analysis_failed",
            lambda client, attempt: decide(client, request, self._limits.analyst, attempt),
            task_id=request.task.get("id"),
        )
        logger.bind(**_ids(task_id=request.task.get("id"))).info(
            "failure_analyzed", action=reply.decision.action, reason=reply.decision.reason
        )
        return reply

    @activity.defn(name="join")
    async def join(self, request: JoinerRequest) -> JoinerReply:
        """The joiner: the goal's answer, or a patch (checked like a plan), from one call and
        one repair call."""
        check = self._network_check(request.allow_hosts)
        reply = await self._call(
            "join_failed",
            lambda client, attempt: join(client, request, self._limits.planner, attempt, check),
        )
        patch = reply.patch
        logger.bind(**_ids()).info(
            "run_joined",
            action=reply.action,
            added=[task.id for task in patch.add] if patch else [],
            removed=patch.remove if patch else [],
        )
        return reply

    @activity.defn(name="plan_patch")
    async def plan_patch(self, request: PatchRequest) -> PatchDraft:
        """The planner's patch for a running plan (after a failure, or a person's hint)."""
        check = self._network_check(request.allow_hosts)
        draft = await self._call(
            "replan_failed",
            lambda client, attempt: draft_patch(
                client, request, self._limits.planner, attempt, check
            ),
        )
        logger.bind(**_ids()).info(
            "plan_patched",
            added=[task.id for task in draft.patch.add],
            removed=draft.patch.remove,
            reason=draft.patch.reason,
        )
        return draft

    def _network_check(self, allow_hosts: list[str]) -> TaskCheck | None:
        """What a patch's added tasks may not reach, as errors for its repair round."""
        network = self._network
        if network is None:
            return None

        async def check(tasks: list[Task]) -> list[str]:
            return await network.task_refusals(tasks, allow_hosts)

        return check

    async def _call(
        self,
        failure_event: str,
        call: Callable[[LLMClient, int], Awaitable[Reply]],
        **ids: Any,
    ) -> Reply:
        """Run one LLM call with heartbeats (so cancellation reaches it); one log line and a
        Temporal error for a failure."""
        log = logger.bind(**_ids(**ids))
        attempt = activity.info().attempt
        if self._client is None:
            missing = non_retryable(LLM_NOT_CONFIGURED, ErrorType.LLM_NOT_CONFIGURED)
            log_failure(log, failure_event, missing)
            raise temporal_error(missing, attempt)
        try:
            return await run_with_heartbeats(call(self._client, attempt))
        except LLMError as error:
            log_failure(log, failure_event, error)
            spent = {
                "usage": error.usage.model_dump(),
                "calls": [call.model_dump() for call in error.calls],
            }
            raise temporal_error(error, attempt, **spent) from error
        except Exception:
            log.exception(failure_event, error_type="unexpected")
            raise


def _ids(**extra: Any) -> dict[str, Any]:
    info = activity.info()
    return {"workflow_id": info.workflow_id, "attempt": info.attempt, **extra}


def llm_activities(
    client: LLMClient | None,
    limits: TokenLimits | None = None,
    network: PlanNetworkCheck | None = None,
) -> list[Any]:
    """The LLM activities bound to `client`, for the worker to register."""
    llm = LLMActivities(client, limits, network)
    return [llm.plan_goal, llm.plan_goal_streamed, llm.analyze_failure, llm.join, llm.plan_patch]
