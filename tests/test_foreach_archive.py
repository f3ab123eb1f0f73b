"""A large for-each (more than ARCHIVE_AFTER_ITEMS items) keeps its ended items in the blob
store as it goes: the run's state, what it carries into a new history and every payload in its
histories stay small whatever the number of items; its output and its items read the same."""

from __future__ import annotations

import asyncio

from temporalio import activity

from agentic import AgentClient, Plan, RunOptions
from agentic.core.messages import (
    ArchiveRequest,
    ItemArchive,
    ItemError,
    JoinRequest,
    TaskFailure,
    TaskResult,
    TaskStatus,
)
from agentic.histories import fetch_runs
from agentic.settings import Settings
from agentic.workflows import foreach
from tests.helpers import history_payloads, task
from tests.test_workflow_inprocess import (
    FAST,
    plan_of,
    run_id,
    running_worker,
    temporal_client,  # noqa: F401 (the fixture)
)

PAD = "x" * 2000
THRESHOLD = 256 * 1024  # the default BLOB_THRESHOLD_BYTES


def item(
    index: int, status: TaskStatus = TaskStatus.COMPLETED, output: object = None
) -> TaskResult:
    error = TaskFailure(message=f"item {index} broke") if status == TaskStatus.FAILED else None
    return TaskResult(task_id=f"each[{index}]", status=status, attempts=1, output=output,
                      error=error)  # fmt: skip


def test_archived_indices_merge_into_ranges():
    ranges = foreach.with_indices([], [0, 1, 2, 5])
    assert ranges == [(0, 3), (5, 6)]
    assert foreach.with_indices(ranges, [3, 4, 9]) == [(0, 6), (9, 10)]
    archive = ItemArchive(ranges=[(0, 6), (9, 10)])
    assert [i for i in range(11) if foreach.is_archived(archive, i)] == [0, 1, 2, 3, 4, 5, 9]


def test_chunks_stay_under_their_size_and_keep_the_order():
    items = [item(i, output=PAD) for i in range(200)]

    chunks = foreach.chunks_of(items, limit=50_000)

    assert [entry for chunk in chunks for entry in chunk] == items
    assert all(len(chunk) <= 25 for chunk in chunks) and len(chunks) >= 8
    assert foreach.chunks_of([item(0, output="y" * 90_000)], limit=50_000) == [
        [item(0, output="y" * 90_000)]]  # fmt: skip


def test_an_archive_counts_its_items_and_keeps_the_first_errors():
    archive = ItemArchive()
    ended = [item(i, TaskStatus.FAILED if i % 2 else TaskStatus.COMPLETED) for i in range(300)]

    archive = foreach.archived(archive, ended, [{"$blob": {}}], list(range(300)))

    assert archive.counts == {"completed": 150, "failed": 150}
    assert archive.attempts == 300 and archive.ranges == [(0, 300)]
    assert len(archive.errors) == foreach.ITEM_ERRORS_KEPT
    assert archive.errors[0] == ItemError(index=1, task_id="each[1]", status="failed",
                                          message="item 1 broke")  # fmt: skip
    failure = foreach.too_many_failures(archive.errors, 150, 300, 10)
    assert failure.message.startswith("150 of 300 items did not complete, more than")


async def test_a_large_for_each_keeps_its_items_out_of_the_runs_state(stack, client):
    count = 450
    settings = Settings(temporal_address=stack.address, task_queue=stack.task_queue,
                        blob_store=stack.env["BLOB_STORE"])  # fmt: skip
    agent = await AgentClient.connect(settings)
    plan = Plan.model_validate({"tasks": [
        task("nums", "data_transform", {"input": list(range(count)), "expression": "@"}),
        task("each", "data_transform", {"input": {"n": "{{ item }}", "pad": PAD},
                                        "expression": "{n: n, pad: pad}"},
             "nums", for_each="{{ tasks.nums.output }}"),
        task("total", "data_transform", {"input": "{{ tasks.each.output }}",
                                         "expression": "sum([].n)"}, "each"),
    ]})  # fmt: skip
    options = RunOptions(approval="none", continue_as_new_after_tasks=150)

    handle = await agent.start(plan=plan, options=options)
    result = await handle.result()

    assert result.status == "completed", result.error
    each, total = result.tasks[1], result.tasks[2]
    assert total.output == sum(range(count))
    assert each.items == {"completed": count} and each.attempts == count
    assert "$blob" in each.output, "the 900 KB output is kept in the blob store"
    items = await handle.items("each")
    assert [entry.task_id for entry in items] == [f"each[{i}]" for i in range(count)]
    assert all(entry.status == "completed" for entry in items)
    histories = await fetch_runs(client, handle.workflow_id)
    assert len(histories) >= 3, "the map continued as new at least twice"
    largest = max((len(payload.data), where) for history in histories
                  for where, payload in history_payloads(history))  # fmt: skip
    assert largest[0] < THRESHOLD, f"a payload over the blob threshold: {largest}"
    archived = [event for history in histories for event in history.events
                if event.activity_task_scheduled_event_attributes.activity_type.name
                == "archive_items"]  # fmt: skip
    assert len(archived) >= count * len(PAD) // foreach.ARCHIVE_CHUNK_BYTES


async def test_an_archive_whose_worker_goes_silent_runs_again_within_the_heartbeat_timeout(
    temporal_client,  # noqa: F811 (the fixture)
):
    """An archive_items attempt that stops heartbeating (its worker died) is retried after the
    run's heartbeat timeout, not after its 5-minute start-to-close timeout."""
    attempts: list[int] = []

    @activity.defn(name=foreach.ARCHIVE_ITEMS)
    async def archive_items(request: ArchiveRequest) -> dict:
        attempts.append(activity.info().attempt)
        if activity.info().attempt == 1:
            await asyncio.Event().wait()  # silent: no heartbeat, no end
        return {"$blob": f"chunk-{request.items[0].task_id}", "items": len(request.items)}

    @activity.defn(name=foreach.JOIN_ITEMS)
    async def join_items(request: JoinRequest) -> list:
        return [None] * request.count

    count = foreach.ARCHIVE_AFTER_ITEMS + 10
    plan = plan_of(task("each", "data_transform", {"input": "{{ item }}", "expression": "@"},
                        for_each=list(range(count))))  # fmt: skip
    options = RunOptions(**{**FAST, "heartbeat_timeout_seconds": 1})
    async with running_worker(temporal_client, archive_items, join_items) as client:
        handle = await client.start(plan=plan, options=options, workflow_id=run_id("silent"))
        result = await asyncio.wait_for(handle.result(), 60)  # the old timeout: 5 minutes

    assert result.status == "completed", result.error
    assert attempts[:2] == [1, 2], "the silent attempt was run again"
