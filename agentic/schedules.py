"""Runs on a schedule, as Temporal Schedules: a schedule starts a run of a goal, a plan or a
template (its params bound when the schedule is made) every interval or on a cron expression.
Being Temporal's own, a schedule is visible and editable in the Temporal Web UI and survives
whatever Temporal survives; each run it starts carries its name in Temporal's
`TemporalScheduledById` search attribute (`list --schedule NAME`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field
from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from agentic.client import AgentClient
from agentic.core.messages import RunInput
from agentic.errors import AgenticError
from agentic.settings import Settings
from agentic.workflows.agent_run import AgentRunWorkflow
from agentic.workflows.visibility import run_memo, run_search_attributes

Overlap = Literal["skip", "buffer_one", "allow_all", "cancel_other"]
OVERLAPS: dict[str, ScheduleOverlapPolicy] = {
    "skip": ScheduleOverlapPolicy.SKIP,
    "buffer_one": ScheduleOverlapPolicy.BUFFER_ONE,
    "allow_all": ScheduleOverlapPolicy.ALLOW_ALL,
    "cancel_other": ScheduleOverlapPolicy.CANCEL_OTHER,
}
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


class ScheduleError(AgenticError):
    """A schedule that is not there, is there already, or is refused by the server."""


def parse_duration(text: str, what: str) -> timedelta:
    """`90s`, `5m`, `2h`, `1d`, `500ms` as a timedelta; ValueError names `what` and the form."""
    match = DURATION.match(text)
    if match is None:
        raise ValueError(f"{what} {text!r}: give a number and a unit, such as 30s, 5m, 2h or 1d")
    return timedelta(seconds=float(match[1]) * UNITS[match[2]])


def duration(value: timedelta | str | None, what: str) -> timedelta | None:
    """A duration given as a timedelta or as text (`30s`, `5m`, `2h`, `1d`)."""
    return parse_duration(value, what) if isinstance(value, str) else value


def overlap(name: str) -> Overlap:
    """`name` as an overlap policy; ValueError lists the others."""
    if name not in OVERLAPS:
        raise ValueError(f"overlap {name!r}: use one of {', '.join(OVERLAPS)}")
    return name  # type: ignore[return-value]


class ScheduleSummary(BaseModel):
    """A schedule as `schedule list` and `describe` show it."""

    name: str
    spec: str = Field(description="when it fires: `every 2s`, `cron 0 7 * * *`")
    paused: bool = False
    note: str = ""
    runs: str = Field("", description="what it starts: the goal, or the plan's goal")
    next_runs: list[datetime] = Field(default_factory=list)
    recent_runs: list[str] = Field(default_factory=list, description="the runs it started")
    overlap: str = ""


def schedule_of(
    run_input: RunInput,
    settings: Settings,
    name: str,
    *,
    every: timedelta | None = None,
    cron: str | None = None,
    overlap: Overlap = "skip",
    catchup_window: timedelta | None = None,
    jitter: timedelta | None = None,
    paused: bool = False,
    note: str = "",
) -> Schedule:
    """The Temporal Schedule that starts a run of `run_input` every `every` or on `cron`."""
    if (every is None) == (cron is None):
        raise ValueError("give one of --every DURATION or --cron EXPRESSION")
    spec = ScheduleSpec(
        intervals=[ScheduleIntervalSpec(every=every)] if every else [],
        cron_expressions=[cron] if cron else [],
        jitter=jitter,
    )
    action = ScheduleActionStartWorkflow(
        AgentRunWorkflow.run,
        run_input,
        id=f"{name}-run",  # Temporal appends the time it fires
        task_queue=settings.task_queue,
        task_timeout=timedelta(seconds=settings.workflow_task_timeout_seconds),
        memo={**run_memo(run_input), "schedule": name},
        typed_search_attributes=run_search_attributes(run_input),
        static_summary=(run_input.goal_text or "plan run")[:200],
    )
    policy = SchedulePolicy(overlap=OVERLAPS[overlap], catchup_window=catchup_window)
    return Schedule(action, spec, policy, ScheduleState(note=note or None, paused=paused))


async def create(client: AgentClient, name: str, schedule: Schedule) -> ScheduleHandle:
    """Create the schedule `name`; ScheduleError when there is one by that name already."""
    try:
        return await client.temporal.create_schedule(name, schedule)
    except ScheduleAlreadyRunningError:
        raise ScheduleError(
            f"a schedule named {name!r} is there already: 'schedule update {name}', or 'schedule "
            f"delete {name}' first"
        ) from None


def handle_of(client: AgentClient, name: str) -> ScheduleHandle:
    """The handle of the schedule `name` (not checked: `describe` says whether it is there)."""
    return client.temporal.get_schedule_handle(name)


async def describe(client: AgentClient, name: str) -> ScheduleSummary:
    """The schedule now: when it fires next, the runs it started, what it starts."""
    try:
        description = await handle_of(client, name).describe()
    except RPCError as error:
        raise _not_found(name, error) from None
    schedule, info = description.schedule, description.info
    action = schedule.action
    runs = ""
    if isinstance(action, ScheduleActionStartWorkflow) and action.args:
        runs = await _what_it_runs(client, action.args[0])
    return ScheduleSummary(
        name=name,
        spec=_spec_text(schedule.spec),
        paused=schedule.state.paused,
        note=schedule.state.note or "",
        runs=runs,
        next_runs=list(info.next_action_times[:5]),
        recent_runs=[
            getattr(result.action, "workflow_id", "") for result in info.recent_actions[-10:]
        ],
        overlap=schedule.policy.overlap.name.lower(),
    )


async def summaries(client: AgentClient) -> list[ScheduleSummary]:
    """Every schedule of the namespace."""
    listed = []
    async for entry in await client.temporal.list_schedules():
        schedule = entry.schedule
        listed.append(ScheduleSummary(
            name=entry.id,
            spec=_spec_text(schedule.spec) if schedule else "",
            paused=bool(schedule and schedule.state.paused),
            note=(schedule.state.note or "") if schedule else "",
            next_runs=list(entry.info.next_action_times[:1]) if entry.info else [],
            recent_runs=[getattr(r.action, "workflow_id", "")
                         for r in (entry.info.recent_actions[-3:] if entry.info else [])],
        ))  # fmt: skip
    return listed


async def change(client: AgentClient, name: str, what: str, note: str = "") -> None:
    """Pause, unpause, trigger or delete the schedule `name`."""
    handle = handle_of(client, name)
    try:
        if what == "pause":
            await handle.pause(note=note or None)
        elif what == "unpause":
            await handle.unpause(note=note or None)
        elif what == "trigger":
            await handle.trigger()
        elif what == "delete":
            await handle.delete()
        else:
            raise ValueError(f"unknown change {what!r}")
    except RPCError as error:
        raise _not_found(name, error) from None


async def update(
    client: AgentClient,
    name: str,
    *,
    every: timedelta | None = None,
    cron: str | None = None,
    note: str | None = None,
) -> None:
    """Change when the schedule fires, or its note."""
    if every is not None and cron is not None:
        raise ValueError("give one of --every DURATION or --cron EXPRESSION")

    def changed(given: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule = given.description.schedule
        if every is not None or cron is not None:
            schedule.spec.intervals = [ScheduleIntervalSpec(every=every)] if every else []
            schedule.spec.cron_expressions = [cron] if cron else []
            schedule.spec.calendars = []  # the server keeps a cron expression as calendars
        if note is not None:
            schedule.state.note = note
        return ScheduleUpdate(schedule=schedule)

    try:
        await handle_of(client, name).update(changed)
    except RPCError as error:
        raise _not_found(name, error) from None


def _spec_text(spec: ScheduleSpec) -> str:
    parts: Sequence[str] = [
        *(f"every {_duration_text(interval.every)}" for interval in spec.intervals),
        *(f"cron {expression}" for expression in spec.cron_expressions),
        # The server keeps a cron expression as a calendar: shown as cron again.
        *(f"cron {_calendar_text(calendar)}" for calendar in spec.calendars),
    ]
    jitter = f", jitter {_duration_text(spec.jitter)}" if spec.jitter else ""
    return "; ".join(parts) + jitter


def _calendar_text(calendar: ScheduleCalendarSpec) -> str:
    """A calendar as the cron expression (minute hour day month weekday) it stands for."""
    fields = [(calendar.minute, 0, 59), (calendar.hour, 0, 23), (calendar.day_of_month, 1, 31),
              (calendar.month, 1, 12), (calendar.day_of_week, 0, 6)]  # fmt: skip
    return " ".join(_ranges_text(ranges, low, high) for ranges, low, high in fields)


def _ranges_text(ranges: Sequence[ScheduleRange], low: int, high: int) -> str:
    if not ranges or [(r.start, r.end, r.step) for r in ranges] == [(low, high, 1)]:
        return "*"
    texts = []
    for each in ranges:
        end = max(each.end, each.start)
        whole = each.start == low and end == high
        text = "*" if whole else str(each.start) if end == each.start else f"{each.start}-{end}"
        texts.append(text + (f"/{each.step}" if each.step > 1 else ""))
    return ",".join(texts)


def _duration_text(value: timedelta) -> str:
    seconds = value.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


async def _what_it_runs(client: AgentClient, payload: object) -> str:
    try:
        [run_input] = client.temporal.data_converter.payload_converter.from_payloads(
            [payload],  # type: ignore[list-item]
            [RunInput],
        )
    except Exception:  # a payload this client cannot read (encrypted with other keys)
        return ""
    return str(run_input.goal_text or "a plan")


def _not_found(name: str, error: RPCError) -> AgenticError:
    if error.status == RPCStatusCode.NOT_FOUND:
        return ScheduleError(f"no schedule named {name!r} (see 'schedule list')")
    return ScheduleError(f"schedule {name}: {error.message}")
