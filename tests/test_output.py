"""The human views (status, watch, result) render every task status and every run phase, on a
terminal and through a pipe, whatever text a run carries."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from agentic.cli.output import render_result, render_state, task_detail
from agentic.core.messages import (
    Phase,
    RunResult,
    RunState,
    RunStatus,
    TaskFailure,
    TaskResult,
    TaskStatus,
)
from agentic.settings import Settings

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
MARKUP_LIKE = "closing tag '[/]' and [bold]not bold[/bold] and [?age > `30`]"


def every_task() -> list[TaskResult]:
    """One task in each status, with the text a run may carry: markup-like errors included."""
    tasks = []
    for status in TaskStatus:
        tasks.append(
            TaskResult(
                task_id=f"t_{status.value}",
                action_type="api_call",
                status=status,
                risk="sends POST http://x/[items]" if status == TaskStatus.WAITING_APPROVAL else "",
                attempts=2,
                error=TaskFailure(message=MARKUP_LIKE) if status == TaskStatus.FAILED else None,
                reason=MARKUP_LIKE if status == TaskStatus.SKIPPED else "",
                output={"status_code": 200, "body": ["[a]"]}
                if status == TaskStatus.COMPLETED
                else None,
                started_at=NOW - timedelta(seconds=3) if status == TaskStatus.RUNNING else None,
            )
        )
    return tasks


def rendered(renderable, terminal: bool) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=terminal, width=160, markup=False)
    console.print(renderable)
    return buffer.getvalue()


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
@pytest.mark.parametrize("phase", list(Phase))
def test_live_view_renders_every_status_in_every_phase(phase, terminal):
    state = RunState(
        workflow_id="run-[x]",
        goal="goal with [brackets]",
        phase=phase,
        status=RunStatus.FAILED if phase == Phase.FINISHED else None,
        error=MARKUP_LIKE if phase == Phase.FINISHED else None,
        tasks=every_task(),
        approval="risky",
    )

    raw = rendered(render_state(state, NOW), terminal)
    screen = ANSI.sub("", raw)

    for status in TaskStatus:
        assert status.value in screen
    assert "run run-[x]" in screen and "[brackets]" in screen
    assert "needs approval: sends POST http://x/[items]" in screen
    assert "closing tag '[/]'" in screen
    assert "python cli.py approve run-[x] --task t_waiting_approval" in screen
    assert ("\x1b[" in raw) == terminal, "colours on a terminal only"


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
@pytest.mark.parametrize("status", list(RunStatus))
def test_result_renders_every_outcome(status, terminal):
    result = RunResult(
        workflow_id="run-1", goal="g", status=status, error=MARKUP_LIKE, tasks=every_task()
    )

    screen = ANSI.sub("", rendered(render_result(result, Settings()), terminal))

    assert f"run run-1: {status.value}" in screen
    assert f"error: {MARKUP_LIKE}" in screen


def test_details_say_what_a_person_wants():
    call = TaskResult(
        task_id="fetch",
        status=TaskStatus.COMPLETED,
        output={"status_code": 200, "headers": {"content-type": "application/json"}, "body": []},
        output_summary="HTTP 200: []",
    )
    waiting = TaskResult(task_id="save", status=TaskStatus.WAITING_APPROVAL, risk="deletes x")

    assert task_detail(call) == "HTTP 200: []"
    assert task_detail(waiting) == "needs approval: deletes x"
