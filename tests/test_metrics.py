"""`metrics ID`: a run's numbers (tasks, durations, retries, decisions, LLM tokens, cost), from
the pure computation up to the CLI, for finished and running runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from agentic.core.messages import (
    DecisionRecord,
    FailureDecision,
    LLMCall,
    Phase,
    RunResult,
    RunState,
    RunStatus,
    TaskFailure,
    TaskResult,
    TaskStatus,
    TokenUsage,
)
from agentic.core.metrics import ModelPrice, percentile, run_report
from agentic.settings import Settings
from tests.conftest import wait_until
from tests.fakes.api_server import Reply
from tests.helpers import get, task

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def finished_task(task_id: str, status: TaskStatus, seconds: float, attempts: int = 1):
    return TaskResult(task_id=task_id, action_type="api_call", status=status, attempts=attempts,
                      started_at=START, finished_at=START + timedelta(seconds=seconds),
                      duration_seconds=seconds)  # fmt: skip


def decision(task_id: str, applied: str, source: str = "analyst") -> DecisionRecord:
    return DecisionRecord(task_id=task_id, applied=applied, source=source,
                          decision=FailureDecision(action=applied, reason="because"),
                          error=TaskFailure(message="boom"))  # fmt: skip


def llm_call(model: str, purpose: str, prompt: int, completion: int) -> LLMCall:
    return LLMCall(purpose=purpose, endpoint="e", model=model, mode="json_schema",
                   prompt_tokens=prompt, completion_tokens=completion)  # fmt: skip


def result_with(tasks=(), decisions=(), calls=()) -> RunResult:
    usage = TokenUsage(
        prompt_tokens=sum(c.prompt_tokens for c in calls),
        completion_tokens=sum(c.completion_tokens for c in calls),
        total_tokens=sum(c.prompt_tokens + c.completion_tokens for c in calls),
        calls=len(calls),
    )
    return RunResult(workflow_id="run-1", goal="g", status=RunStatus.COMPLETED, tasks=list(tasks),
                     decisions=list(decisions), llm_calls=list(calls), usage=usage,
                     duration_seconds=9.5)  # fmt: skip


# ----- the pure computation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "percent", "expected"),
    [
        ([], 50, None),
        ([7.0], 95, 7.0),
        ([3.0, 1.0, 2.0], 50, 2.0),
        ([3.0, 1.0, 2.0], 95, 3.0),
        ([float(n) for n in range(1, 21)], 50, 10.0),
        ([float(n) for n in range(1, 21)], 95, 19.0),
        ([float(n) for n in range(1, 101)], 95, 95.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
    ],
)
def test_percentiles_are_nearest_rank(values, percent, expected):
    assert percentile(values, percent) == expected


def test_a_finished_run_counts_tasks_durations_and_retries():
    tasks = [
        finished_task("a", TaskStatus.COMPLETED, 1.0),
        finished_task("b", TaskStatus.COMPLETED, 3.0, attempts=3),
        finished_task("c", TaskStatus.FAILED, 2.0, attempts=2),
        TaskResult(task_id="d", status=TaskStatus.SKIPPED, reason="never ran"),
        TaskResult(
            task_id="e",
            status=TaskStatus.CANCELLED,
            attempts=1,
            started_at=START,
            finished_at=START + timedelta(seconds=4),
        ),
    ]

    report = run_report(result_with(tasks))

    assert report.phase == Phase.FINISHED and report.status == RunStatus.COMPLETED
    assert report.duration_seconds == 9.5 and report.as_of is None
    assert list(report.tasks_by_status) == [status.value for status in TaskStatus]
    assert report.tasks_by_status["completed"] == 2
    assert report.tasks_by_status["failed"] == report.tasks_by_status["skipped"] == 1
    assert report.tasks_by_status["running"] == 0
    assert report.success_rate == pytest.approx(2 / 5)
    by_id = {t.task_id: t for t in report.tasks}
    assert by_id["e"].duration_seconds == 4.0, "a cancelled task's time is its own"
    assert by_id["d"].duration_seconds is None and by_id["d"].retries == 0
    assert (by_id["b"].attempts, by_id["b"].retries) == (3, 2)
    durations = report.task_durations
    assert (durations.count, durations.p50_seconds, durations.p95_seconds) == (4, 2.0, 4.0)
    assert durations.mean_seconds == 2.5 and durations.max_seconds == 4.0
    assert (report.total_attempts, report.total_retries) == (7, 3)


def test_a_running_task_is_measured_until_now_and_left_out_of_percentiles():
    state = RunState(workflow_id="run-2", goal="g", phase=Phase.RUNNING, tasks=[
        finished_task("done", TaskStatus.COMPLETED, 2.0),
        TaskResult(task_id="busy", status=TaskStatus.RUNNING, attempts=0, started_at=START),
        TaskResult(task_id="later", status=TaskStatus.PENDING),
    ])  # fmt: skip
    now = START + timedelta(seconds=42)

    report = run_report(state, now=now)

    by_id = {t.task_id: t for t in report.tasks}
    assert by_id["busy"].running and by_id["busy"].duration_seconds == 42.0
    assert not by_id["done"].running and not by_id["later"].running
    assert by_id["later"].duration_seconds is None
    assert report.task_durations.count == 1 and report.task_durations.p95_seconds == 2.0
    assert report.success_rate == 1.0, "of the tasks that finished"
    assert report.phase == Phase.RUNNING and report.status is None and report.as_of == now
    assert run_report(state).tasks[1].duration_seconds is None, "no clock, no guess"


def test_nothing_finished_has_no_success_rate_and_no_percentiles():
    state = RunState(workflow_id="run-3", goal="g", phase=Phase.PLANNING)

    report = run_report(state)

    assert report.total_tasks == 0 and report.success_rate is None
    assert report.task_durations.p50_seconds is None and report.task_durations.p95_seconds is None


def test_decisions_are_counted_by_applied_action_and_source():
    decisions = [
        decision("a", "retry"),
        decision("a", "modify"),
        decision("b", "fail_workflow", source="fallback"),
    ]

    counted = run_report(result_with(decisions=decisions)).decisions

    assert counted.count == 3
    assert counted.by_action == {
        "retry": 1,
        "modify": 1,
        "skip": 0,
        "fail_workflow": 1,
        "replan": 0,
    }
    assert counted.by_source == {"analyst": 2, "fallback": 1}


CALLS = [
    llm_call("big", "plan", 1_000_000, 100_000),
    llm_call("small", "analysis", 200_000, 10_000),
    llm_call("small", "analysis", 300_000, 20_000),
]
PRICES = {
    "big": ModelPrice(prompt=2.5, completion=10.0),
    "small": ModelPrice(prompt=0.1, completion=0.4),
}


def test_llm_calls_tokens_and_cost_with_prices():
    llm = run_report(result_with(calls=CALLS), PRICES).llm

    assert llm.calls == 3 and llm.by_purpose == {"plan": 1, "analysis": 2}
    assert (llm.prompt_tokens, llm.completion_tokens, llm.total_tokens) == (
        1_500_000, 130_000, 1_630_000)  # fmt: skip
    by_model = {entry.model: entry for entry in llm.by_model}
    assert (by_model["small"].calls, by_model["small"].prompt_tokens) == (2, 500_000)
    assert by_model["big"].cost_usd == pytest.approx(2.5 + 1.0)
    assert by_model["small"].cost_usd == pytest.approx(0.05 + 0.012)
    assert llm.estimated_cost_usd == pytest.approx(3.562)
    assert llm.cost_note == ""


def test_no_cost_without_a_price_for_every_model_and_the_note_says_what_to_set():
    without = run_report(result_with(calls=CALLS)).llm
    partly = run_report(result_with(calls=CALLS), {"big": PRICES["big"]}).llm

    assert without.estimated_cost_usd is None and partly.estimated_cost_usd is None
    assert "LLM_PRICES" in without.cost_note and "big, small" in without.cost_note
    assert "LLM_PRICES" in partly.cost_note and "small" in partly.cost_note
    assert "big" not in partly.cost_note
    assert {e.model: e.cost_usd for e in partly.by_model}["big"] == pytest.approx(3.5)


def test_a_run_without_llm_calls_costs_nothing():
    llm = run_report(result_with()).llm

    assert llm.calls == 0 and llm.estimated_cost_usd == 0.0 and llm.by_model == []


def test_tokens_not_recorded_with_a_model_leave_the_cost_unknown():
    run = result_with(calls=CALLS[:1])
    run.usage = run.usage.plus(TokenUsage(prompt_tokens=10, total_tokens=10, calls=1))

    llm = run_report(run, PRICES).llm

    assert llm.estimated_cost_usd is None and "10 tokens" in llm.cost_note


def test_llm_prices_setting_is_checked(monkeypatch):
    monkeypatch.setenv("LLM_PRICES", '{"gpt-4o": {"prompt": 2.5, "completion": 10}}')
    assert Settings().llm_prices == {"gpt-4o": ModelPrice(prompt=2.5, completion=10)}

    for bad, said in [
        ('{"gpt', "not valid JSON"),
        ("[1]", "give a JSON object"),
        ('{"m": {"prompt": 1}}', "llm_prices.m.completion"),
        ('{"m": {"prompt": -1, "completion": 1}}', "greater than or equal to 0"),
    ]:
        monkeypatch.setenv("LLM_PRICES", bad)
        with pytest.raises(ValidationError, match="llm_prices") as raised:
            Settings()
        assert said in str(raised.value)


# ----- through the CLI ------------------------------------------------------------------------


def test_metrics_of_a_finished_run(stack, api, llm, run_id):
    api.route("GET", f"/metrics/flaky-{run_id}", Reply(503), Reply(500), Reply(json={"ok": 1}))
    api.route("GET", "/metrics/right", Reply(json={"fixed": True}))
    wrong = f"/metrics/wrong-{run_id}"
    llm.script(wrong, {"action": "modify", "reason": "the path is wrong",
                       "new_config": get(f"{api.url}/metrics/right")})  # fmt: skip
    plan = {"tasks": [task("flaky", "api_call", get(f"{api.url}/metrics/flaky-{run_id}")),
                      task("fixed", "api_call", get(f"{api.url}{wrong}"))]}  # fmt: skip
    result = stack.run_plan(plan, run_id)
    assert result["status"] == "completed", result
    prices = '{"scripted-model": {"prompt": 2.0, "completion": 8.0}}'

    report = stack.cli_json("metrics", run_id, env={"LLM_PRICES": prices})

    assert report["phase"] == "finished" and report["status"] == "completed"
    assert report["tasks_by_status"]["completed"] == 2 and report["success_rate"] == 1.0
    tasks = {entry["task_id"]: entry for entry in report["tasks"]}
    assert (tasks["flaky"]["attempts"], tasks["flaky"]["retries"]) == (3, 2)
    assert (tasks["fixed"]["attempts"], tasks["fixed"]["retries"]) == (2, 1)
    assert report["total_retries"] == 3
    assert report["task_durations"]["count"] == 2
    assert report["task_durations"]["p95_seconds"] >= report["task_durations"]["p50_seconds"] > 0
    assert report["decisions"]["by_action"]["modify"] == 1
    assert report["decisions"]["by_source"] == {"analyst": 1, "fallback": 0}
    usage, llm_report = result["usage"], report["llm"]
    assert llm_report["calls"] == 1 and llm_report["by_purpose"] == {"analysis": 1}
    assert llm_report["total_tokens"] == usage["total_tokens"] > 0
    expected = (usage["prompt_tokens"] * 2.0 + usage["completion_tokens"] * 8.0) / 1_000_000
    assert llm_report["estimated_cost_usd"] == pytest.approx(expected)

    shown = stack.cli("metrics", run_id)

    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(f"run {run_id}: finished, completed in ")
    assert "tasks: 2 (completed 2)" in lines
    assert "success rate: 100.0% (2 of 2 finished tasks completed)" in lines
    assert "attempts: 5, retries: 3" in lines
    assert "failure decisions: 1 (modify 1; by analyst 1)" in lines
    assert "LLM calls: 1 (analysis 1)" in lines
    assert any(line.startswith("task duration: p50 ") for line in lines)
    assert any("flaky" in line and "api_call" in line and "completed" in line for line in lines)
    cost_line = next(line for line in lines if line.startswith("estimated cost: "))
    assert "unknown (no price for scripted-model: set LLM_PRICES=" in cost_line


def test_metrics_of_a_running_run(stack, api, run_id):
    api.route("GET", f"/metrics/first-{run_id}", Reply(json={}))
    plan = {"tasks": [task("first", "api_call", get(f"{api.url}/metrics/first-{run_id}")),
                      task("nap", "wait", {"seconds": 120}, "first")]}  # fmt: skip
    started = stack.cli("start", "--plan", str(stack.write_plan(plan)), "--id", run_id)
    assert started.returncode == 0, started.stderr

    def napping():
        report = stack.cli_json("metrics", run_id)
        return report if report["tasks"][1]["running"] else None

    report = wait_until(napping, 30, "the wait task to run", interval=0.3)
    shown = stack.cli("metrics", run_id)
    stack.cli("cancel", run_id)

    assert report["phase"] == "running" and report["status"] is None
    assert report["as_of"] is not None
    assert report["tasks_by_status"]["running"] == 1 and report["success_rate"] == 1.0
    assert report["tasks"][1]["duration_seconds"] >= 0
    assert report["task_durations"]["count"] == 1, "only the finished task"
    assert shown.returncode == 0, shown.stderr
    assert f"run {run_id}: running (as of " in shown.stdout
    assert "(running)" in shown.stdout
