"""Deciding a task's `when` in workflow code: over the upstream outputs the run holds, or, when
one it names is kept in the blob store, in a `data_transform` activity that loads it (the
workflow never loads a stored value)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Set
from typing import Any, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from jmespath.exceptions import JMESPathError

    from agentic.core.actions.transform import why
    from agentic.core.blobs import holds_blobs
    from agentic.core.conditions import condition_data, condition_holds, condition_tasks, is_true
    from agentic.core.errors import ErrorType
    from agentic.core.messages import RunOptions, TaskResult
    from agentic.core.plan import Task
    from agentic.workflows.execution import TaskFailed, failure, transform_in_activity


async def decide(
    task: Task,
    upstream: Set[str],
    outputs: Mapping[str, Any],
    absent: Set[str],
    options: RunOptions,
) -> bool:
    """Whether `task.when` holds over the outputs of the tasks upstream of it (null for those
    in `absent`, skipped by their own condition); TaskFailed when it cannot be evaluated."""
    assert task.when is not None
    present = {task_id: outputs.get(task_id) for task_id in upstream if task_id not in absent}
    named = condition_tasks(task.when)
    if any(holds_blobs(present.get(task_id)) for task_id in named):
        return await _decide_in_activity(task, named & upstream, present, options)
    try:
        return condition_holds(task.when, condition_data(present, upstream))
    except JMESPathError as error:
        message = f"its condition {task.when!r} failed: {why(error)}"
        raise TaskFailed(failure(message, ErrorType.INVALID_INPUT)) from None


async def _decide_in_activity(
    task: Task, named: Set[str], present: dict[str, Any], options: RunOptions
) -> bool:
    """The condition over the tasks it names, evaluated by the data_transform activity, which
    loads their stored outputs."""
    assert task.when is not None
    data = {
        "tasks": {
            task_id: {"output": _reference(task_id) if task_id in present else None}
            for task_id in sorted(named)
        }
    }
    output = await transform_in_activity(
        task, data, task.when, f"{task.id}:when", f"when of {task.label}: {task.when}", options,
        outputs={task_id: present[task_id] for task_id in named if task_id in present},
    )  # fmt: skip
    return is_true(output)


def _reference(task_id: str) -> str:
    return "{{ tasks." + task_id + ".output }}"


T = TypeVar("T")


class SkippedByCondition(Set[str]):
    """The plan's tasks skipped by their own condition (references to their outputs are
    null), as the run's tasks say now. Looked up one task at a time: a config names a few
    tasks, and a plan may hold thousands (a set built for each task that starts would cost the
    square of them)."""

    def __init__(self, plan_tasks: Mapping[str, Task], tasks: Mapping[str, TaskResult]) -> None:
        self._plan_tasks = plan_tasks
        self._tasks = tasks

    def __contains__(self, task_id: object) -> bool:
        if not isinstance(task_id, str) or task_id not in self._plan_tasks:
            return False
        result = self._tasks.get(task_id)
        return result is not None and result.condition_false

    def __iter__(self) -> Iterator[str]:
        return (task_id for task_id in self._plan_tasks if task_id in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @classmethod
    def _from_iterable(cls, iterable: Iterable[T]) -> frozenset[T]:
        return frozenset(iterable)  # what `&` and `|` give (Set's mixins build with it)
