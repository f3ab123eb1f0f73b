"""A large for-each's ended items, kept in the blob store instead of the run's state: the
workflow archives them in chunks as they end (`archive_items`), and joins the chunks into the
task's output at the end (`join_items`), so neither its state nor any payload in its history
grows with the number of items."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from agentic.activities.actions import run_with_heartbeats, temporal_error
from agentic.activities.blobs import Blobs, read_chunk
from agentic.core.errors import EngineError
from agentic.core.foreach import ARCHIVE_ITEMS, JOIN_ITEMS, item_index
from agentic.core.messages import ArchiveRequest, JoinRequest, TaskStatus


def item_activities(blobs: Blobs) -> list[Callable[..., Any]]:
    """The workflow's archive of a large for-each's items, over the worker's blob store."""

    @activity.defn(name=ARCHIVE_ITEMS)
    async def archive_items(request: ArchiveRequest) -> dict[str, Any]:
        """Keep the item results in the blob store, always (however small): the reference.
        It heartbeats, so a dead worker's archive runs again within the heartbeat timeout."""
        return await run_with_heartbeats(_archive(request))

    async def _archive(request: ArchiveRequest) -> dict[str, Any]:
        items = [item.model_dump(mode="json") for item in request.items]
        try:
            return (await blobs.put(items, activity.info().workflow_id or "")).as_value()
        except EngineError as error:
            raise temporal_error(error, activity.info().attempt) from None

    @activity.defn(name=JOIN_ITEMS)
    async def join_items(request: JoinRequest) -> Any:
        """The for-each's output: each completed item's output at its index, null for the
        others; a large one goes to the blob store. It heartbeats, as archive_items does."""
        return await run_with_heartbeats(_join(request))

    async def _join(request: JoinRequest) -> Any:
        outputs: list[Any] = [None] * request.count
        try:
            for chunk in request.chunks:
                for item in await read_chunk(blobs, chunk):
                    index = item_index(item.task_id)
                    if 0 <= index < request.count and item.status == TaskStatus.COMPLETED:
                        outputs[index] = item.output
            return await blobs.offload(outputs, activity.info().workflow_id or "")
        except EngineError as error:
            raise temporal_error(error, activity.info().attempt) from None

    return [archive_items, join_items]
