"""The AgentRun workflow's logic, tested in process with fake activities.

In the style of temporalio/samples-python's tests: each test starts a `Worker` in its own event
loop with the real workflow (in the real worker's sandbox) and fake activities registered under
the names the workflow calls (`api_call`, `poll`, `plan_goal`, `analyze_failure`); the fakes
record what they were asked, so the tests check what the workflow did, not what an HTTP server
or an LLM answered.

They run on the session's Temporal dev server (`temporal_server`): Temporal's time-skipping
test server is downloaded at run time, and this machine has no internet. Each test uses a task
queue and workflow ids of its own, and keeps its waits short (retry intervals of 0.1 s).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from agentic.client import AgentClient, RunHandle
from agentic.core.actions.base import ActionConfig, ActionSpec
from agentic.core.errors import ErrorType
from agentic.core.messages import (
    ActionRequest,
    ActionResult,
    AnalysisReply,
    AnalysisRequest,
    FailureDecision,
    JoinerReply,
    JoinerRequest,
    PlanDraft,
    PlanRequest,
    RunInput,
    RunOptions,
    RunResult,
    RunStatus,
    TaskStatus,
    TokenUsage,
)
from agentic.core.registry import ACTIONS
from agentic.devstack import TemporalDevServer
from agentic.errors import EditRefused
from agentic.runtime import DATA_CONVERTER, workflow_runner
from agentic.settings import Settings
from agentic.workflows.agent_run import AgentRunWorkflow
from tests.helpers import get, task

FAST = {"approval": "none", "max_retries": 0, "retry_initial_seconds": 0.1}
WAIT_SECONDS = 5.0


@pytest.fixture(scope="session")
async def temporal_client(temporal_server: TemporalDevServer) -> Client:
    """A client of the session's dev server with the engine's data converter."""
    return await Client.connect(
        temporal_server.address, namespace="default", data_converter=DATA_CONVERTER
    )


@asynccontextmanager
async def running_worker(
    temporal_client: Client, *activities: Callable[..., Any], task_queue: str = ""
) -> AsyncIterator[AgentClient]:
    """A worker with the real workflow and `activities` on `task_queue` (default: a fresh one),
    running while the block runs; yields an AgentClient for that queue."""
    task_queue = task_queue or f"inproc-{uuid.uuid4().hex[:8]}"
    activities = (*activities, *defaults_for(activities))
    worker = Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=[AgentRunWorkflow],
        activities=list(activities),
        workflow_runner=workflow_runner(),
        # Heartbeats reach the server at once, so a cancel reaches a fake activity at once.
        max_heartbeat_throttle_interval=timedelta(milliseconds=100),
        default_heartbeat_throttle_interval=timedelta(milliseconds=100),
    )
    async with worker:
        settings = Settings(
            task_queue=task_queue,
            temporal_address=temporal_client.service_client.config.target_host,
        )
        yield AgentClient(temporal_client, settings)


@activity.defn(name="join")
async def join_done(request: JoinerRequest) -> JoinerReply:
    """The joiner of goal runs that do not test it: an answer naming the tasks that ended."""
    return JoinerReply(action="answer", answer=f"{len(request.tasks)} tasks ended")


def defaults_for(activities: tuple[Callable[..., Any], ...]) -> list[Callable[..., Any]]:
    """The fakes a goal run also calls: the joiner (it answers), and a planner that cannot
    stream (the test's `plan_goal` fake, whole) when the test gives no streamed one."""
    by_name = {activity_name(function): function for function in activities}
    defaults: list[Callable[..., Any]] = [] if "join" in by_name else [join_done]
    plan_goal = by_name.get("plan_goal")
    if plan_goal is not None and "plan_goal_streamed" not in by_name:
        defaults.append(activity.defn(name="plan_goal_streamed")(unstreamed(plan_goal)))
    return defaults


def unstreamed(plan_goal: Callable[..., Any]) -> Callable[..., Any]:
    """`plan_goal` as the streamed planner of a server that cannot stream: the whole plan at
    its end, no task handed over early."""

    async def plan_goal_streamed(request: PlanRequest) -> PlanDraft:
        return await plan_goal(request)

    return plan_goal_streamed


def activity_name(function: Callable[..., Any]) -> str:
    """The name a function is registered under as an activity."""
    definition = getattr(function, "__temporal_activity_definition", None)
    return definition.name if definition is not None else ""


def run_id(name: str) -> str:
    """A unique workflow id."""
    return f"inproc-{name}-{uuid.uuid4().hex[:8]}"


def plan_of(*tasks: dict[str, Any], goal: str = "in-process test") -> dict[str, Any]:
    """A plan as JSON."""
    return {"goal": goal, "tasks": list(tasks)}


def by_id(result: Any) -> dict[str, Any]:
    """A result's (or state's) tasks by id."""
    return {entry.task_id: entry for entry in result.tasks}


async def eventually(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Poll `check` until it returns something truthy, for at most WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {WAIT_SECONDS}s waiting for {what}")


async def has_status(handle: RunHandle, task_id: str, status: TaskStatus) -> bool:
    """Whether the status query says the task is in `status`."""
    return by_id(await handle.status())[task_id].status == status


def http_client_error(message: str) -> ApplicationError:
    """The error a fake api_call raises for a 4xx: not worth retrying."""
    details = {"attempt": activity.info().attempt}
    return ApplicationError(message, details, type="HttpClientError", non_retryable=True)


def usage(tokens: int) -> TokenUsage:
    """The tokens of one LLM call."""
    return TokenUsage(prompt_tokens=tokens, completion_tokens=1, total_tokens=tokens + 1, calls=1)


# ----- the DAG -------------------------------------------------------------------------------


async def test_dag_runs_dependencies_first_overlaps_independent_tasks_and_resolves_references(
    temporal_client,
):
    spans: dict[str, tuple[float, float]] = {}
    configs: dict[str, dict[str, Any]] = {}
    outputs = {"a": {"x": "items/42"}, "b": {"y": [1, 2]}, "c": {"done": True}}

    @activity.defn(name="api_call")
    async def api_call(request: ActionRequest) -> ActionResult:
        started = time.monotonic()
        configs[request.task_id] = request.config
        await asyncio.sleep(0.3)
        spans[request.task_id] = (started, time.monotonic())
        return ActionResult(output=outputs[request.task_id], attempt=activity.info().attempt)

    plan = plan_of(
        task("a", "api_call", get("http://x/a")),
        task("b", "api_call", get("http://x/b")),
        task(
            "c",
            "api_call",
            get("http://x/{{ tasks.a.output.x }}", params={"v": "{{ tasks.b.output.y }}"}),
            "a",
            "b",
        ),
    )
    async with running_worker(temporal_client, api_call) as client:
        handle = await client.start(
            plan=plan, options=RunOptions(**FAST), workflow_id=run_id("dag")
        )
        result = await handle.result()

    assert result.status == RunStatus.COMPLETED
    (a_start, a_end), (b_start, b_end), (c_start, _) = spans["a"], spans["b"], spans["c"]
    assert a_start < b_end and b_start < a_end, f"a and b did not overlap: {spans}"
    assert c_start >= max(a_end, b_end), f"c started before its dependencies ended: {spans}"
    assert configs["c"]["url"] == "http://x/items/42"
    assert configs["c"]["params"] == {"v": [1, 2]}
    assert by_id(result)["c"].output == {"done": True}


# ----- pure actions --------------------------------------------------------------------------


async def test_a_small_transform_is_computed_in_the_workflow_without_an_activity(temporal_client):
    @activity.defn(name="api_call")
    async def api_call(request: ActionRequest) -> ActionResult:
        output = {"status_code": 200, "body": [{"age": 25}, {"age": 40}, {"age": 31}]}
        return ActionResult(output=output, attempt=activity.info().attempt)

    adults = {"input": "{{ tasks.fetch.output.body }}", "expression": "[?age > `30`].age"}
    plan = plan_of(
        task("fetch", "api_call", get("http://x/users"), local=False),  # its one activity
        task("adults", "data_transform", adults, "fetch"),
        task("total", "data_transform", {"input": "{{ tasks.adults.output }}",
                                         "expression": "sum(@)"}, "adults"),
    )  # fmt: skip
    # No data_transform activity is registered: an activity or a local activity would fail.
    async with running_worker(temporal_client, api_call) as client:
        handle = await client.start(
            plan=plan, options=RunOptions(**FAST), workflow_id=run_id("inline")
        )
        result = await handle.result()

    assert result.status == RunStatus.COMPLETED
    tasks = by_id(result)
    assert tasks["adults"].output == [40, 31]
    assert (tasks["total"].output, tasks["total"].attempts) == (71, 1)
    history = await temporal_client.get_workflow_handle(handle.workflow_id).fetch_history()
    scheduled = [event.activity_task_scheduled_event_attributes.activity_type.name
                 for event in history.events if event.HasField(
                     "activity_task_scheduled_event_attributes")]  # fmt: skip
    assert scheduled == ["api_call"]
    markers = {event.marker_recorded_event_attributes.marker_name for event in history.events
               if event.HasField("marker_recorded_event_attributes")}  # fmt: skip
    assert markers == {"core_patch"}, "no local activity"


async def test_a_failing_transform_in_the_workflow_goes_to_the_analyst_once(temporal_client):
    analyses: list[AnalysisRequest] = []

    @activity.defn(name="analyze_failure")
    async def analyze_failure(request: AnalysisRequest) -> AnalysisReply:
        analyses.append(request)
        return AnalysisReply(decision=FailureDecision(action="skip", reason="nothing to check"))

    check = {"input": [1, 2], "expression": "length(@)", "require": "@ > `5`"}
    plan = plan_of(task("check", "data_transform", check, critical=False))
    async with running_worker(temporal_client, analyze_failure) as client:
        handle = await client.start(
            plan=plan, options=RunOptions(**{**FAST, "max_retries": 3}),
            workflow_id=run_id("inline-fail"),
        )  # fmt: skip
        result = await handle.result()

    [analysis] = analyses
    assert analysis.failure.error_type == ErrorType.REQUIREMENT_FAILED
    assert analysis.failure.attempts == 1
    assert "does not satisfy '@ > `5`'" in analysis.failure.message
    assert by_id(result)["check"].status == TaskStatus.SKIPPED


async def test_a_transform_with_a_secret_or_a_large_result_runs_as_an_activity(temporal_client):
    asked: list[str] = []

    @activity.defn(name="data_transform")
    async def data_transform(request: ActionRequest) -> ActionResult:
        asked.append(request.task_id)
        return ActionResult(output="from the activity", attempt=activity.info().attempt)

    big = {"input": "x" * 40_000, "expression": "[@, @]"}  # 80 KB out of a 40 KB config
    secret = {"input": "{{ secrets.TOKEN }}", "expression": "length(@)"}
    small = {"input": "abc", "expression": "length(@)"}
    plan = plan_of(task("big", "data_transform", big),
                   task("secret", "data_transform", secret),
                   task("small", "data_transform", small))  # fmt: skip
    async with running_worker(temporal_client, data_transform) as client:
        handle = await client.start(
            plan=plan, options=RunOptions(**FAST), workflow_id=run_id("inline-not")
        )
        result = await handle.result()

    assert sorted(asked) == ["big", "secret"]
    history = await temporal_client.get_workflow_handle(handle.workflow_id).fetch_history()
    regular = [event.activity_task_scheduled_event_attributes.activity_id
               for event in history.events
               if event.HasField("activity_task_scheduled_event_attributes")]  # fmt: skip
    # A result too large for the workflow is computed again where it can go to the blob store.
    assert "big" in regular, "a regular activity, not a local one"
    tasks = by_id(result)
    assert tasks["big"].output == tasks["secret"].output == "from the activity"
    assert tasks["small"].output == 3


class Numbers(ActionConfig):
    values: list[int]


def buggy_sum(config: Numbers) -> int:
    raise ZeroDivisionError("a bug in a plug-in's compute")


def fixed_sum(config: Numbers) -> int:
    return sum(config.values)


async def test_a_bug_in_a_compute_holds_the_run_until_a_fix(temporal_client, monkeypatch):
    spec = ActionSpec(action_type="buggy_sum", config_model=Numbers, description="a bug",
                      pure=True, compute=buggy_sum)  # fmt: skip
    monkeypatch.setitem(ACTIONS._specs, spec.action_type, spec)  # only for this test
    run_input = RunInput(plan=plan_of(task("sum", "buggy_sum", {"values": [1, 2]})),
                         options=RunOptions(**FAST))  # fmt: skip
    async with running_worker(temporal_client) as client:
        # Temporal retries a workflow task when its timeout (10 s unless set) has passed.
        execution = await temporal_client.start_workflow(
            AgentRunWorkflow.run, run_input, id=run_id("buggy"),
            task_queue=client.settings.task_queue, task_timeout=timedelta(seconds=1),
        )  # fmt: skip

        async def workflow_task_failure() -> Failure | None:
            history = await execution.fetch_history()
            failures = [event.workflow_task_failed_event_attributes.failure
                        for event in history.events
                        if event.HasField("workflow_task_failed_event_attributes")]  # fmt: skip
            return failures[0] if failures else None

        async def retried() -> bool:
            pending = (await execution.describe()).raw_description.pending_workflow_task
            return pending.attempt >= 2

        failure = await eventually(workflow_task_failure, "the workflow task to fail")
        await eventually(retried, "Temporal to retry the workflow task")
        held = await execution.describe()

    assert held.status == WorkflowExecutionStatus.RUNNING, "held, not failed"
    assert failure.application_failure_info.type == "ZeroDivisionError"
    assert failure.message == "a bug in a plug-in's compute"
    # The fix deployed: a worker with the corrected compute takes the run's next attempt.
    monkeypatch.setitem(ACTIONS._specs, spec.action_type, replace(spec, compute=fixed_sum))
    async with running_worker(temporal_client, task_queue=client.settings.task_queue):
        result = await asyncio.wait_for(execution.result(), WAIT_SECONDS)

    assert result.status == RunStatus.COMPLETED
    assert (by_id(result)["sum"].output, by_id(result)["sum"].attempts) == (3, 1)


# ----- failure analysis ----------------------------------------------------------------------


async def test_analyst_modify_runs_a_second_round_with_the_corrected_config(temporal_client):
    calls: list[tuple[str, str]] = []
    analyses: list[AnalysisRequest] = []

    @activity.defn(name="api_call")
    async def api_call(request: ActionRequest) -> ActionResult:
        calls.append((activity.info().activity_id, request.config["url"]))
        if request.config["url"].endswith("/bad"):
            raise http_client_error("HTTP 404 from http://x/bad")
        return ActionResult(output={"status_code": 200}, attempt=activity.info().attempt)

    @activity.defn(name="analyze_failure")
    async def analyze_failure(request: AnalysisRequest) -> AnalysisReply:
        analyses.append(request)
        decision = FailureDecision(
            action="modify", reason="wrong path", new_config=get("http://x/good")
        )
        return AnalysisReply(decision=decision)

    plan = plan_of(task("fetch", "api_call", get("http://x/bad")))
    async with running_worker(temporal_client, api_call, analyze_failure) as client:
        handle = await client.start(
            plan=plan, options=RunOptions(**FAST), workflow_id=run_id("modify")
        )
        result = await handle.result()

    assert calls == [("fetch", "http://x/bad"), ("fetch:round2", "http://x/good")]
    assert len(analyses) == 1
    assert analyses[0].failure.error_type == "HttpClientError"
    assert analyses[0].failure.message == "HTTP 404 from http://x/bad"
    assert result.status == RunStatus.COMPLETED
    [decision] = result.decisions
    assert (decision.source, decision.applied) == ("analyst", "modify")
    assert decision.decision.new_config == get("http://x/good")
    fetch = by_id(result)["fetch"]
    assert fetch.status == TaskStatus.COMPLETED
    assert fetch.attempts == 2
    assert result.plan is not None
    assert result.plan.tasks[0].action_config.url == "http://x/good"


async def test_analyst_budget_spent_lets_the_fallback_fail_the_run(temporal_client):
    activity_ids: list[str] = []
    analyses: list[AnalysisRequest] = []

    @activity.defn(name="api_call")
    async def api_call(request: ActionRequest) -> ActionResult:
        activity_ids.append(activity.info().activity_id)
        raise http_client_error("HTTP 403 from http://x/locked")

    @activity.defn(name="analyze_failure")
    async def analyze_failure(request: AnalysisRequest) -> AnalysisReply:
        analyses.append(request)
        return AnalysisReply(decision=FailureDecision(action="retry", reason="try again"))

    workflow_id = run_id("budget")
    options = RunOptions(**FAST, max_analyses_per_task=1)
    plan = plan_of(task("locked", "api_call", get("http://x/locked"), critical=True))
    async with running_worker(temporal_client, api_call, analyze_failure) as client:
        handle = await client.start(plan=plan, options=options, workflow_id=workflow_id)
        result = await handle.result()

    assert activity_ids == ["locked", "locked:round2"]
    assert len(analyses) == 1
    assert [(d.source, d.applied) for d in result.decisions] == [
        ("analyst", "retry"),
        ("fallback", "fail_workflow"),
    ]
    assert "limit of 1 analyses" in result.decisions[1].decision.reason
    assert result.status == RunStatus.FAILED
    assert by_id(result)["locked"].status == TaskStatus.FAILED

    execution = temporal_client.get_workflow_handle(workflow_id)
    assert (await execution.describe()).status == WorkflowExecutionStatus.FAILED
    with pytest.raises(WorkflowFailureError) as failed:
        await execution.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == ErrorType.RUN_FAILED
    carried = RunResult.model_validate(cause.details[0])
    assert carried.status == RunStatus.FAILED
    assert carried.decisions == result.decisions


# ----- planning ------------------------------------------------------------------------------


async def test_invalid_plan_draft_is_repaired_in_a_second_round_and_usage_is_summed(
    temporal_client,
):
    requests: list[PlanRequest] = []
    plan = plan_of(task("only", "api_call", get("http://x/only")), goal="count the things")

    @activity.defn(name="plan_goal")
    async def plan_goal(request: PlanRequest) -> PlanDraft:
        requests.append(request)
        if len(requests) == 1:
            return PlanDraft(reply="junk", errors=["not JSON"], usage=usage(10))
        return PlanDraft(plan=plan, reply="{...}", usage=usage(20))

    @activity.defn(name="api_call")
    async def api_call(request: ActionRequest) -> ActionResult:
        return ActionResult(output={"n": 1}, attempt=activity.info().attempt)

    async with running_worker(temporal_client, plan_goal, api_call) as client:
        handle = await client.start(
            goal="count the things", options=RunOptions(**FAST), workflow_id=run_id("plan")
        )
        result = await handle.result()

    assert [r.goal for r in requests] == ["count the things"] * 2
    assert (requests[0].previous_reply, requests[0].errors) == (None, [])
    assert (requests[1].previous_reply, requests[1].errors) == ("junk", ["not JSON"])
    assert result.status == RunStatus.COMPLETED
    assert by_id(result)["only"].output == {"n": 1}
    assert result.usage == TokenUsage(
        prompt_tokens=30, completion_tokens=2, total_tokens=32, calls=2
    )


# ----- sub-plans -----------------------------------------------------------------------------


async def test_a_sub_plan_runs_as_a_child_with_its_inputs_and_the_budget_left(temporal_client):
    """A goal sub-plan under a for-each: one child run per item, planned with the item as an
    input and with the LLM calls the parent has left; the parent counts the children's."""
    plan_requests: list[PlanRequest] = []
    calls: dict[str, dict[str, Any]] = {}
    child_plan = plan_of(task("get", "api_call", get("http://x/users/{{ inputs.user }}")))

    @activity.defn(name="plan_goal")
    async def plan_goal(request: PlanRequest) -> PlanDraft:
        plan_requests.append(request)
        return PlanDraft(plan=child_plan, reply="{...}", usage=usage(10))

    @activity.defn(name="api_call")
    async def api_call(request: ActionRequest) -> ActionResult:
        calls[activity.info().workflow_id or ""] = request.config
        return ActionResult(output={"url": request.config["url"]}, attempt=1)

    each = task("each", "sub_plan", {"goal": "fetch one user", "inputs": {"user": "{{ item }}"}},
                for_each=[3, 5])  # fmt: skip
    workflow_id = run_id("sub-plan")
    async with running_worker(temporal_client, plan_goal, api_call) as client:
        handle = await client.start(plan=plan_of(each), workflow_id=workflow_id,
                                    options=RunOptions(**FAST, max_llm_calls=5))  # fmt: skip
        result = await handle.result()

    assert result.status == RunStatus.COMPLETED, result.error
    assert by_id(result)["each"].output == [{"get": {"url": "http://x/users/3"}},
                                            {"get": {"url": "http://x/users/5"}}]  # fmt: skip
    assert calls[f"{workflow_id}.each[1]"]["url"] == "http://x/users/5"
    assert sorted('{{ inputs.user }} = 3' in r.goal or '{{ inputs.user }} = 5' in r.goal
                  for r in plan_requests) == [True, True]  # fmt: skip
    assert result.usage.calls == 2, "the children's LLM calls count in the parent's usage"
    child = await temporal_client.get_workflow_handle(f"{workflow_id}.each[0]").fetch_history()
    child_input = child.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    started = RunInput.model_validate_json(child_input.data)
    assert (started.depth, started.inputs, started.options.max_llm_calls) == (1, {"user": 3}, 5)


# ----- approvals -----------------------------------------------------------------------------


async def test_risky_task_waits_for_its_approval_then_runs(temporal_client):
    ran: list[str] = []

    @activity.defn(name="api_call")
    async def api_call(request: ActionRequest) -> ActionResult:
        ran.append(request.task_id)
        return ActionResult(output={"status_code": 201}, attempt=activity.info().attempt)

    plan = plan_of(task("post", "api_call", {"method": "POST", "url": "http://x/orders"}))
    options = RunOptions(**{**FAST, "approval": "risky"})
    async with running_worker(temporal_client, api_call) as client:
        handle = await client.start(plan=plan, options=options, workflow_id=run_id("risky"))
        await eventually(
            lambda: has_status(handle, "post", TaskStatus.WAITING_APPROVAL),
            "post to wait for approval",
        )
        waiting = by_id(await handle.status())["post"]
        assert waiting.risk == "sends POST http://x/orders"
        assert ran == []

        await handle.approve(task="post", by="alice")
        result = await handle.result()

    assert ran == ["post"]
    assert result.status == RunStatus.COMPLETED
    post = by_id(result)["post"]
    assert (post.status, post.approved_by) == (TaskStatus.COMPLETED, "alice")


async def test_plan_not_approved_in_time_ends_the_run_rejected(temporal_client):
    @activity.defn(name="api_call")
    async def api_call(request: ActionRequest) -> ActionResult:
        raise AssertionError("a task ran although its plan was never approved")

    plan = plan_of(task("fetch", "api_call", get("http://x/a")))
    options = RunOptions(**{**FAST, "approval": "plan", "approval_timeout_seconds": 1})
    async with running_worker(temporal_client, api_call) as client:
        handle = await client.start(plan=plan, options=options, workflow_id=run_id("timeout"))
        result = await handle.result()

    assert result.status == RunStatus.REJECTED
    assert result.error is not None
    assert "timed out" in result.error and "no approval within 1s" in result.error
    fetch = by_id(result)["fetch"]
    assert (fetch.status, fetch.reason) == (TaskStatus.SKIPPED, "the plan was rejected")


# ----- polling -------------------------------------------------------------------------------


async def test_poll_checks_until_done_and_returns_the_last_response(temporal_client):
    checks: list[str] = []

    @activity.defn(name="poll")
    async def poll(request: ActionRequest) -> ActionResult:
        checks.append(activity.info().activity_id)
        assert request.config["request"]["url"] == "http://x/job"
        n = len(checks)
        output = {"done": n >= 3, "response": {"n": n}}
        return ActionResult(output=output, attempt=activity.info().attempt)

    config = {"request": {"url": "http://x/job"}, "until": "body.done", "interval": 0.1,
              "timeout": 30}  # fmt: skip
    plan = plan_of(task("job", "poll", config))
    async with running_worker(temporal_client, poll) as client:
        handle = await client.start(
            plan=plan, options=RunOptions(**FAST), workflow_id=run_id("poll")
        )
        result = await handle.result()

    assert checks == ["job:check1", "job:check2", "job:check3"]
    assert result.status == RunStatus.COMPLETED
    assert by_id(result)["job"].output == {"n": 3}


# ----- cancellation and edits ----------------------------------------------------------------


async def test_cancel_through_temporal_cancels_the_running_task(temporal_client):
    started = asyncio.Event()
    seen: list[str] = []

    @activity.defn(name="api_call")
    async def api_call(request: ActionRequest) -> ActionResult:
        started.set()
        try:
            while True:
                await asyncio.sleep(0.1)
                activity.heartbeat()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    plan = plan_of(
        # A regular activity, heartbeating: a local one cannot, and its cancel waits for it.
        task("slow", "api_call", get("http://x/slow"), local=False),
        task("next", "api_call", get("http://x/next"), "slow"),
    )
    async with running_worker(temporal_client, api_call) as client:
        handle = await client.start(
            plan=plan, options=RunOptions(**FAST), workflow_id=run_id("cancel")
        )
        await asyncio.wait_for(started.wait(), WAIT_SECONDS)
        await handle.cancel(reason="enough", by="bob")
        result = await asyncio.wait_for(handle.result(), WAIT_SECONDS)

    assert seen == ["cancelled"]
    assert result.status == RunStatus.CANCELLED
    assert result.error is not None and "enough" in result.error
    tasks = by_id(result)
    assert tasks["slow"].status == TaskStatus.CANCELLED
    assert tasks["next"].status == TaskStatus.CANCELLED
    assert tasks["next"].reason.startswith("never ran")
    execution = temporal_client.get_workflow_handle(handle.workflow_id)
    assert (await execution.describe()).status == WorkflowExecutionStatus.CANCELED


async def test_edit_of_a_task_that_is_not_waiting_is_refused_and_changes_nothing(
    temporal_client,
):
    configs: dict[str, dict[str, Any]] = {}

    @activity.defn(name="api_call")
    async def api_call(request: ActionRequest) -> ActionResult:
        configs[request.task_id] = request.config
        return ActionResult(output={"status_code": 200}, attempt=activity.info().attempt)

    plan = plan_of(
        task("post", "api_call", {"method": "POST", "url": "http://x/orders"}),
        task("after", "api_call", get("http://x/after"), "post"),
    )
    options = RunOptions(**{**FAST, "approval": "risky"})
    async with running_worker(temporal_client, api_call) as client:
        handle = await client.start(plan=plan, options=options, workflow_id=run_id("edit"))
        await eventually(
            lambda: has_status(handle, "post", TaskStatus.WAITING_APPROVAL),
            "post to wait for approval",
        )
        with pytest.raises(EditRefused) as refused:
            await handle.edit(task="after", config=get("http://x/edited"), by="carol")
        await handle.approve(task="post", by="alice")
        result = await handle.result()

    message = str(refused.value)
    assert "task 'after' is pending" in message
    assert "only while it (or the plan) waits for approval" in message
    assert result.status == RunStatus.COMPLETED
    assert configs["after"]["url"] == "http://x/after"
