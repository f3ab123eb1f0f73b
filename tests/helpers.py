"""Small helpers shared by the tests: plan builders and history readers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from agentic.settings import Settings
from agentic.worker import run_worker


def task(task_id: str, action_type: str, config: dict[str, Any], *deps: str, **extra: Any) -> dict:
    """A plan task as JSON."""
    return {
        "id": task_id,
        "action_type": action_type,
        "action_config": config,
        "depends_on": list(deps),
        **extra,
    }


def get(url: str, **extra: Any) -> dict[str, Any]:
    """An api_call config for GET url."""
    return {"method": "GET", "url": url, **extra}


def tasks_by_id(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A run result's (or state's) tasks keyed by id."""
    return {entry["task_id"]: entry for entry in result["tasks"]}


async def activity_spans(client: Client, workflow_id: str) -> dict[str, tuple[datetime, datetime]]:
    """activity id -> (first attempt started, completed), read from the run's history; a
    local activity's span is from when the workflow asked for it to when it completed (its
    marker says both)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled: dict[int, str] = {}
    started: dict[str, datetime] = {}
    spans: dict[str, tuple[datetime, datetime]] = {}
    for event in history.events:
        when = event.event_time.ToDatetime()
        local = local_activity_span(event)
        if local is not None:
            spans[local[0]] = local[1]
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_id
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            activity_id = scheduled[event.activity_task_started_event_attributes.scheduled_event_id]
            started[activity_id] = when
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            activity_id = scheduled[
                event.activity_task_completed_event_attributes.scheduled_event_id
            ]
            spans[activity_id] = (started[activity_id], when)
    return spans


def local_activity_span(event: Any) -> tuple[str, tuple[datetime, datetime]] | None:
    """(activity id, (asked for, completed)) of a completed local activity's marker."""
    if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
        return None
    marker = event.marker_recorded_event_attributes
    if marker.marker_name != "core_local_activity" or marker.HasField("failure"):
        return None
    data = json.loads(marker.details["data"].payloads[0].data)

    def moment(stamp: dict[str, int]) -> datetime:
        seconds = stamp.get("seconds", 0) + stamp.get("nanos", 0) / 1e9
        return datetime.fromtimestamp(seconds, tz=UTC).replace(tzinfo=None)

    return data["activity_id"], (moment(data["original_schedule_time"]),
                                 moment(data["complete_time"]))  # fmt: skip


async def event_types(client: Client, workflow_id: str) -> list[str]:
    """The names of the run's history events, in order."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [EventType.Name(event.event_type) for event in history.events]


async def poll(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 30) -> Any:
    """Await `check` until it returns something truthy, or fail after `timeout` seconds (the
    async `wait_until`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def history_payloads(history: WorkflowHistory) -> list[tuple[str, Payload]]:
    """Every payload in a run's history (inputs, results, failures' details, search attributes,
    ...), each with where it is (`event 1.workflow_execution_started_event_attributes.input.
    payloads[0]`). `history.to_json()` shows payload data only as base64."""
    return [
        found
        for event in history.events
        for found in _payloads_in(event, f"event {event.event_id}")
    ]


def _payloads_in(message: Message, where: str) -> Iterator[tuple[str, Payload]]:
    if isinstance(message, Payload):
        yield where, message
        return
    for field, value in message.ListFields():
        if field.message_type is None:  # a scalar, or scalars
            continue
        path = f"{where}.{field.name}"
        if isinstance(value, Message):
            yield from _payloads_in(value, path)
        elif field.message_type.GetOptions().map_entry:
            for key, item in value.items():
                if isinstance(item, Message):
                    yield from _payloads_in(item, f"{path}[{key}]")
        else:
            for index, item in enumerate(value):
                yield from _payloads_in(item, f"{path}[{index}]")


def payload_text(payload: Payload) -> str:
    """A payload's data decoded as text (bytes that are not UTF-8, ciphertext, say, are
    replaced)."""
    return payload.data.decode("utf-8", errors="replace")


@asynccontextmanager
async def worker_for(settings: Settings) -> AsyncIterator[None]:
    """A worker in this process (`run_worker`), serving until the block ends."""
    stop, ready = asyncio.Event(), asyncio.Event()
    running = asyncio.create_task(run_worker(settings, stop=stop, ready=ready))
    await asyncio.wait_for(ready.wait(), 30)
    try:
        yield
    finally:
        stop.set()
        await running
