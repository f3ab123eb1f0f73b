"""A for-each in workflow code: how many items its list has, and each item's task.

The list's length is read in the workflow from the outputs it holds, or by a `data_transform`
activity when the list is kept in the blob store (the workflow never loads it: the items'
references to its elements are then resolved by their own activities)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Set
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from agentic.core.blobs import holds_blobs
    from agentic.core.errors import ErrorType
    from agentic.core.foreach import item_config, item_id, source_reference
    from agentic.core.messages import ItemError, RunOptions, TaskFailure, TaskResult, TaskStatus
    from agentic.core.plan import Task, validate_action_config
    from agentic.core.references import UnresolvedReference, resolve
    from agentic.workflows.execution import TaskFailed, failure, transform_in_activity
    from agentic.workflows.scheduling import EXECUTING_STATUSES, host_of

# JMESPath: the length of a list, false for anything else (`&&` gives its right side).
LIST_LENGTH = "type(@) == 'array' && length(@)"


def _not_a_list(task: Task, kind: str) -> TaskFailed:
    message = f"for_each {task.for_each!r} gave {kind}, not a list"
    return TaskFailed(failure(message, ErrorType.INVALID_INPUT))


async def item_count(
    task: Task, outputs: Mapping[str, Any], absent: Set[str], options: RunOptions
) -> int:
    """How many items the task's for_each yields (none over the output of a task skipped by
    its condition); TaskFailed when it is not a list."""
    if isinstance(task.for_each, list):
        return len(task.for_each)
    source = source_reference(task.for_each)
    assert source is not None  # the plan's validation made sure
    if source["task"] in absent:
        return 0  # over a branch not taken: no items
    if holds_blobs(outputs.get(source["task"])):
        return await _count_in_activity(task, source["task"], outputs, options)
    try:
        value = resolve(task.for_each, outputs, absent)
    except UnresolvedReference as error:
        raise TaskFailed(failure(str(error), ErrorType.UNRESOLVED_REFERENCE)) from None
    if not isinstance(value, list):
        raise _not_a_list(task, "null" if value is None else type(value).__name__)
    return len(value)


async def _count_in_activity(
    task: Task, source_task: str, outputs: Mapping[str, Any], options: RunOptions
) -> int:
    length = await transform_in_activity(
        task, task.for_each, LIST_LENGTH, f"{task.id}:items", f"{task.label}: count the items",
        options, outputs={source_task: outputs[source_task]},
    )  # fmt: skip
    if length is False:
        raise _not_a_list(task, "a stored value")
    return int(length)


def item_task(task: Task, index: int) -> Task:
    """Item `index` of a for-each, as a task of its own (`orders[17]`); TaskFailed when its
    config, once filled, is not valid."""
    planned = task.action_config
    config = planned.with_sealed(item_config(planned.open_part(), task.for_each, index))
    name = item_id(task.id, index)
    try:
        typed = validate_action_config(task.action_type, config, name)
    except ValueError as error:
        raise TaskFailed(failure(str(error), ErrorType.INVALID_CONFIG)) from None
    # Not critical: a failed item leaves its for-each to decide (max_failures), unless the
    # analyst decides to fail the run.
    update = {"id": name, "name": f"{task.name}[{index}]", "for_each": None, "when": None,
              "critical": False, "action_config": typed}  # fmt: skip
    return task.model_copy(update=update)


def startable_items(
    ids: list[str],
    states: Mapping[str, TaskResult],
    item_tasks: Mapping[str, Task],
    running: Collection[str],
    options: RunOptions,
) -> list[str]:
    """The pending items that may start now, in order: at most max_parallel items of this
    for-each executing at once, and max_parallel_per_host calling the same host."""
    executing = [item for item in running if states[item].status in EXECUTING_STATUSES]
    free = options.max_parallel - len(executing)
    limit = options.max_parallel_per_host
    busy = Counter(host_of(item_tasks[item]) for item in executing) if limit else Counter()
    startable: list[str] = []
    for item in ids:
        if free <= 0:
            break
        if states[item].status != TaskStatus.PENDING:
            continue
        host = host_of(item_tasks[item]) if limit else None
        if host is not None and limit is not None and busy[host] >= limit:
            continue
        busy[host] += 1
        startable.append(item)
        free -= 1
    return startable


def item_errors(items: list[TaskResult]) -> list[ItemError]:
    """The items that did not complete, with their error (or the reason they were skipped)."""
    return [
        ItemError(index=index, task_id=item.task_id, status=item.status.value,
                  message=item.error.message if item.error else item.reason)
        for index, item in enumerate(items)
        if item.status != TaskStatus.COMPLETED
    ]  # fmt: skip


def too_many_items(count: int, options: RunOptions) -> TaskFailure:
    """A for-each whose list is longer than the run's max_items."""
    message = (
        f"for_each gave {count} items, more than max_items ({options.max_items}); raise "
        "RUN_MAX_ITEMS (run option max_items) or split the list"
    )
    return TaskFailure(message=message, error_type=ErrorType.INVALID_INPUT)


def too_many_failures(errors: list[ItemError], ids: list[str], allowed: int) -> TaskFailure:
    """A for-each more of whose items failed than its max_failures allows."""
    first = errors[0]
    message = (
        f"{len(errors)} of {len(ids)} items did not complete, more than max_failures allows "
        f"({allowed}); first: {first.task_id}: {first.message}"
    )
    return TaskFailure(message=message, error_type=ErrorType.ITEMS_FAILED)
