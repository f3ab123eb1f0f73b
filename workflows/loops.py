"""A task's loop in workflow code: each round's task (its config with `{{ loop... }}` filled),
whether `until` holds after a round, and the loop's output, the list of every round's.

`until` is decided in the workflow over the outputs it holds, or by a `data_transform`
activity when a round's output is kept in the blob store (the workflow never loads one); a
list of outputs too large for the run's state is kept by an activity too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from jmespath.exceptions import JMESPathError

    from agentic.core.actions.transform import why
    from agentic.core.blobs import encoded_size, holds_blobs
    from agentic.core.conditions import condition_holds, is_true
    from agentic.core.errors import ErrorType
    from agentic.core.loops import resolve_loop, until_data
    from agentic.core.messages import RunOptions
    from agentic.core.plan import Task
    from agentic.workflows.execution import (
        INLINE_MAX_OUTPUT_BYTES,
        TaskFailed,
        failure,
        transform_in_activity,
    )


@dataclass(frozen=True)
class LoopRound:
    """One round of a loop: its index from 0, and the output of the round before (None)."""

    index: int
    previous: Any

    @property
    def number(self) -> int:
        """The round's number, from 1 (activity ids: `task`, `task:loop2`, ...)."""
        return self.index + 1


def round_task(task: Task, loop: LoopRound) -> Task:
    """The task as this round runs it: `{{ loop.index }}` and `{{ loop.previous.output }}`
    filled in (TaskFailed when the config is then no longer valid)."""
    planned = task.action_config
    try:
        filled = resolve_loop(planned.open_part(), loop.index, loop.previous)
        return task.with_config(planned.with_sealed(filled))
    except ValueError as error:
        raise TaskFailed(failure(str(error), ErrorType.INVALID_CONFIG)) from None


async def until_holds(task: Task, loop: LoopRound, output: Any, options: RunOptions) -> bool:
    """Whether the loop ends after this round's `output`; TaskFailed when `until` fails."""
    assert task.repeat is not None
    until = task.repeat.until
    if holds_blobs(output) or holds_blobs(loop.previous):
        return is_true(await _kept_by_activity(task, loop, output, until, options, "until"))
    try:
        return condition_holds(until, until_data(output, loop.index, loop.previous))
    except JMESPathError as error:
        message = f"its repeat.until {until!r} failed: {why(error)}"
        raise TaskFailed(failure(message, ErrorType.INVALID_INPUT)) from None


async def loop_output(task: Task, outputs: list[Any], options: RunOptions) -> Any:
    """The loop's output, every round's in order: as is when small, else through an
    activity that keeps it in the blob store (as any large output)."""
    if encoded_size(outputs) <= INLINE_MAX_OUTPUT_BYTES:
        return outputs
    summary = f"{task.label}: every round's output"
    return await transform_in_activity(task, outputs, "@", f"{task.id}:rounds", summary, options)


async def _kept_by_activity(
    task: Task, loop: LoopRound, output: Any, until: str, options: RunOptions, suffix: str
) -> Any:
    """`until` evaluated by the data_transform activity, which loads stored outputs: this
    round's and the last one's are handed to it as the outputs of two pseudo-tasks."""
    data = {
        "output": "{{ tasks.this.output }}",
        "index": loop.index,
        "previous": "{{ tasks.previous.output }}",
    }
    return await transform_in_activity(
        task, data, until, f"{task.id}:loop{loop.number}:{suffix}", f"{task.label}: until {until}",
        options, outputs={"this": output, "previous": loop.previous},
    )  # fmt: skip
