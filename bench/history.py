"""What `bench/run.py` reads from a workflow's event history: its length, activity attempts,
repeated completions, when the run and its first action started."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from agentic.histories import fetch_runs


@dataclass
class ActivityRecord:
    """One scheduled activity: its id and type, its started attempts, its completions."""

    activity_id: str
    activity_type: str
    attempts: int = 0
    completions: int = 0
    started_at: datetime | None = None


async def history_events(client: Client, workflow_id: str) -> list[HistoryEvent]:
    """The events of the workflow's latest run (the benches' runs never continue as new)."""
    return list((await client.get_workflow_handle(workflow_id).fetch_history()).events)


async def history_length(client: Client, workflow_id: str) -> int:
    """How many events the workflow's latest run holds, the figure the Web UI shows."""
    return len(await history_events(client, workflow_id))


async def history_lengths(client: Client, workflow_id: str) -> list[int]:
    """The events in each history of a run's continue-as-new chain, oldest first."""
    return [len(history.events) for history in await fetch_runs(client, workflow_id)]


def activities(events: list[HistoryEvent]) -> list[ActivityRecord]:
    """The activities of a history, in the order they were scheduled. An activity retried by
    Temporal records only its last attempt's start (`attempt` says which)."""
    by_event: dict[int, ActivityRecord] = {}
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled = event.activity_task_scheduled_event_attributes
            by_event[event.event_id] = ActivityRecord(
                scheduled.activity_id, scheduled.activity_type.name
            )
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            record = by_event[started.scheduled_event_id]
            record.attempts = max(record.attempts, started.attempt)
            if record.started_at is None:
                record.started_at = event.event_time.ToDatetime(tzinfo=UTC)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            completed = event.activity_task_completed_event_attributes
            by_event[completed.scheduled_event_id].completions += 1
    return list(by_event.values())


def ran_more_than_once(records: list[ActivityRecord]) -> list[str]:
    """The activities (by id, up to its first ":", so a task's later rounds count as the task)
    that took more than one attempt, completed more than once or were scheduled again."""
    scheduled = Counter(record.activity_id.split(":")[0] for record in records)
    return sorted(
        {
            record.activity_id.split(":")[0]
            for record in records
            if record.attempts > 1
            or record.completions > 1
            or scheduled[record.activity_id.split(":")[0]] > 1
        }
    )


def workflow_started(events: list[HistoryEvent]) -> datetime:
    """When the run started: its WorkflowExecutionStarted event, the first of its history."""
    started = events[0]
    if started.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        raise ValueError(f"a history starting with event type {started.event_type}")
    return started.event_time.ToDatetime(tzinfo=UTC)


def first_start(records: list[ActivityRecord], skip_types: set[str]) -> datetime | None:
    """When the first activity not of `skip_types` started."""
    starts = [r.started_at for r in records if r.activity_type not in skip_types and r.started_at]
    return min(starts) if starts else None


def retry_causes(events: list[HistoryEvent]) -> Counter[str]:
    """Why the activities of a history that took more than one attempt were retried: what
    ended the attempt before their last ("heartbeat timeout", or the error's type)."""
    causes: Counter[str] = Counter()
    for event in events:
        started = event.activity_task_started_event_attributes
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED and started.attempt > 1:
            causes[failure_cause(started.last_failure)] += 1
    return causes


def failure_cause(failure: Failure) -> str:
    """`heartbeat timeout`, `start to close timeout`, or an error's type, in a few words."""
    if failure.HasField("timeout_failure_info"):
        timeout = TimeoutType.Name(failure.timeout_failure_info.timeout_type)
        return timeout.removeprefix("TIMEOUT_TYPE_").replace("_", " ").lower() + " timeout"
    return failure.application_failure_info.type or failure.message[:40] or "unknown"


def local_activities(events: list[HistoryEvent]) -> int:
    """How many local activities the history records (each ends in a marker: the SDK's
    `core_local_activity`)."""
    return sum(
        event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and "local_activity" in event.marker_recorded_event_attributes.marker_name
        for event in events
    )
