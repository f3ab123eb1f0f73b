"""The workflow's pure logic: scheduling, failure decisions and edits by people in the loop.

These functions make no Temporal calls, so they are tested here directly, in milliseconds,
on real plans and task states.
"""

from __future__ import annotations

from typing import Any

import pytest

from agentic.core.messages import (
    ApprovalSignal,
    DecisionRecord,
    EditRequest,
    FailureDecision,
    Phase,
    RunOptions,
    TaskFailure,
    TaskResult,
    TaskStatus,
)
from agentic.core.plan import Plan
from agentic.workflows.approvals import Waiting, edited_plan, rejection
from agentic.workflows.decisions import (
    allowed_actions,
    analysis_request,
    apply_decision,
    budget_note,
    ended_status,
    ending,
    fallback_action,
    fallback_decision,
)
from agentic.workflows.scheduling import (
    Schedule,
    has_free_slot,
    mark_never_ran,
    missed_critical,
    ready_tasks,
    skip_blocked,
)
from tests.helpers import get, task

S = TaskStatus


def wait(task_id: str, *deps: str, **extra: Any) -> dict:
    return task(task_id, "wait", {"seconds": 0}, *deps, **extra)


def call(task_id: str, *deps: str, **extra: Any) -> dict:
    return task(task_id, "api_call", get(f"http://x/{task_id}"), *deps, **extra)


def plan_of(*tasks: dict) -> Plan:
    return Plan.model_validate({"goal": "ship it", "tasks": list(tasks)})


def results(plan: Plan, **statuses: TaskStatus) -> dict[str, TaskResult]:
    return {
        t.id: TaskResult(task_id=t.id, status=statuses.get(t.id, S.PENDING)) for t in plan.tasks
    }


def schedule(plan: Plan, max_parallel: int = 4, **statuses: TaskStatus) -> Schedule:
    return Schedule(plan, results(plan, **statuses), max_parallel)


def record(task_id: str, action: str = "retry") -> DecisionRecord:
    return DecisionRecord(
        task_id=task_id,
        decision=FailureDecision(action=action, reason=f"{action} {task_id}"),
        applied=action,
        error=TaskFailure(message="boom"),
    )


def ids(tasks: list) -> list[str]:
    return [t.id for t in tasks]


# ----- scheduling ---------------------------------------------------------------------------


def test_ready_tasks_are_pending_with_every_dependency_completed():
    plan = plan_of(wait("a"), wait("b"), wait("c", "a"), wait("d", "a", "b"), wait("e", "c"))
    sched = schedule(plan, a=S.COMPLETED, b=S.RUNNING)
    assert ids(ready_tasks(sched)) == ["c"]


def test_ready_tasks_skip_tasks_that_are_not_pending():
    plan = plan_of(wait("a"), wait("b"), wait("c"), wait("d"))
    sched = schedule(plan, a=S.RUNNING, b=S.WAITING_APPROVAL, c=S.FAILED)
    assert ids(ready_tasks(sched)) == ["d"]


def test_ready_tasks_keep_plan_order():
    plan = plan_of(wait("zeta"), wait("alpha"), wait("mid", "alpha"), wait("beta"))
    sched = schedule(plan, alpha=S.COMPLETED)
    assert ids(ready_tasks(sched)) == ["zeta", "mid", "beta"]


def test_running_and_analyzing_tasks_fill_the_slots():
    plan = plan_of(wait("a"), wait("b"), wait("c"))
    assert not has_free_slot(schedule(plan, max_parallel=2, a=S.RUNNING, b=S.ANALYZING))
    assert has_free_slot(schedule(plan, max_parallel=3, a=S.RUNNING, b=S.ANALYZING))


def test_tasks_waiting_for_approval_take_no_slot():
    plan = plan_of(wait("a"), wait("b"), wait("c"))
    sched = schedule(plan, max_parallel=1, a=S.WAITING_APPROVAL, b=S.WAITING_APPROVAL)
    assert has_free_slot(sched)


def test_skip_blocked_skips_transitively_whatever_the_plan_order():
    plan = plan_of(wait("d", "c"), wait("c", "b"), wait("b", "a"), wait("a"), wait("free"))
    sched = schedule(plan, a=S.FAILED)
    assert sorted(skip_blocked(sched)) == ["b", "c", "d"]
    assert {i: r.status for i, r in sched.tasks.items()} == {
        "a": S.FAILED,
        "b": S.SKIPPED,
        "c": S.SKIPPED,
        "d": S.SKIPPED,
        "free": S.PENDING,
    }
    assert sched.tasks["b"].reason == "dependency 'a' failed"
    assert sched.tasks["d"].reason == "dependency 'c' skipped"


def test_skip_blocked_names_the_first_blocking_dependency():
    plan = plan_of(wait("ok"), wait("gone"), wait("bad"), wait("x", "ok", "gone", "bad"))
    sched = schedule(plan, ok=S.COMPLETED, gone=S.CANCELLED, bad=S.FAILED)
    assert skip_blocked(sched) == ["x"]
    assert sched.tasks["x"].reason == "dependency 'gone' cancelled"


def test_skip_blocked_leaves_unblocked_and_started_tasks_alone():
    plan = plan_of(wait("a"), wait("b", "a"), wait("c", "a"))
    sched = schedule(plan, a=S.COMPLETED, c=S.RUNNING)
    assert skip_blocked(sched) == []
    assert [r.status for r in sched.tasks.values()] == [S.COMPLETED, S.PENDING, S.RUNNING]


def test_mark_never_ran_touches_only_unfinished_tasks():
    finished = [S.COMPLETED, S.FAILED, S.SKIPPED, S.CANCELLED]
    unfinished = [S.PENDING, S.WAITING_APPROVAL, S.RUNNING, S.ANALYZING]
    tasks = {
        status.value: TaskResult(task_id=status.value, status=status, reason="before")
        for status in finished + unfinished
    }
    mark_never_ran(tasks, S.CANCELLED, "stopped")
    for status in finished:
        assert (tasks[status.value].status, tasks[status.value].reason) == (status, "before")
    for status in unfinished:
        assert (tasks[status.value].status, tasks[status.value].reason) == (S.CANCELLED, "stopped")


def test_missed_critical_names_each_critical_task_that_did_not_complete():
    plan = plan_of(wait("a"), wait("b"), wait("c"), wait("d", critical=False))
    sched = schedule(plan, a=S.COMPLETED, b=S.SKIPPED, c=S.FAILED, d=S.FAILED)
    sched.tasks["b"].reason = "rejected by bob"
    sched.tasks["c"].reason = "timed out"
    assert missed_critical(sched) == (
        "critical tasks did not complete: b (skipped: rejected by bob); c (failed: timed out)"
    )


def test_missed_critical_ignores_non_critical_failures():
    plan = plan_of(wait("a"), wait("b", critical=False), wait("c", critical=False))
    assert missed_critical(schedule(plan, a=S.COMPLETED, b=S.FAILED, c=S.SKIPPED)) is None


# ----- failure decisions --------------------------------------------------------------------


def test_budget_note_when_analysis_is_off():
    options = RunOptions(analyze_failures=False)
    assert budget_note(options, [], 0, "a") == "failure analysis is off for this run"


def test_budget_note_when_the_task_used_its_analyses():
    options = RunOptions(max_analyses_per_task=2)
    decisions = [record("a"), record("b"), record("a")]
    assert budget_note(options, decisions, 3, "a") == "task reached its limit of 2 analyses"
    assert budget_note(options, decisions, 3, "b") == ""


def test_budget_note_when_the_run_used_its_analyses():
    options = RunOptions(max_analyses_per_run=5)
    assert budget_note(options, [], 5, "a") == "run reached its limit of 5 analyses"
    assert budget_note(options, [], 4, "a") == ""


def test_fallback_fails_the_run_for_a_critical_task():
    critical = plan_of(wait("a")).tasks[0]
    assert fallback_action(critical) == "fail_workflow"
    decision = fallback_decision(critical, "analysis is off")
    assert decision.action == "fail_workflow"
    assert decision.reason == "analysis is off; critical task, so the run fails"


def test_fallback_gives_up_a_non_critical_task():
    optional = plan_of(wait("a", critical=False)).tasks[0]
    assert fallback_action(optional) == "skip"
    decision = fallback_decision(optional, "no analyst")
    assert decision.action == "skip"
    assert decision.reason == "no analyst; non-critical task, so the run goes on without it"


def test_retry_runs_the_same_task_in_the_same_plan():
    plan = plan_of(call("a"))
    applied = apply_decision(plan, plan.tasks[0], FailureDecision(action="retry", reason="flaky"))
    assert (applied.action, applied.note) == ("retry", "")
    assert applied.next_task is plan.tasks[0]
    assert applied.plan is plan


def test_modify_runs_a_new_task_in_an_updated_plan():
    plan = plan_of(call("a"), call("b", "a"))
    new_config = {"method": "post", "url": "http://x/fixed"}
    decision = FailureDecision(action="modify", reason="wrong url", new_config=new_config)
    applied = apply_decision(plan, plan.tasks[0], decision)
    assert (applied.action, applied.note) == ("modify", "")
    assert applied.next_task is not None and applied.next_task is not plan.tasks[0]
    assert applied.next_task.action_config.url == "http://x/fixed"
    assert applied.next_task.action_config.method == "POST"
    assert applied.plan.by_id["a"] == applied.next_task
    assert applied.plan.by_id["b"] == plan.by_id["b"]
    assert plan.by_id["a"].action_config.url == "http://x/a"


@pytest.mark.parametrize(
    ("new_config", "expected"),
    [
        ({"url": "ftp://x"}, "url must start with http:// or https://"),
        (None, "action_config.url: Field required"),
    ],
)
def test_invalid_modify_falls_back_and_says_why(new_config, expected):
    plan = plan_of(call("a"))
    decision = FailureDecision(action="modify", reason="try this", new_config=new_config)
    applied = apply_decision(plan, plan.tasks[0], decision)
    assert applied.action == "fail_workflow"
    assert applied.note.startswith("the modified config was invalid: ")
    assert expected in applied.note
    assert applied.next_task is None
    assert applied.plan is plan


def test_invalid_modify_of_a_non_critical_task_gives_it_up():
    plan = plan_of(call("a", critical=False))
    decision = FailureDecision(action="modify", reason="x", new_config={"url": "nope"})
    assert apply_decision(plan, plan.tasks[0], decision).action == "skip"


def test_modify_cannot_refer_to_a_task_that_is_not_upstream():
    plan = plan_of(call("a"), call("b"))
    config = {"url": "{{ tasks.b.output.body.url }}"}
    decision = FailureDecision(action="modify", reason="x", new_config=config)
    applied = apply_decision(plan, plan.by_id["a"], decision)
    assert applied.action == "fail_workflow"
    assert "which is not upstream of it" in applied.note
    assert applied.plan is plan


def test_skip_of_a_critical_task_fails_the_run():
    plan = plan_of(wait("a"))
    applied = apply_decision(plan, plan.tasks[0], FailureDecision(action="skip", reason="meh"))
    assert applied.action == "fail_workflow"
    assert applied.note == "skip is not allowed for a critical task"
    assert applied.next_task is None


def test_skip_of_a_non_critical_task_ends_it():
    plan = plan_of(wait("a", critical=False))
    applied = apply_decision(plan, plan.tasks[0], FailureDecision(action="skip", reason="meh"))
    assert (applied.action, applied.note, applied.next_task) == ("skip", "", None)
    assert applied.plan is plan


@pytest.mark.parametrize(
    ("action", "source", "expected"),
    [
        ("skip", "analyst", S.SKIPPED),
        ("skip", "fallback", S.FAILED),
        ("fail_workflow", "analyst", S.FAILED),
        ("fail_workflow", "fallback", S.FAILED),
        ("retry", "analyst", None),
        ("modify", "analyst", None),
    ],
)
def test_ended_status(action, source, expected):
    assert ended_status(action, source) == expected


def test_skip_is_allowed_only_for_non_critical_tasks():
    critical, optional = plan_of(wait("a"), wait("b", critical=False)).tasks
    assert allowed_actions(critical) == ["retry", "modify", "fail_workflow"]
    assert allowed_actions(optional) == ["retry", "modify", "skip", "fail_workflow"]


def test_analysis_request_carries_ancestor_outputs_and_the_task_decisions():
    plan = plan_of(call("a"), call("b", "a"), call("side"), call("c", "b"), call("after", "c"))
    target = plan.by_id["c"]
    outputs = {"a": {"n": 1}, "side": "unrelated", "after": "later"}
    history = [record("c", "retry"), record("side", "skip"), record("c", "modify")]
    failure = TaskFailure(message="HTTP 500", attempts=3)
    request = analysis_request(plan.goal, plan, target, failure, outputs, history)
    assert request.goal == "ship it"
    assert request.task["id"] == "c"
    assert request.task["action_config"]["url"] == "http://x/c"
    assert request.failure == failure
    assert request.upstream_outputs == {"a": {"n": 1}, "b": None}
    assert [d.reason for d in request.previous_decisions] == ["retry c", "modify c"]
    assert request.allowed_actions == ["retry", "modify", "fail_workflow"]


# ----- approvals ----------------------------------------------------------------------------


def waiting(
    phase: Phase = Phase.AWAITING_APPROVAL,
    plan_verdict: bool = False,
    task_verdicts: frozenset[str] = frozenset(),
    **statuses: TaskStatus,
) -> Waiting:
    plan = plan_of(call("a"), call("b", "a"))
    return Waiting(phase, plan, plan_verdict, results(plan, **statuses), task_verdicts)


def refusal(state: Waiting, request: EditRequest) -> str:
    with pytest.raises(ValueError) as caught:
        edited_plan(state, request)
    return str(caught.value)


NEW_PLAN = {"goal": "other", "tasks": [wait("only")]}
NEW_CONFIG = {"url": "http://x/new"}


def test_nothing_is_edited_once_the_run_finished():
    message = refusal(waiting(Phase.FINISHED), EditRequest(task="a", config=NEW_CONFIG))
    assert message == "the run is finished: there is no plan to edit"


def test_nothing_is_edited_before_there_is_a_plan():
    state = Waiting(Phase.PLANNING, None, False, {}, frozenset())
    assert refusal(state, EditRequest(plan=NEW_PLAN)) == (
        "the run is planning: there is no plan to edit"
    )


def test_whole_plan_edit_is_refused_once_the_run_runs():
    message = refusal(waiting(Phase.RUNNING), EditRequest(plan=NEW_PLAN))
    assert "only be replaced while it waits for approval (the run is running)" in message


def test_whole_plan_edit_is_refused_after_the_verdict():
    message = refusal(waiting(plan_verdict=True), EditRequest(plan=NEW_PLAN))
    assert "only be replaced while it waits for approval" in message


def test_whole_plan_edit_while_the_plan_waits():
    plan, edited = edited_plan(waiting(), EditRequest(plan=NEW_PLAN))
    assert edited == "plan"
    assert plan.goal == "other"
    assert ids(plan.tasks) == ["only"]


def test_invalid_whole_plan_is_refused_with_readable_errors():
    bad = {"tasks": [wait("a", "ghost"), task("b", "api_call", {"url": "ftp://x"})]}
    message = refusal(waiting(), EditRequest(plan=bad))
    assert message.startswith("invalid plan: ")
    assert "action_config: url must start with http:// or https://" in message
    assert "validation error" not in message


def test_edit_needs_a_plan_or_a_task_and_its_config():
    message = refusal(waiting(), EditRequest(task="a"))
    assert message == "give a whole plan, or a task and its new config"


def test_edit_of_an_unknown_task_lists_the_tasks():
    message = refusal(waiting(), EditRequest(task="zz", config=NEW_CONFIG))
    assert message == "no task 'zz'; tasks: a, b"


def test_task_that_does_not_wait_cannot_be_edited():
    state = waiting(Phase.RUNNING, a=S.COMPLETED, b=S.RUNNING)
    message = refusal(state, EditRequest(task="b", config=NEW_CONFIG))
    assert message.startswith("task 'b' is running: a task can be edited only while it")


def test_task_that_got_its_verdict_cannot_be_edited():
    state = waiting(Phase.RUNNING, task_verdicts=frozenset({"b"}), b=S.WAITING_APPROVAL)
    message = refusal(state, EditRequest(task="b", config=NEW_CONFIG))
    assert message.startswith("task 'b' is waiting_approval: a task can be edited only")


def test_pending_task_cannot_be_edited_once_the_plan_got_its_verdict():
    message = refusal(waiting(plan_verdict=True), EditRequest(task="a", config=NEW_CONFIG))
    assert message.startswith("task 'a' is pending")


def test_task_edit_while_the_task_waits():
    state = waiting(Phase.RUNNING, a=S.COMPLETED, b=S.WAITING_APPROVAL)
    plan, edited = edited_plan(state, EditRequest(task="b", config=NEW_CONFIG))
    assert edited == "b"
    assert plan.by_id["b"].action_config.url == "http://x/new"
    assert plan.by_id["a"] == state.plan.by_id["a"]
    assert state.plan.by_id["b"].action_config.url == "http://x/b"


def test_task_edit_while_the_plan_waits():
    plan, edited = edited_plan(waiting(), EditRequest(task="a", config=NEW_CONFIG))
    assert edited == "a"
    assert plan.by_id["a"].action_config.url == "http://x/new"


def test_task_edit_validates_the_new_config():
    message = refusal(waiting(), EditRequest(task="a", config={"url": "ftp://x"}))
    assert message.startswith("task 'a' (api_call): action_config: url must start with http")


def test_task_edit_cannot_refer_to_a_task_that_is_not_upstream():
    config = {"url": "{{ tasks.b.output.body }}"}
    message = refusal(waiting(), EditRequest(task="a", config=config))
    assert "task 'a' refers to the output of 'b', which is not upstream of it" in message


@pytest.mark.parametrize(
    ("signal", "expected"),
    [
        (
            ApprovalSignal(by="timeout", reason="no approval within 60s"),
            "timed out: no approval within 60s",
        ),
        (ApprovalSignal(by="bob", reason="too risky"), "rejected by bob: too risky"),
        (ApprovalSignal(by="bob"), "rejected by bob: no reason given"),
        (ApprovalSignal(), "rejected: no reason given"),
    ],
)
def test_rejection_reads_as_a_sentence(signal, expected):
    assert rejection(signal) == expected


def test_an_invalid_modify_of_a_non_critical_task_fails_it_by_the_engine_rule():
    plan = plan_of(call("a", critical=False))
    decision = FailureDecision(action="modify", reason="try ftp", new_config={"url": "ftp://x"})
    applied = apply_decision(plan, plan.tasks[0], decision)

    status, reason = ending(applied, decision, "analyst")

    assert status == S.FAILED, "given up by the engine's rule, not skipped by the analyst"
    assert reason.startswith("the modified config was invalid: ")


def test_a_modify_that_breaks_the_plan_says_why_in_one_line():
    plan = plan_of(call("a"), call("b"))
    decision = FailureDecision(
        action="modify", reason="x", new_config={"url": "{{ tasks.b.output.body.url }}"}
    )
    note = apply_decision(plan, plan.by_id["a"], decision).note
    assert "validation error" not in note and "errors.pydantic.dev" not in note
    assert "which is not upstream of it" in note
