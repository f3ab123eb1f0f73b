"""Event histories: fetch a run's history, save it as Temporal JSON, read one back, and replay
histories against the current workflow code to prove that it still makes the same decisions.

    history = await fetch_history(client, "my-run")         # the latest run of the id
    Path("my-run.json").write_text(history_json(history))   # as the Web UI downloads it
    report = await replay_runs(await fetch_runs(client, "my-run"), settings)
    print(report.summary())                                 # compatible: ... / not compatible: ...

A replay that fails names where: the event (id and type), and for an activity event the plan
task that scheduled it (its activity id up to ':', see workflows/execution.py).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from google.protobuf import json_format
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from agentic.codec import ENCODING as ENCRYPTED_ENCODING
from agentic.core.actions.base import counted
from agentic.errors import InvalidHistory, RunNotFound
from agentic.runtime import build_replayer
from agentic.settings import Settings
from agentic.workflows.agent_run import WORKFLOW_NAME

# The planner's and the analyst's activities (workflows/agent_run.py) act for the whole run:
# their activity ids are Temporal's sequence numbers, not a task's.
RUN_ACTIVITIES = {"plan_goal": "the planner", "analyze_failure": "the analyst"}
# Where the SDK's failure message names the event (not every message does).
EVENT_ID_PATTERNS = (re.compile(r"HistoryEvent\(id: (\d+)"), re.compile(r"event id: (\d+)"))
# The core's own failure message inside the SDK's debug rendering of it.
CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')
STARTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
TASK_STARTED = EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED


# ----- fetching and saving ----------------------------------------------------------------


async def fetch_history(
    client: Client, workflow_id: str, run_id: str | None = None
) -> WorkflowHistory:
    """The history of one run of `workflow_id`: `run_id`'s, or by default the latest run's.
    Raises `RunNotFound`."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    try:
        return await handle.fetch_history()
    except RPCError as error:
        if error.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise
        which = f"no run {run_id!r} of workflow {workflow_id!r}" if run_id else (
            f"no run with id {workflow_id!r}")  # fmt: skip
        why = f" ({error.message})" if error.status == RPCStatusCode.INVALID_ARGUMENT else ""
        raise RunNotFound(f"{which}{why}; see 'python cli.py list'") from None


async def fetch_runs(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """The history of every run of `workflow_id`, oldest first: all the runs of a
    continue-as-new chain (and of earlier runs that reused the id). Raises `RunNotFound`."""
    executions = [
        execution
        async for execution in client.list_workflows(f"WorkflowId = {_quoted(workflow_id)}")
    ]
    executions.sort(key=lambda execution: execution.start_time)
    run_ids = [execution.run_id for execution in executions]
    latest = await fetch_history(client, workflow_id)
    # Listing lags behind a run that has just started or ended; the latest run is read directly.
    histories = [await fetch_history(client, workflow_id, run_id)
                 for run_id in run_ids if run_id != latest.run_id]  # fmt: skip
    return [*histories, latest]


def _quoted(value: str) -> str:
    """A string literal for a List Filter."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def history_json(history: WorkflowHistory) -> str:
    """The history as Temporal JSON: what the Web UI downloads and `temporal workflow show
    -o json` prints, and what `WorkflowHistory.from_json` (and `replay --file`) reads."""
    return history.to_json() + "\n"


def history_workflow_id(path: Path) -> str:
    """The workflow id a history file stands for: what follows `@` in its name, else its name."""
    _, at, workflow_id = path.stem.partition("@")
    return workflow_id if at else path.name


def load_history(path: Path) -> WorkflowHistory:
    """Read a history saved as Temporal JSON; `InvalidHistory` says what is wrong with it.
    The file's name stands in for the workflow id, which a history does not hold: a run that
    started sub-plans replays only under its own id (its children's ids begin with it), given
    after an `@` (`parent@run-1a2b.json`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidHistory(
            f"cannot read history file {path}: {error.strerror or error}"
        ) from None
    except UnicodeDecodeError as error:
        raise InvalidHistory(f"history file {path} is not UTF-8 text: {error.reason}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidHistory(f"history file {path} is not valid JSON: line {error.lineno}, "
                             f"column {error.colno}: {error.msg}") from None  # fmt: skip
    try:
        history = WorkflowHistory.from_json(history_workflow_id(path), data)
    except (ValueError, TypeError, KeyError, AttributeError, json_format.Error) as error:
        raise InvalidHistory(
            f"{path} is not a Temporal history ({_first_line(error)}); save one with "
            "'python cli.py history ID --out FILE' or the Web UI's download"
        ) from None
    check_history(history, str(path))
    return history


def check_history(history: WorkflowHistory, source: str) -> None:
    """Raise `InvalidHistory` unless this is a history of the engine's workflow."""
    if not history.events or history.events[0].event_type != STARTED:
        raise InvalidHistory(f"{source} is not a Temporal history: its first event is not "
                             "WorkflowExecutionStarted")  # fmt: skip
    workflow_type = history.events[0].workflow_execution_started_event_attributes.workflow_type
    if workflow_type.name != WORKFLOW_NAME:
        raise InvalidHistory(f"{source} is the history of a {workflow_type.name!r} workflow, "
                             f"not of {WORKFLOW_NAME}")  # fmt: skip


# ----- replaying --------------------------------------------------------------------------


@dataclass(frozen=True)
class Divergence:
    """Where a run stopped replaying: the event, the task that scheduled it, and why."""

    workflow_id: str
    run_id: str
    reason: str
    nondeterministic: bool
    event_id: int | None = None
    event_type: str = ""
    task_id: str = ""
    activity_id: str = ""
    activity_type: str = ""

    @property
    def task(self) -> str:
        """Who scheduled the event's activity: a plan task, the planner or the analyst."""
        if not self.activity_type:
            return ""
        return RUN_ACTIVITIES.get(self.activity_type) or f"task {self.task_id}"

    def describe(self) -> str:
        """One line for people."""
        where = ""
        if self.event_id is not None:
            details = [self.event_type, self.task]
            if self.activity_id and self.activity_id != self.task_id:
                details.append(f"activity id {self.activity_id}")
            if self.activity_type:
                details.append(f"activity type {self.activity_type}")
            where = f" at event {self.event_id} ({', '.join(part for part in details if part)})"
        return f"run {self.run_id} of {self.workflow_id} does not replay{where}: {self.reason}"


@dataclass(frozen=True)
class ReplayReport:
    """What a replay found: how much replayed, and each run that did not."""

    runs: int
    events: int
    failures: list[Divergence]

    @property
    def compatible(self) -> bool:
        """True when every run replayed against this code."""
        return not self.failures

    def summary(self) -> str:
        """The verdict in one line."""
        if self.compatible:
            return (f"compatible: {counted(self.runs, 'run')}, {counted(self.events, 'event')} "
                    "replayed against this code")  # fmt: skip
        return (f"not compatible: {len(self.failures)} of {counted(self.runs, 'run')} did not "
                "replay against this code")  # fmt: skip


async def replay_runs(histories: Sequence[WorkflowHistory], settings: Settings) -> ReplayReport:
    """Replay histories against the current workflow code with the engine's replayer (and the
    payload keys of `settings`). Runs that never started a workflow task are left out: they
    hold no decision of the code."""
    for history in histories:
        check_history(history, history.workflow_id)
    if settings.payload_encryption_keys is None and any(map(_encrypted, histories)):
        raise InvalidHistory("the history's payloads are encrypted: set PAYLOAD_ENCRYPTION_KEYS "
                             "to the keys of the workers that ran it")  # fmt: skip
    started = [history for history in histories if _has_task(history)]
    return await replay_histories(started, build_replayer(settings))


async def replay_histories(
    histories: Sequence[WorkflowHistory], replayer: Replayer
) -> ReplayReport:
    """Replay each history with `replayer`; each one that fails, with where and why."""
    failed: list[tuple[WorkflowHistory, Exception]] = []
    with _sdk_logs_quiet():
        async with replayer.workflow_replay_iterator(_each(histories)) as results:
            async for result in results:
                if result.replay_failure is not None:
                    failed.append((result.history, result.replay_failure))
        failures = [await _divergence(replayer, history, error) for history, error in failed]
    events = sum(len(history.events) for history in histories)
    return ReplayReport(runs=len(histories), events=events, failures=failures)


async def _each(histories: Sequence[WorkflowHistory]) -> AsyncIterator[WorkflowHistory]:
    for history in histories:
        yield history


async def _divergence(replayer: Replayer, history: WorkflowHistory, error: Exception) -> Divergence:
    """Describe a failed replay: the event the message names, or else (the SDK's messages
    for a changed activity id or type, or an exception in the workflow, name none) the event
    where the shortest failing prefix of the history ends."""
    message = str(error)
    event_id = _event_id_in(message)
    if event_id is None:
        event_id = await _first_failing_event(replayer, history)
    nondeterministic = isinstance(error, NondeterminismError)
    failure = Divergence(history.workflow_id, history.run_id, _reason(message), nondeterministic)
    events = {event.event_id: event for event in history.events}
    if event_id is None or event_id not in events:
        return failure
    return _at_event(failure, events[event_id], events)


def _event_id_in(message: str) -> int | None:
    for pattern in EVENT_ID_PATTERNS:
        match = pattern.search(message)
        if match:
            return int(match.group(1))
    return None


async def _first_failing_event(replayer: Replayer, history: WorkflowHistory) -> int | None:
    """Bisect: replay ever shorter prefixes of the history (as of a run still going) to find
    the first event the current code disagrees with."""
    events = list(history.events)
    # Shorter prefixes hold no decision yet (and one without a workflow task never replays).
    passing = next((i for i, event in enumerate(events) if event.event_type == TASK_STARTED), None)
    if passing is None:
        return None
    failing = len(events)
    while failing - passing > 1:
        middle = (passing + failing) // 2
        prefix = WorkflowHistory(history.workflow_id, events[:middle])
        result = await replayer.replay_workflow(prefix, raise_on_replay_failure=False)
        if result.replay_failure is None:
            passing = middle
        else:
            failing = middle
    return events[failing - 1].event_id


def _at_event(
    failure: Divergence, event: HistoryEvent, events: dict[int, HistoryEvent]
) -> Divergence:
    """The failure with its event, and the activity and task behind the event."""
    event_type = "".join(part.title() for part in EventType.Name(event.event_type)
                         .removeprefix("EVENT_TYPE_").split("_"))  # fmt: skip
    scheduled = _scheduling_event(event, events)
    if scheduled is None:
        return replace(failure, event_id=event.event_id, event_type=event_type)
    attributes = scheduled.activity_task_scheduled_event_attributes
    activity_type = attributes.activity_type.name
    # A task's activity ids are its id, then ':round2', ':check3'... (workflows/execution.py).
    task_id = "" if activity_type in RUN_ACTIVITIES else attributes.activity_id.split(":")[0]
    return replace(failure, event_id=event.event_id, event_type=event_type, task_id=task_id,
                   activity_id=attributes.activity_id, activity_type=activity_type)  # fmt: skip


def _scheduling_event(event: HistoryEvent, events: dict[int, HistoryEvent]) -> HistoryEvent | None:
    """The ActivityTaskScheduled event of an activity event (itself, or the one it names)."""
    if event.HasField("activity_task_scheduled_event_attributes"):
        return event
    attributes_field = event.WhichOneof("attributes")
    if attributes_field is None or not attributes_field.startswith("activity_task_"):
        return None
    scheduled = events.get(getattr(event, attributes_field).scheduled_event_id)
    if scheduled is None or not scheduled.HasField("activity_task_scheduled_event_attributes"):
        return None
    return scheduled


def _reason(message: str) -> str:
    """The core's own message (the SDK wraps it in a debug rendering), on one line."""
    match = CORE_MESSAGE.search(message)
    reason = match.group(1).replace('\\"', '"').replace("\\\\", "\\") if match else message
    return _first_line(reason)


def _first_line(error: object) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _encrypted(history: WorkflowHistory) -> bool:
    started = history.events[0].workflow_execution_started_event_attributes
    payloads = started.input.payloads
    return bool(payloads) and payloads[0].metadata.get("encoding") == ENCRYPTED_ENCODING


def _has_task(history: WorkflowHistory) -> bool:
    return any(event.event_type == TASK_STARTED for event in history.events)


@contextmanager
def _sdk_logs_quiet() -> Iterator[None]:
    """The SDK logs each failed workflow task with a traceback; the report says it once.
    With LOG_LEVEL=DEBUG the SDK's logs stay."""
    sdk_logger = logging.getLogger("temporalio.worker")
    level = sdk_logger.level
    if not sdk_logger.isEnabledFor(logging.DEBUG):
        sdk_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        sdk_logger.setLevel(level)


def quiet_core_logs() -> None:
    """Keep Temporal's core from logging each failed workflow task as a warning on stderr (a
    replay reports the failure itself). Call before anything connects to Temporal. With
    LOG_LEVEL=DEBUG they stay."""
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        return
    quiet = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    runtime = Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=quiet)))
    Runtime.set_default(runtime, error_if_already_set=False)
