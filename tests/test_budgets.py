"""Budgets end a run with a reason naming them: plan size, LLM calls, wall-clock time, and the
checks of a poll (in process, fake activities; see test_workflow_inprocess.py)."""

from __future__ import annotations

import asyncio

import pytest
from temporalio import activity

from agentic.core.messages import (
    ActionRequest,
    ActionResult,
    AnalysisReply,
    AnalysisRequest,
    FailureDecision,
    LLMCall,
    PlanDraft,
    PlanRequest,
    RunInput,
    RunOptions,
    TokenUsage,
)
from agentic.core.metrics import run_report
from agentic.core.plan import Plan
from agentic.errors import EditRefused, InvalidPlan
from agentic.workflows.agent_run import AgentRunWorkflow
from tests.helpers import get, task
from tests.test_workflow_inprocess import (
    FAST,
    by_id,
    eventually,
    plan_of,
    run_id,
    running_worker,
    temporal_client,  # noqa: F401 (the fixture)
)

WAITS = [task(f"w{n}", "wait", {"seconds": 0}) for n in range(5)]


async def test_a_plan_over_max_tasks_never_runs(temporal_client):  # noqa: F811
    options = RunOptions(**FAST, max_tasks=3)
    async with running_worker(temporal_client) as client:
        with pytest.raises(InvalidPlan, match=r"5 tasks, more than max_tasks \(3\); raise it"):
            await client.start(plan=plan_of(*WAITS), options=options)
        # A client that starts the workflow without the API's check meets the workflow's own.
        started = await temporal_client.start_workflow(
            AgentRunWorkflow.run,
            RunInput(plan=Plan.model_validate(plan_of(*WAITS)), options=options),
            id=run_id("over"),
            task_queue=client.settings.task_queue,
        )
        result = await (await client.get(started.id)).result()

    assert result.status == "failed"
    assert result.error == "budget reached: the plan has 5 tasks, more than max_tasks (3)"
    assert {t.status for t in result.tasks} == {"skipped"}


async def test_an_edit_over_max_tasks_is_refused(temporal_client):  # noqa: F811
    options = RunOptions(**{**FAST, "approval": "plan"}, max_tasks=3)
    async with running_worker(temporal_client) as client:
        handle = await client.start(
            plan=plan_of(*WAITS[:2]), options=options, workflow_id=run_id("edit")
        )

        async def waiting() -> bool:
            return (await handle.status()).phase == "awaiting_approval"

        await eventually(waiting, "the plan to wait for approval")
        with pytest.raises(EditRefused, match="more than max_tasks"):
            await handle.edit(plan=Plan.model_validate(plan_of(*WAITS)))
        await handle.cancel(reason="done")


async def test_llm_calls_stop_at_the_budget(temporal_client):  # noqa: F811
    calls = []

    @activity.defn(name="plan_goal")
    async def plan_goal(request: PlanRequest) -> PlanDraft:
        calls.append("plan")
        usage = TokenUsage(prompt_tokens=10, completion_tokens=5, total_tokens=15, calls=1)
        return PlanDraft(plan=Plan.model_validate(plan_of(task("f", "api_call", get("http://x/f")))),
                         usage=usage)  # fmt: skip

    @activity.defn(name="api_call")
    async def api_call(request: ActionRequest) -> ActionResult:
        raise ValueError("always fails")

    @activity.defn(name="analyze_failure")
    async def analyze_failure(request: AnalysisRequest) -> AnalysisReply:
        calls.append("analysis")
        return AnalysisReply(decision=FailureDecision(action="retry", reason="again"))

    options = RunOptions(**FAST, max_llm_calls=1, max_analyses_per_task=5)
    async with running_worker(temporal_client, plan_goal, api_call, analyze_failure) as client:
        result = await client.run(goal="plan something", options=options)

    assert calls == ["plan"], "the one call the budget allows was the planner's"
    assert result.status == "failed"
    assert result.error == "budget reached: 1 LLM calls (max_llm_calls 1)"
    assert result.decisions[0].source == "fallback"


async def test_the_cost_budget_stops_the_llm_calls_and_costs_count_per_task(
    temporal_client,  # noqa: F811
):
    """Each analysis costs $0.01 (its activity priced it): the third would go over $0.015."""
    analysed = []

    @activity.defn(name="api_call")
    async def api_call(request: ActionRequest) -> ActionResult:
        raise ValueError("always fails")

    @activity.defn(name="analyze_failure")
    async def analyze_failure(request: AnalysisRequest) -> AnalysisReply:
        analysed.append(request.task["id"])
        call = LLMCall(purpose="analyze_failure", endpoint="e", model="m", mode="json",
                       prompt_tokens=100, completion_tokens=10, cost_usd=0.01)  # fmt: skip
        usage = TokenUsage(prompt_tokens=100, completion_tokens=10, total_tokens=110, calls=1,
                           cost_usd=0.01)  # fmt: skip
        return AnalysisReply(decision=FailureDecision(action="skip", reason="optional"),
                             usage=usage, calls=[call])  # fmt: skip

    failing = [task(name, "api_call", get(f"http://x/{name}"), critical=False)
               for name in ("a", "b", "c")]  # fmt: skip
    options = RunOptions(**{**FAST, "max_parallel": 1}, max_cost_usd=0.015)
    async with running_worker(temporal_client, api_call, analyze_failure) as client:
        result = await client.run(plan=plan_of(*failing), options=options)

    assert analysed == ["a", "b"], "the third analysis would have gone over"
    assert result.usage.cost_usd == pytest.approx(0.02)
    assert result.error == "budget reached: the LLM calls cost $0.0200 (max_cost_usd 0.015)"
    assert [call.task for call in result.llm_calls] == ["a", "b"]
    report = run_report(result)
    assert {t.task_id: t.llm_cost_usd for t in report.tasks} == pytest.approx(
        {"a": 0.01, "b": 0.01, "c": 0.0}
    )
    assert report.llm.estimated_cost_usd == pytest.approx(0.02)


async def test_the_wall_clock_budget_stops_a_run(temporal_client):  # noqa: F811
    slow = [task("long", "wait", {"seconds": 30}), task("after", "wait", {"seconds": 0}, "long")]
    async with running_worker(temporal_client) as client:
        result = await client.run(
            plan=plan_of(*slow), options=RunOptions(**FAST, max_run_seconds=1)
        )

    assert result.status == "failed"
    assert result.error.startswith("budget reached: the run took 1s (max_run_seconds 1)")
    assert by_id(result)["long"].status == "cancelled"
    assert result.duration_seconds < 10


async def test_waiting_for_the_plan_approval_is_not_run_time(temporal_client):  # noqa: F811
    options = RunOptions(**{**FAST, "approval": "plan"}, max_run_seconds=1)
    async with running_worker(temporal_client) as client:
        handle = await client.start(plan=plan_of(WAITS[0]), options=options)

        async def waiting() -> bool:
            return (await handle.status()).phase == "awaiting_approval"

        await eventually(waiting, "the plan to wait for approval")
        await asyncio.sleep(1.5)  # longer than max_run_seconds, before execution starts
        await handle.approve(by="test")
        result = await handle.result()

    assert result.status == "completed", result.error


async def test_a_poll_checks_at_most_max_checks_and_not_faster_than_the_minimum(
    temporal_client,  # noqa: F811
):
    checks = []

    @activity.defn(name="poll")
    async def poll(request: ActionRequest) -> ActionResult:
        checks.append(activity.info().activity_id)
        return ActionResult(output={"done": False, "response": {"n": len(checks)}})

    monitor = task("job", "poll", {"request": get("http://x/job"), "until": "body.done",
                                   "interval": 0.01, "timeout": 3600})  # fmt: skip
    options = RunOptions(
        **FAST, poll_max_checks=3, poll_min_interval_seconds=0.2, analyze_failures=False
    )
    async with running_worker(temporal_client, poll) as client:
        result = await client.run(plan=plan_of(monitor), options=options)

    job = by_id(result)["job"]
    assert checks == ["job:check1", "job:check2", "job:check3"]
    assert job.error.error_type == "PollLimit"
    assert "poll_max_checks 3" in job.error.message
    assert job.duration_seconds >= 0.4, "two waits of at least poll_min_interval_seconds"
