"""One round of a task, run as its action's spec says: an activity, a durable timer, a poll
loop, a child run, or a question to a person."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from agentic.core.actions.base import Execution
    from agentic.core.messages import RunOptions
    from agentic.core.plan import Task
    from agentic.core.registry import ACTIONS
    from agentic.workflows.execution import (
        Parent,
        round_activity_id,
        run_activity,
        run_poll,
        run_timer,
    )
    from agentic.workflows.questions import run_question
    from agentic.workflows.subplans import run_child

RoundRunner = Callable[
    [Task, Any, str, RunOptions, dict[str, Any], Parent], Awaitable[tuple[Any, int]]
]
ROUND_RUNNERS: dict[Execution, RoundRunner] = {
    Execution.ACTIVITY: run_activity,
    Execution.TIMER: run_timer,
    Execution.POLL: run_poll,
    Execution.CHILD_RUN: run_child,
    Execution.QUESTION: run_question,
}


async def run_round(
    task: Task,
    config: Any,
    round_number: int,
    options: RunOptions,
    outputs: Mapping[str, Any] | None = None,
    loop_round: int = 0,
    parent: Parent | None = None,
) -> tuple[Any, int]:
    """One round of a task (Temporal retries inside it): its output and the attempts used.
    `outputs`: the deferred outputs its activity resolves the config from; `loop_round`: the
    round of the task's loop (1, 2, ...; 0 for a task without one); `parent`: this run, for a
    round that starts a child run."""
    runner = ROUND_RUNNERS[ACTIONS[task.action_type].execution]
    activity_id = round_activity_id(task, round_number, loop_round)
    return await runner(task, config, activity_id, options, dict(outputs or {}), parent or Parent())
