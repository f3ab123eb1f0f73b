"""A run's typed event stream (issue 23): Temporal's workflow streams carry the events the
workflow finds between its marks; `handle.events()` and `cli.py events` read them, from an
offset, with no event twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from agentic.core.events import (
    Mark,
    Progress,
    RunView,
    TaskCompleted,
    TaskFailed,
    TaskStarted,
    TaskTable,
    advance,
    changes,
    mark,
)
from agentic.core.messages import Phase, TaskResult, TaskStatus
from tests.conftest import wait_until
from tests.helpers import task

NOW = datetime(2026, 12, 4, tzinfo=UTC)


def view(tasks: dict[str, TaskResult], **changed) -> RunView:
    fields = dict(
        phase=Phase.RUNNING, status=None, error=None, plan_tasks=list(tasks), tasks=tasks,
        decisions=[], verdicts=[], llm_calls=[], replans=[], patch_waiting=0, streaming=False,
        paused_by=None, answered=False, item_counts=lambda task_id: None,
    )  # fmt: skip
    return RunView(**(fields | changed))


def test_a_task_that_started_and_ended_between_two_marks_tells_both():
    pending = {"a": TaskResult(task_id="a")}
    before = mark(view(pending))
    done = {"a": TaskResult(task_id="a", status=TaskStatus.COMPLETED, output_summary="3 rows")}

    told = changes(before, view(done), NOW, Progress())

    assert [type(event) for event in told] == [TaskStarted, TaskCompleted]
    assert told[1].line() == "a completed: 3 rows"
    assert changes(mark(view(done)), view(done), NOW, Progress()) == [], "nothing twice"
    assert [e.kind for e in changes(Mark(), view(pending), NOW, Progress())] == ["plan_created"]


def test_a_task_table_tells_only_the_tasks_touched_and_the_same_events_as_a_whole_look():
    table = TaskTable({"a": TaskResult(task_id="a"), "b": TaskResult(task_id="b")})
    plan = ["a", "b"]
    before = mark(view(table, plan_tasks=plan))
    table.take_touched()

    table["a"].status = TaskStatus.RUNNING
    table["a"].started_at = NOW
    table["a"].output_summary = "not what the events say: no touch"
    table["each[0]"] = TaskResult(task_id="each[0]", status=TaskStatus.FAILED)
    table.pop("b")
    touched = table.take_touched()

    assert touched == ["a", "each[0]", "b"], "in the order they changed"
    after = view(table, plan_tasks=plan)
    whole = changes(before, after, NOW, Progress())
    assert changes(before, after, NOW, Progress(), touched) == whole
    assert [type(event) for event in whole] == [TaskStarted, TaskFailed]
    assert advance(before, after, touched) == mark(after)
    table["a"].output_summary = "again"
    assert table.take_touched() == [], "a field the events do not tell touches nothing"


def test_a_task_taken_to_run_is_told_started_only_once_its_action_starts():
    """A risky task holds its slot as running while its risk is looked at: it is told waiting
    for approval, and started only once approved."""
    table = TaskTable({"save": TaskResult(task_id="save")})
    before = mark(view(table))
    table.take_touched()

    def tell() -> list[str]:
        nonlocal before
        after, touched = view(table), table.take_touched()
        told = changes(before, after, NOW, Progress(), touched)
        before = advance(before, after, touched)
        return [event.kind for event in told]

    table["save"].status = TaskStatus.RUNNING  # taken to run; its overwrite check goes on
    assert tell() == []
    table["save"].status, table["save"].risk = TaskStatus.WAITING_APPROVAL, "overwrites a.txt"
    assert tell() == ["task_waiting_approval"]
    table["save"].status = TaskStatus.RUNNING  # approved
    assert tell() == []
    table["save"].started_at = NOW
    assert tell() == ["task_started"]
    table["save"].status = TaskStatus.COMPLETED
    assert tell() == ["task_completed"]


def test_a_for_each_taken_up_after_continue_as_new_is_not_told_started_again():
    started = TaskResult(task_id="each", started_at=NOW)  # pending again in the new history
    table = TaskTable({"each": started})
    before = mark(view(table), running=["each"])
    table.take_touched()
    table["each"].status = TaskStatus.RUNNING

    after, touched = view(table), table.take_touched()

    assert changes(before, after, NOW, Progress(), touched) == []


def test_a_for_each_summing_its_items_attempts_is_no_retry():
    """A large for-each sets its attempts (its items') before its archive is joined, while it
    still runs: that is no retry of its own."""
    table = TaskTable({"each": TaskResult(task_id="each", started_at=NOW)})
    table["each"].status = TaskStatus.RUNNING
    before = mark(view(table))
    table.take_touched()
    table["each"].items, table["each"].attempts = {"completed": 1200}, 1201

    after, touched = view(table), table.take_touched()

    assert changes(before, after, NOW, Progress(), touched) == []


def test_runs_recorded_before_tell_a_task_started_when_it_takes_its_slot():
    """Without the patch events-told-v2, the events (and so when a follower's Update
    completes) are those the run was recorded with."""
    table = TaskTable({"save": TaskResult(task_id="save")})
    before = mark(view(table, events_v2=False))
    table.take_touched()
    table["save"].status = TaskStatus.RUNNING

    after, touched = view(table, events_v2=False), table.take_touched()

    assert [e.kind for e in changes(before, after, NOW, Progress(), touched)] == ["task_started"]


PLAN = {"tasks": [
    task("pick", "ask", {"question": "Which region?", "choices": ["eu", "us"]}),
    task("shout", "data_transform", {"input": "{{ tasks.pick.output }}",
                                     "expression": "@"}, "pick"),
    task("each", "data_transform", {"input": "{{ item }}", "expression": "@"}, "pick",
         for_each=[1, 2, 3]),
]}  # fmt: skip


def test_events_tell_the_run_from_plan_to_end_and_resume_from_an_offset(stack, run_id):
    started = stack.cli("start", "--plan", str(stack.write_plan(PLAN)), "--id", run_id,
                        "--approval", "none")  # fmt: skip
    assert started.returncode == 0, started.stderr

    def asking():
        listed = stack.cli("events", run_id, "--json").stdout.splitlines()
        kinds = [json.loads(line)["kind"] for line in listed]
        return "task_asking" in kinds and listed

    so_far = wait_until(asking, 30, "the question told", interval=0.3)
    assert [json.loads(line)["offset"] for line in so_far] == list(range(len(so_far)))
    answered = stack.cli("answer", run_id, "pick", "--text", "eu", "--by", "ana")
    assert answered.returncode == 0, answered.stderr

    followed = stack.cli("events", run_id, "--follow", "--json", "--from", str(len(so_far)))

    assert followed.returncode == 0, followed.stderr
    rest = [json.loads(line) for line in followed.stdout.splitlines()]
    every = [json.loads(line) for line in so_far] + rest
    assert [event["offset"] for event in every] == list(range(len(every))), "none twice"
    kinds = [event["kind"] for event in every]
    assert kinds[0] == "plan_created" and kinds[-1] == "run_ended"
    for kind in ("task_started", "task_asking", "answer_given", "task_completed"):
        assert kind in kinds
    assert {"kind": "answer_given", "task": "pick", "by": "ana"}.items() <= next(
        e for e in every if e["kind"] == "answer_given").items()  # fmt: skip
    ended = every[-1]
    assert ended["status"] == "completed"
    each = next(e for e in every if e["kind"] == "task_completed" and e["task"] == "each")
    assert each["items"] == {"completed": 3}
    human = stack.cli("events", run_id).stdout
    assert "pick asks: Which region?" in human and "run completed" in human
