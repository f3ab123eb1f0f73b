"""A for-each in workflow code: how many items its list has, and each item's task.

The list's length is read in the workflow from the outputs it holds, or by a `data_transform`
activity when the list is kept in the blob store (the workflow never loads it: the items'
references to its elements are then resolved by their own activities)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Collection, Mapping, Set
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError

with workflow.unsafe.imports_passed_through():
    from agentic.core.blobs import encoded_size, holds_blobs
    from agentic.core.errors import ErrorType
    from agentic.core.foreach import (
        ARCHIVE_ITEMS,
        JOIN_ITEMS,
        item_config,
        item_id,
        source_reference,
    )
    from agentic.core.messages import (
        ArchiveRequest,
        ItemArchive,
        ItemError,
        JoinRequest,
        RunOptions,
        TaskFailure,
        TaskResult,
        TaskStatus,
    )
    from agentic.core.plan import Task, validate_action_config
    from agentic.core.references import UnresolvedReference, resolve
    from agentic.workflows.execution import (
        TaskFailed,
        cause_message,
        failure,
        transform_in_activity,
    )
    from agentic.workflows.scheduling import EXECUTING_STATUSES, host_of

# JMESPath: the length of a list, false for anything else (`&&` gives its right side).
LIST_LENGTH = "type(@) == 'array' && length(@)"
# Runs started before this patch archive and join items with no heartbeat timeout (archive) or
# one of 2 minutes (join): a worker that died meanwhile held the for-each for minutes.
ITEM_HEARTBEATS = "item-archive-heartbeats"


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


@dataclass
class ItemQueue:
    """A for-each's items not archived, in order, and what finding the startable ones needs to
    stay quick with thousands of items: `first`, before which no item is pending any more;
    `shared_host`, the host every item calls when the for-each's own config names it (else
    each item's host is found once, into `hosts`)."""

    ids: list[str]
    shared_host: str | None = None
    hosts: dict[str, str | None] = field(default_factory=dict)
    first: int = 0

    def host(self, item: str, item_tasks: Mapping[str, Task]) -> str | None:
        if self.shared_host is not None:
            return self.shared_host
        if item not in self.hosts:
            self.hosts[item] = host_of(item_tasks[item])
        return self.hosts[item]

    def startable(
        self,
        states: Mapping[str, TaskResult],
        item_tasks: Mapping[str, Task],
        running: Collection[str],
        options: RunOptions,
    ) -> list[str]:
        """The pending items that may start now, in order: at most max_parallel items of this
        for-each executing at once, and max_parallel_per_host calling the same host."""
        while self.first < len(self.ids) and states[self.ids[self.first]].status != (
            TaskStatus.PENDING
        ):
            self.first += 1
        executing = [item for item in running if states[item].status in EXECUTING_STATUSES]
        free = options.max_parallel - len(executing)
        limit = options.max_parallel_per_host
        busy = Counter(self.host(item, item_tasks) for item in executing) if limit else Counter()
        startable: list[str] = []
        for index in range(self.first, len(self.ids)):
            if free <= 0:
                break
            item = self.ids[index]
            if states[item].status != TaskStatus.PENDING:
                continue
            host = self.host(item, item_tasks) if limit else None
            if host is not None and limit is not None and busy[host] >= limit:
                if host == self.shared_host:
                    break  # every item calls it: none may start
                continue
            busy[host] += 1
            startable.append(item)
            free -= 1
        return startable


def item_errors(items: list[TaskResult]) -> list[ItemError]:
    """The items that did not complete, with their error (or the reason they were skipped)."""
    return [error for index, item in enumerate(items) for error in item_errors_at(index, item)]


def too_many_items(count: int, options: RunOptions) -> TaskFailure:
    """A for-each whose list is longer than the run's max_items."""
    message = (
        f"for_each gave {count} items, more than max_items ({options.max_items}); raise "
        "RUN_MAX_ITEMS (run option max_items) or split the list"
    )
    return TaskFailure(message=message, error_type=ErrorType.INVALID_INPUT)


def too_many_failures(
    errors: list[ItemError], failed: int, count: int, allowed: int
) -> TaskFailure:
    """A for-each more of whose items failed than its max_failures allows (`errors`: the
    first of them)."""
    first = f"; first: {errors[0].task_id}: {errors[0].message}" if errors else ""
    message = (
        f"{failed} of {count} items did not complete, more than max_failures allows "
        f"({allowed}){first}"
    )
    return TaskFailure(message=message, error_type=ErrorType.ITEMS_FAILED)


# ----- a large for-each's archive --------------------------------------------------------------
# A for-each of more items than this keeps its ended items in the blob store, in chunks of
# about this many, so that neither the run's state (carried when it continues as new) nor any
# payload in its history grows with its items. Changing these changes what runs record.
ARCHIVE_AFTER_ITEMS = 200
# An archive chunk's results, as JSON, are at most this large (or one item's).
ARCHIVE_CHUNK_BYTES = 128 * 1024
ITEM_ERRORS_KEPT = 100
ITEM_DECISIONS_KEPT = 20  # of a for-each's items' failure decisions, the run keeps the first
ENDED_STATUSES = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.SKIPPED, TaskStatus.CANCELLED}
)


def is_archived(archive: ItemArchive, index: int) -> bool:
    """Whether item `index` is in the archive."""
    return any(start <= index < end for start, end in archive.ranges)


def with_indices(ranges: list[tuple[int, int]], indices: Collection[int]) -> list[tuple[int, int]]:
    """`ranges` with `indices` added, merged into as few [start, end) ranges as they make."""
    merged: list[tuple[int, int]] = []
    points = sorted({*indices}.union(*(range(start, end) for start, end in ranges)))
    for index in points:
        if merged and merged[-1][1] == index:
            merged[-1] = (merged[-1][0], index + 1)
        else:
            merged.append((index, index + 1))
    return merged


def chunks_of(items: list[TaskResult], limit: int = ARCHIVE_CHUNK_BYTES) -> list[list[TaskResult]]:
    """The items in order, in chunks of at most `limit` bytes of JSON (or one item)."""
    chunks: list[list[TaskResult]] = [[]]
    size = 0
    for item in items:
        item_size = encoded_size(item.model_dump(mode="json"))
        if chunks[-1] and size + item_size > limit:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += item_size
    return [chunk for chunk in chunks if chunk]


def archived(archive: ItemArchive, items: list[TaskResult], refs: list[dict[str, Any]],
             indices: list[int]) -> ItemArchive:  # fmt: skip
    """The archive with `items` (at `indices`) added, kept in the chunks `refs`."""
    counts = Counter(archive.counts)
    counts.update(item.status.value for item in items)
    errors = [*archive.errors, *(
        error for index, item in zip(indices, items, strict=True)
        for error in item_errors_at(index, item)
    )]  # fmt: skip
    return ItemArchive(
        chunks=[*archive.chunks, *refs],
        ranges=with_indices(archive.ranges, indices),
        counts=dict(sorted(counts.items())),
        attempts=archive.attempts + sum(item.attempts for item in items),
        errors=sorted(errors, key=lambda error: error.index)[:ITEM_ERRORS_KEPT],
    )


def item_errors_at(index: int, item: TaskResult) -> list[ItemError]:
    """The item's error, when it did not complete."""
    if item.status == TaskStatus.COMPLETED:
        return []
    message = item.error.message if item.error else item.reason
    return [ItemError(index=index, task_id=item.task_id, status=item.status.value,
                      message=message)]  # fmt: skip


async def archive(results: list[TaskResult], options: RunOptions) -> list[dict[str, Any]]:
    """Keep item (or loop round) results in the blob store, a chunk at a time (the
    `archive_items` activity, `<first item>:archive`, retried until the store takes it): the
    chunks' references, in order."""
    refs = []
    for chunk in chunks_of(results):
        refs.append(await workflow.execute_activity(
            ARCHIVE_ITEMS, ArchiveRequest(items=chunk), result_type=dict,
            activity_id=f"{chunk[0].task_id}:archive", task_queue=options.action_task_queue,
            summary=f"archive {len(chunk)} items", start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=_heartbeat_timeout(options, None),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
        ))  # fmt: skip
    return refs


def _heartbeat_timeout(options: RunOptions, before: timedelta | None) -> timedelta | None:
    """The run's heartbeat timeout for archiving and joining items: a worker that dies meanwhile
    costs that long, not the start-to-close timeout (`before`: runs started before the patch)."""
    if workflow.patched(ITEM_HEARTBEATS):
        return timedelta(seconds=options.heartbeat_timeout_seconds)
    return before


async def join_archive(task: Task, chunks: list[dict[str, Any]], count: int,
                       options: RunOptions) -> Any:  # fmt: skip
    """The output of a for-each (or a loop) from its archived chunks (the `join_items`
    activity): stored in the blob store when large. TaskFailed when the chunks cannot be
    read; asyncio.CancelledError when it was cancelled."""
    try:
        return await workflow.execute_activity(
            JOIN_ITEMS, JoinRequest(task_id=task.id, chunks=chunks, count=count),
            activity_id=f"{task.id}:join", task_queue=options.action_task_queue,
            summary=f"{task.label}: join {count} items' outputs",
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=_heartbeat_timeout(options, timedelta(minutes=2)),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
        )  # fmt: skip
    except ActivityError as error:
        if isinstance(error.cause, CancelledError):
            raise asyncio.CancelledError() from error
        message = cause_message(error)
        raise TaskFailed(failure(message, ErrorType.BLOB_STORE_UNAVAILABLE)) from None
