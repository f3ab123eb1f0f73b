"""The Python API: start, follow and steer runs.

    from agentic import AgentClient

    client = await AgentClient.connect()                    # from settings (the environment)
    result = await client.run(goal="fetch ... and write a report")
    handle = await client.start(plan=my_plan, options=RunOptions(approval="plan"))
    await handle.approve(by="alice")
    async for state in handle.watch():
        ...

Every call goes to the workflow through its typed handlers (signals, queries, updates);
errors are `agentic.errors.AgenticError`s.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, ValidationError
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.contrib.workflow_streams import WorkflowStreamClient
from temporalio.exceptions import (
    CancelledError,
    TerminatedError,
    WorkflowAlreadyStartedError,
)
from temporalio.exceptions import TimeoutError as TemporalTimeout
from temporalio.service import RPCError, RPCStatusCode

from agentic import reruns
from agentic.activities.blobs import Blobs, StoredRun, age_days, open_store, read_chunk
from agentic.core.actions.base import Execution
from agentic.core.blobs import holds_blobs
from agentic.core.errors import ActionError
from agentic.core.events import EVENT_ADAPTER
from agentic.core.events import TOPIC as EVENTS_TOPIC
from agentic.core.foreach import item_index, parent_of
from agentic.core.messages import (
    AnswerRecord,
    AnswerRequest,
    ApprovalSignal,
    ChildRerun,
    EditRequest,
    EditResult,
    PauseSignal,
    Phase,
    Question,
    ReplanRecord,
    ReplanRequest,
    RunInput,
    RunOptions,
    RunResult,
    RunState,
    TaskResult,
    TaskStatus,
    result_in_failure,
)
from agentic.core.metrics import RunReport, run_report
from agentic.core.plan import Plan, format_validation_error
from agentic.core.policy import plan_refusals
from agentic.core.registry import ACTIONS
from agentic.core.subplans import with_templates
from agentic.errors import (
    AgenticError,
    AnswerRefused,
    BlobStoreError,
    EditRefused,
    InvalidPlan,
    InvalidQuery,
    NoChildRun,
    NoOutput,
    NotWaiting,
    ReplanRefused,
    RerunRefused,
    RunAlreadyStarted,
    RunEnded,
    RunNotFound,
    RunResultUnavailable,
    WorkerUnavailable,
)
from agentic.runtime import connect, web_ui_link
from agentic.settings import Settings, get_settings
from agentic.templates import load_template
from agentic.workflows.agent_run import WORKFLOW_NAME, AgentRunWorkflow
from agentic.workflows.budgets import plan_over_budget
from agentic.workflows.execution import summarize
from agentic.workflows.visibility import (
    GOAL,
    GOAL_DETAILS,
    STATUS,
    TASK_COUNT,
    AgentStatus,
    plan_details,
    run_memo,
    run_search_attributes,
)

if TYPE_CHECKING:
    from agentic.schedules import ScheduleSummary

SUMMARY_MAX_CHARS = 200
IN_PROGRESS = {
    AgentStatus.PLANNING,
    AgentStatus.AWAITING_APPROVAL,
    AgentStatus.AWAITING_ANSWER,
    AgentStatus.RUNNING,
    AgentStatus.PAUSED,
}
CALL_TIMEOUT = timedelta(seconds=10)
WATCH_INTERVAL_SECONDS = 0.5
# Statuses a run stopped from outside never set itself: Temporal's own status says more.
SELF_REPORTED = {
    WorkflowExecutionStatus.RUNNING,
    WorkflowExecutionStatus.COMPLETED,
    WorkflowExecutionStatus.FAILED,
    WorkflowExecutionStatus.CANCELED,
}


class RunSummary(BaseModel):
    """A run as `list` shows it."""

    workflow_id: str
    status: str
    goal: str = ""
    tasks: int | None = None
    started: datetime | None = Field(
        None,
        description="when the run started (its first history's start, when it continued as new)",
    )
    closed: datetime | None = None
    cost_usd: float | None = Field(None, description="what its LLM calls cost, when priced")


class CleanupReport(BaseModel):
    """What `cleanup` removed from the blob store (or would, with --dry-run)."""

    location: str
    removed_runs: list[str] = Field(default_factory=list)
    removed_blobs: int = 0
    removed_bytes: int = 0
    kept_runs: int = 0


class AgentClient:
    """A connection to the engine's runs on one Temporal namespace and task queue."""

    def __init__(self, temporal: Client, settings: Settings) -> None:
        self.temporal = temporal
        self.settings = settings

    @classmethod
    async def connect(
        cls,
        settings: Settings | None = None,
        *,
        address: str | None = None,
        namespace: str | None = None,
        task_queue: str | None = None,
        api_key: str | None = None,
    ) -> AgentClient:
        """Connect with `settings` (default: from the environment), any argument given
        overriding its setting. Raises `ServerUnreachable`."""
        overrides = {
            "temporal_address": address,
            "temporal_namespace": namespace,
            "task_queue": task_queue,
            "temporal_api_key": api_key,
        }
        settings = (settings or get_settings()).model_copy(
            update={name: value for name, value in overrides.items() if value is not None}
        )
        return cls(await connect(settings), settings)

    async def start(
        self,
        *,
        goal: str | None = None,
        plan: Plan | dict[str, Any] | None = None,
        options: RunOptions | None = None,
        workflow_id: str | None = None,
        params: Mapping[str, Any] | None = None,
        rerun_of: str | None = None,
        reused: Sequence[TaskResult] | None = None,
        rerun_children: Mapping[str, ChildRerun] | None = None,
        resume_loops: Mapping[str, list[Any]] | None = None,
    ) -> RunHandle:
        """Start a run of a goal (planned by the LLM) or of a plan; its handle. (`rerun_of`,
        `reused`, `rerun_children` and `resume_loops` are `RunHandle.rerun`'s: the run it runs
        again, the tasks it takes, how its sub-plans' child runs run again, the rounds its
        loops go on after.)

        Every run, however started, gets the same summary, details, memo and search
        attributes in the Web UI. Raises `InvalidPlan` for a plan that does not validate, or
        whose `params` the given ones do not fit (the defaults fill the others).
        The options not given in `options` come from the settings (RUN_*, the task queues,
        LLM_TIMEOUT_SECONDS), as for the CLI."""
        options = self._with_setting_defaults(options)
        run_input = _run_input(goal, plan, options, params, self._template)
        if rerun_of is not None:
            rerun = {"rerun_of": rerun_of, "reused": list(reused or []),
                     "rerun_children": dict(rerun_children or {}) or None,
                     "resume_loops": dict(resume_loops or {}) or None}  # fmt: skip
            run_input = run_input.model_copy(update=rerun)
        workflow_id = workflow_id or f"run-{uuid.uuid4().hex[:12]}"
        try:
            handle = await self.temporal.start_workflow(
                AgentRunWorkflow.run,
                run_input,
                id=workflow_id,
                task_queue=self.settings.task_queue,
                memo=run_memo(run_input),
                search_attributes=run_search_attributes(run_input),
                static_summary=(run_input.goal_text or "plan run")[:SUMMARY_MAX_CHARS],
                static_details=(plan_details(run_input.plan) if run_input.plan else GOAL_DETAILS),
                task_timeout=timedelta(seconds=self.settings.workflow_task_timeout_seconds),
            )
        except WorkflowAlreadyStartedError:
            raise RunAlreadyStarted(
                f"a run with id {workflow_id!r} is still going (see 'status {workflow_id}'); "
                "give another --id"
            ) from None
        except RPCError as error:
            if error.status != RPCStatusCode.INVALID_ARGUMENT:
                raise
            raise InvalidPlan(f"the Temporal server refused the run: {error.message}") from None
        return RunHandle(handle, self)

    def run_input(
        self,
        *,
        goal: str | None = None,
        plan: Plan | dict[str, Any] | None = None,
        options: RunOptions | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> RunInput:
        """What `start` would start, checked as it checks it (`InvalidPlan`): the input of a
        schedule's runs."""
        return _run_input(goal, plan, self._with_setting_defaults(options), params, self._template)

    def _template(self, name: str) -> Plan:
        """A named template, for the sub-plans that name one."""
        return load_template(name, self.settings)

    def _with_setting_defaults(self, options: RunOptions | None) -> RunOptions:
        given = options.model_dump(exclude_unset=True) if options is not None else {}
        return RunOptions.model_validate({**self.settings.run_option_defaults(), **given})

    async def run(
        self,
        *,
        goal: str | None = None,
        plan: Plan | dict[str, Any] | None = None,
        options: RunOptions | None = None,
        workflow_id: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> RunResult:
        """Start a run and wait for its result, whatever its outcome (see `RunResult.status`)."""
        handle = await self.start(
            goal=goal, plan=plan, options=options, workflow_id=workflow_id, params=params
        )
        return await handle.result()

    async def get(self, workflow_id: str) -> RunHandle:
        """The handle of an existing run; `RunNotFound` when there is none."""
        handle = RunHandle(
            self.temporal.get_workflow_handle_for(AgentRunWorkflow.run, workflow_id), self
        )
        await handle.is_running()
        return handle

    async def list(
        self,
        *,
        status: AgentStatus | str | None = None,
        goal: str | None = None,
        query: str | None = None,
        limit: int = 20,
        schedule: str | None = None,
    ) -> list[RunSummary]:
        """The latest runs, newest first: by status, by words of the goal, by the schedule that
        started them, by a Temporal List Filter (`query`). Raises `InvalidQuery` for a filter
        the server refuses."""
        list_filter = list_filter_for(status, goal, query, schedule)
        try:
            executions = [e async for e in self.temporal.list_workflows(list_filter, limit=limit)]
        except RPCError as error:
            raise _filter_refused(error, list_filter) from None
        return list(await asyncio.gather(*map(_summary_with_memo, executions)))

    async def list_page(
        self,
        *,
        status: AgentStatus | str | None = None,
        goal: str | None = None,
        query: str | None = None,
        page_size: int = 20,
        page_token: bytes | None = None,
    ) -> tuple[Sequence[RunSummary], bytes | None]:
        """One page of `list` (with each run's cost), and the token of the next (None after
        the last)."""
        list_filter = list_filter_for(status, goal, query)
        runs = self.temporal.list_workflows(
            list_filter, page_size=page_size, next_page_token=page_token
        )
        try:
            await runs.fetch_next_page()
        except RPCError as error:
            raise _filter_refused(error, list_filter) from None
        summaries = await asyncio.gather(*map(_summary_with_memo, runs.current_page or []))
        return summaries, runs.next_page_token or None

    def web_ui_link(self, workflow_id: str) -> str:
        """The run's page in the Temporal Web UI."""
        return web_ui_link(self.settings, workflow_id)

    async def create_schedule(
        self,
        name: str,
        *,
        every: timedelta | str | None = None,
        cron: str | None = None,
        goal: str | None = None,
        plan: Plan | dict[str, Any] | None = None,
        template: str | None = None,
        params: Mapping[str, Any] | None = None,
        options: RunOptions | None = None,
        overlap: str = "skip",
        catchup_window: timedelta | str | None = None,
        jitter: timedelta | str | None = None,
        paused: bool = False,
        note: str = "",
    ) -> ScheduleSummary:
        """Create the schedule `name` (a Temporal Schedule) that starts a run of a goal, a
        plan or a template (`params` bound now) every `every` (`timedelta`, or `"2s"`,
        `"5m"`...) or on a `cron` expression; as it is now (its next runs). `ScheduleError`
        when there is one by that name already, `InvalidPlan` or ValueError for bad input."""
        from agentic import schedules

        if sum(given is not None for given in (template, plan, goal)) != 1:
            raise ValueError("give exactly one of template, plan or goal")
        if template is not None:
            plan = self._template(template)
        if plan is not None:
            plan = Plan.model_validate(plan).with_params(params or {})
        elif params:
            raise ValueError("params are for a template or a plan, not a goal")
        schedule = schedules.schedule_of(
            self.run_input(goal=goal, plan=plan, options=options), self.settings, name,
            every=schedules.duration(every, "every"), cron=cron,
            overlap=schedules.overlap(overlap),
            catchup_window=schedules.duration(catchup_window, "catchup_window"),
            jitter=schedules.duration(jitter, "jitter"), paused=paused, note=note,
        )  # fmt: skip
        await schedules.create(self, name, schedule)
        return await schedules.describe(self, name)

    async def schedules(self) -> Sequence[ScheduleSummary]:
        """Every schedule of the namespace (`schedule list`)."""
        from agentic import schedules

        return await schedules.summaries(self)

    async def describe_schedule(self, name: str) -> ScheduleSummary:
        """The schedule `name` now: when it fires next, the runs it started, what it starts;
        `ScheduleError` when there is none."""
        from agentic import schedules

        return await schedules.describe(self, name)

    async def change_schedule(self, name: str, what: str, *, note: str = "") -> None:
        """`what` is pause, unpause, trigger (start a run now) or delete."""
        from agentic import schedules

        await schedules.change(self, name, what, note)

    async def update_schedule(
        self,
        name: str,
        *,
        every: timedelta | str | None = None,
        cron: str | None = None,
        note: str | None = None,
    ) -> ScheduleSummary:
        """Change when the schedule fires, or its note; as it is then."""
        from agentic import schedules

        every_time = schedules.duration(every, "every")
        await schedules.update(self, name, every=every_time, cron=cron, note=note)
        return await schedules.describe(self, name)

    async def cleanup(self, older_than_days: float, *, dry_run: bool = False) -> CleanupReport:
        """Remove the stored outputs (blob store) of runs that ended more than
        `older_than_days` ago, and of runs Temporal no longer knows whose outputs are that
        old; a run still going keeps its outputs. With `dry_run`, only say what would go."""
        try:
            store = open_store(self.settings.blob_location)
            stored_runs = await store.runs()
        except Exception as error:
            raise BlobStoreError(f"blob store {self.settings.blob_location}: {error}") from None
        report = CleanupReport(location=store.location)
        for stored in stored_runs:
            if not await self._ended_days_ago(stored, older_than_days):
                report.kept_runs += 1
                continue
            report.removed_runs.append(stored.workflow_id)
            report.removed_blobs += stored.count
            report.removed_bytes += stored.size
            if not dry_run:
                await store.delete_run(stored.workflow_id)
        return report

    async def _ended_days_ago(self, stored: StoredRun, days: float) -> bool:
        """Whether the run whose outputs these are ended `days` ago or more. A run Temporal no
        longer knows (its history is gone) counts from its newest stored output."""
        try:
            description = await self.temporal.get_workflow_handle(stored.workflow_id).describe()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            return age_days(stored) >= days
        if description.status == WorkflowExecutionStatus.RUNNING:
            return False
        if description.close_time is None:
            return age_days(stored) >= days
        return (datetime.now(UTC) - description.close_time).total_seconds() >= days * 86400


class RunHandle:
    """One run: its state, its result, and the signals and updates that steer it."""

    def __init__(self, handle: WorkflowHandle[Any, Any], client: AgentClient) -> None:
        self._handle = handle
        self._client = client

    @property
    def workflow_id(self) -> str:
        """The run's id."""
        return self._handle.id

    @property
    def web_ui_link(self) -> str:
        """The run's page in the Temporal Web UI."""
        return self._client.web_ui_link(self.workflow_id)

    async def is_running(self) -> bool:
        """True until the workflow execution closes (however it ended)."""
        try:
            description = await self._handle.describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise RunNotFound(
                    f"no run with id {self.workflow_id!r} (see 'python cli.py list')"
                ) from None
            raise
        return description.status == WorkflowExecutionStatus.RUNNING

    async def status(self) -> RunState:
        """The run as it is now (the `status` query), with what waits for approval in its
        running child runs (`sub_plans_waiting`); `WorkerUnavailable` when no worker
        answers."""
        state = await self._query_state()
        waiting, questions = await self._waiting_in_children(state)
        if not waiting and not questions:
            return state
        return state.model_copy(
            update={"sub_plans_waiting": waiting, "questions": [*state.questions, *questions]}
        )

    async def child(self, task_id: str) -> RunHandle:
        """The child run of a sub_plan task (or of one of its items, `regions[2]`), as its
        last round started it; `NoChildRun` when it has none."""
        parent = parent_of(task_id)
        tasks = await self.items(parent) if parent else (await self._query_state()).tasks
        found = next((task for task in tasks if task.task_id == task_id), None)
        if found is None or not found.child_run_id:
            raise NoChildRun(
                f"task {task_id!r} of run {self.workflow_id} has no child run (only a "
                "sub_plan task that started has one)"
            )
        return await self._client.get(found.child_run_id)

    async def _query_state(self) -> RunState:
        state: RunState = await self._query(AgentRunWorkflow.status, "status")
        return state

    async def _running_children(self, state: RunState) -> list[tuple[str, str]]:
        """(task id, child run id) of each running sub_plan task and item (running items are
        never archived: the items query has them, no blob store is read)."""
        tasks = [task for task in state.tasks if task.status == TaskStatus.RUNNING]
        for task in list(tasks):
            spec = ACTIONS.get(task.action_type, load=False)
            starts_children = spec is not None and spec.execution == Execution.CHILD_RUN
            if starts_children and task.items and task.items.get(TaskStatus.RUNNING.value):
                items = await self._query(AgentRunWorkflow.items, "items", task.task_id)
                tasks += [item for item in items if item.status == TaskStatus.RUNNING]
        return [(task.task_id, task.child_run_id) for task in tasks if task.child_run_id]

    async def _waiting_in_children(self, state: RunState) -> tuple[list[str], list[Question]]:
        """What waits in the running child runs: approvals (`sub.fetch`) and questions (whose
        task ids become `sub.pick`, answered through this run)."""
        waiting: list[str] = []
        questions: list[Question] = []
        for task_id, child_id in await self._running_children(state):
            try:
                child = await (await self._client.get(child_id)).status()
            except AgenticError:  # it ended meanwhile, or no worker answered
                continue
            if child.phase == Phase.AWAITING_APPROVAL:
                waiting.append(task_id)
            waiting += [f"{task_id}.{task.task_id}" for task in child.tasks
                        if task.status == TaskStatus.WAITING_APPROVAL]  # fmt: skip
            waiting += [f"{task_id}.{inner}" for inner in child.sub_plans_waiting]
            questions += [question.model_copy(update={"task_id": f"{task_id}.{question.task_id}"})
                          for question in child.questions]  # fmt: skip
        return waiting, questions

    async def result(self) -> RunResult:
        """The run's result, waiting for it to end, whatever its outcome; a run terminated or
        timed out has none (`RunResultUnavailable`)."""
        try:
            return await self._handle.result()
        except WorkflowFailureError as error:
            carried = result_in_failure(error.cause)
            if carried is not None:
                return carried
            if isinstance(error.cause, CancelledError):
                return await self._cancelled_result()
            raise RunResultUnavailable(
                f"run {self.workflow_id} {_ended_how(error.cause)} and has no result; "
                f"'status {self.workflow_id}' shows its tasks"
            ) from error

    async def items(self, task_id: str) -> list[TaskResult]:
        """A for-each's items (`orders[0]`, `orders[1]`, ...), each with its status,
        attempts, error and a summary of its output; empty for another task. A large
        for-each's ended items are read from the blob store."""
        live: list[TaskResult] = await self._query(AgentRunWorkflow.items, "items", task_id)
        archived = [
            item.model_copy(update={"output": summarize(item.output)})
            for item in await self._archived_items(task_id)
        ]
        return sorted([*archived, *live], key=lambda item: item_index(item.task_id))

    async def _archived_items(self, task_id: str) -> list[TaskResult]:
        """A large for-each's ended items, kept in the blob store (none for another task)."""
        archive = await self._query(AgentRunWorkflow.item_archive, "item_archive", task_id)
        if archive is None or not archive.chunks:
            return []
        try:
            blobs = Blobs(open_store(self._client.settings.blob_location))
            return [item for chunk in archive.chunks for item in await read_chunk(blobs, chunk)]
        except (ValueError, ActionError) as error:
            raise BlobStoreError(str(error)) from None

    async def _query(self, query: Any, name: str, *args: Any) -> Any:
        """Ask the run a query; `RunNotFound`, or `WorkerUnavailable` when no worker answers."""
        try:
            return await self._handle.query(query, *args, rpc_timeout=CALL_TIMEOUT)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise RunNotFound(f"no run with id {self.workflow_id!r}") from None
            raise WorkerUnavailable(
                f"the run {self.workflow_id!r} did not answer the {name} query ({error}); "
                "is a worker running?"
            ) from None

    async def task_output(self, task_id: str) -> TaskResult:
        """A completed task with its whole output as the run holds it: parts kept in the blob
        store stay references (`core.blobs.BlobRef`). `NoOutput` for a task not in the plan or
        not completed."""
        if await self.is_running():
            task = await self._query_output(task_id)
            tasks = [task] if task is not None else (await self.status()).tasks
        else:
            tasks = (await self._last_state()).tasks
            task = next((t for t in tasks if t.task_id == task_id), None)
        if task is None:
            known = ", ".join(t.task_id for t in tasks) or "none"
            raise NoOutput(f"run {self.workflow_id} has no task {task_id!r} (its tasks: {known})")
        if task.status != TaskStatus.COMPLETED:
            reason = task.reason or (task.error.message if task.error else "")
            why = f": {reason}" if reason else ""
            raise NoOutput(f"task {task_id!r} has no output: it is {task.status.value}{why}")
        return task

    async def output(self, task_id: str) -> Any:
        """A completed task's whole output, with the parts kept in the blob store (BLOB_STORE)
        loaded and checked against their hash (`BlobStoreError` when that fails)."""
        return await load_output((await self.task_output(task_id)).output, self._client.settings)

    async def _query_output(self, task_id: str) -> TaskResult | None:
        try:
            return await self._handle.query(
                AgentRunWorkflow.output, task_id, rpc_timeout=CALL_TIMEOUT
            )
        except RPCError as error:
            raise WorkerUnavailable(
                f"the run {self.workflow_id!r} did not answer the output query ({error}); "
                "is a worker running?"
            ) from None

    async def _last_state(self) -> RunResult | RunState:
        """An ended run's result, or its last state when it has none (terminated)."""
        try:
            return await self.result()
        except RunResultUnavailable:
            return await self.status()

    async def metrics(self) -> RunReport:
        """The run's metrics (`core.metrics.RunReport`): from its state while it runs (running
        tasks measured until now), else from its result; a run without one (terminated) from
        its last state. Costs are estimated with the LLM_PRICES setting."""
        prices = self._client.settings.llm_prices
        if await self.is_running():
            return run_report(await self.status(), prices, now=datetime.now(UTC))
        try:
            return run_report(await self.result(), prices)
        except RunResultUnavailable:
            return run_report(await self.status(), prices)

    async def watch(self, interval: float = WATCH_INTERVAL_SECONDS) -> AsyncIterator[RunState]:
        """The run's state now, then after each of its events (those within `interval`
        seconds of each other: once), until the run ends. Driven by the run's events: nothing
        is asked of the run while nothing happens."""
        stream = WorkflowStreamClient.create(self._client.temporal, self.workflow_id)
        offset = await self._stream_offset(stream)
        state = await self.status()
        yield state
        if state.phase == Phase.FINISHED:
            return
        changed, ended = asyncio.Event(), asyncio.Event()

        async def follow() -> None:
            try:
                async for _ in self.events(offset):
                    changed.set()
            finally:
                ended.set()
                changed.set()

        follower = asyncio.create_task(follow())
        try:
            while not ended.is_set():
                await changed.wait()
                changed.clear()
                await asyncio.sleep(interval)  # the events that come together
                latest = await self.status()
                if latest != state:
                    state = latest
                    yield state
            await follower  # what reading the events raised, if anything
        finally:
            if not follower.done():
                follower.cancel()
                await asyncio.gather(follower, return_exceptions=True)

    async def events(self, from_offset: int = 0, *, follow: bool = True) -> AsyncIterator[Any]:
        """The run's typed events (`agentic.core.events`), each with its `offset` in the run's
        stream, from `from_offset` on: with `follow`, until the run ends (a reader that
        reconnects with the offset after the last one it saw misses none and sees none
        twice); without, those told so far."""
        stream = WorkflowStreamClient.create(self._client.temporal, self.workflow_id)
        until = None if follow else await self._stream_offset(stream)
        if until is not None and from_offset >= until:
            return
        try:
            async for item in stream.subscribe(EVENTS_TOPIC, from_offset):
                event = EVENT_ADAPTER.validate_python(item.data)
                yield event.model_copy(update={"offset": item.offset})
                if until is not None and item.offset + 1 >= until:
                    return
        except WorkflowQueryFailedError as error:
            raise WorkerUnavailable(
                f"run {self.workflow_id}'s events are read by a worker, and none answered "
                f"({error.message}): start one with 'python worker.py'"
            ) from None

    async def _stream_offset(self, stream: WorkflowStreamClient) -> int:
        """How many events the run has told."""
        try:
            return await stream.get_offset()
        except (RPCError, WorkflowQueryFailedError) as error:
            if isinstance(error, RPCError) and error.status == RPCStatusCode.NOT_FOUND:
                raise RunNotFound(
                    f"no run with id {self.workflow_id!r} (see 'python cli.py list')"
                ) from None
            raise WorkerUnavailable(
                f"run {self.workflow_id}'s events are read by a worker, and none answered "
                f"({getattr(error, 'message', error)}): start one with 'python worker.py'"
            ) from None

    async def approve(self, *, task: str | None = None, by: str = "", reason: str = "") -> None:
        """Approve the plan (approval mode `plan`), or one risky task waiting for approval."""
        await self._verdict(AgentRunWorkflow.approve, ApprovalSignal(by=by, reason=reason,
                                                                     task=task))  # fmt: skip

    async def reject(self, *, reason: str, task: str | None = None, by: str = "") -> None:
        """Reject the plan (the run ends as `rejected`), or skip one risky task."""
        await self._verdict(AgentRunWorkflow.reject, ApprovalSignal(by=by, reason=reason,
                                                                    task=task))  # fmt: skip

    async def cancel(self, *, reason: str = "", by: str = "") -> None:
        """Cancel the run (a Temporal cancellation): running tasks are cancelled, the result
        says which never ran, the execution ends as Canceled."""
        await self._ensure_running()
        await self._handle.cancel(reason=stop_reason(reason, by))

    async def terminate(self, *, reason: str, by: str = "") -> None:
        """Stop the run now, without cleanup (a Temporal termination; no result)."""
        await self._ensure_running()
        await self._handle.terminate(reason=stop_reason(reason, by))

    async def pause(self, *, reason: str = "", by: str = "") -> None:
        """Start no new task until `resume`; running tasks finish."""
        await self._ensure_running()
        await self._handle.signal(AgentRunWorkflow.pause, PauseSignal(by=by, reason=reason))

    async def resume(self, *, reason: str = "", by: str = "") -> None:
        """Schedule tasks again after `pause`."""
        await self._ensure_running()
        await self._handle.signal(AgentRunWorkflow.resume, PauseSignal(by=by, reason=reason))

    async def edit(
        self,
        *,
        plan: Plan | dict[str, Any] | None = None,
        task: str | None = None,
        config: dict[str, Any] | None = None,
        by: str = "",
    ) -> EditResult:
        """Before approving: replace the plan, or one task's config. Validated by the run
        (`EditRefused` with the reasons); a refused edit never reaches the history."""
        if isinstance(plan, Plan):
            plan = plan.model_dump(mode="json", by_alias=True)
        request = EditRequest(plan=plan, task=task, config=config, by=by)
        edited: EditResult = await self._update("edit", request, EditResult, EditRefused)
        return edited

    async def replan(self, hint: str, *, by: str = "") -> ReplanRecord:
        """Ask the planner to patch the running plan after `hint` (what should change). The
        patch applies before the run starts another task (in approval mode plan, once
        approved). `ReplanRefused` when the run refuses, or no patch that fits was written."""
        # The update waits for the planner's patch: as long as an LLM activity may take.
        timeout = timedelta(seconds=self._client.settings.llm_timeout_seconds * 3 + 30)
        request = ReplanRequest(hint=hint, by=by)
        record: ReplanRecord = await self._update(
            "replan", request, ReplanRecord, ReplanRefused, timeout
        )
        if record.status == "refused":
            raise ReplanRefused(f"no patch: {record.note}")
        return record

    async def rerun(
        self,
        *,
        from_tasks: Sequence[str] = (),
        failed: bool = False,
        configs: Mapping[str, dict[str, Any]] | None = None,
        plan: Plan | dict[str, Any] | None = None,
        options: RunOptions | None = None,
        workflow_id: str | None = None,
    ) -> tuple[RunHandle, list[str], list[str]]:
        """Run this ended run again as a new run: the named tasks (`from_tasks`), the failed
        ones (`failed`) and those whose config `configs` changes run again with everything
        downstream; every other task is taken as it was (its output, stored outputs by
        reference) and never runs. The new run's handle, the tasks it runs again and those it
        reuses. `RerunRefused` says why not (a run still going, an unknown task, a stored
        output that was cleaned up is run again instead)."""
        if await self.is_running():
            raise RerunRefused(f"run {self.workflow_id} is still going: wait for it to end (or "
                               "cancel it) before running it again")  # fmt: skip
        earlier = await self.result()
        base = Plan.model_validate(plan) if plan is not None else earlier.plan
        if base is None:
            raise RerunRefused(f"run {self.workflow_id} has no plan to run again")
        try:
            for task_id, config in (configs or {}).items():
                if task_id not in base.by_id:
                    raise ValueError(f"--config {task_id}: the plan has no such task")
                base = base.replace_task(base.by_id[task_id].with_config(config))
            changed = [task_id for task_id in configs or {}]
            if plan is not None and earlier.plan is not None:
                changed += _changed_tasks(earlier.plan, base)
            tasks = {task.task_id: task for task in earlier.tasks}
            chosen = await reruns.pick(self, base, tasks, from_tasks, failed, changed)
        except ValueError as error:
            raise RerunRefused(str(error)) from None
        # A request whose config did not change gets the idempotency key it had there.
        scoped = (options or RunOptions()).model_copy(
            update={"idempotency_scope": await self._key_scope()}
        )
        handle = await self._client.start(
            plan=base, options=scoped, workflow_id=workflow_id, rerun_of=self.workflow_id,
            reused=chosen.reused, rerun_children=chosen.children, resume_loops=chosen.loops,
        )  # fmt: skip
        return handle, chosen.again, chosen.reused_names

    async def _key_scope(self) -> str:
        """The run id this run's idempotency keys were made from: its own, or the scope it
        was given (a rerun's is the run it ran again's)."""
        run_id = (await self._handle.describe()).run_id or ""
        async for event in self._handle.fetch_history_events():
            started = event.workflow_execution_started_event_attributes
            converter = self._client.temporal.data_converter
            [run_input] = await converter.decode(started.input.payloads, [RunInput])
            return run_input.options.idempotency_scope or run_id
        return run_id

    async def _item_results(self, task_id: str) -> list[TaskResult]:
        """A for-each's items with their whole outputs (stored parts as references), the
        archived ones read from the blob store."""
        live: list[TaskResult] = await self._query(
            AgentRunWorkflow.item_results, "item_results", task_id
        )
        archived = await self._archived_items(task_id)
        return sorted([*archived, *live], key=lambda item: item_index(item.task_id))

    async def _output_kept(self, task: TaskResult) -> bool:
        """Whether a task's output can still be read (its parts in the blob store too)."""
        if not holds_blobs(task.output):
            return True
        try:
            await load_output(task.output, self._client.settings)
        except BlobStoreError:
            return False
        return True

    async def answer(self, task: str, value: Any, *, by: str = "") -> AnswerRecord:
        """Answer the question an `ask` task waits on (an item's: `orders[3]`; a sub-plan's
        child run's: `sub.pick`): `value` is the task's output. `AnswerRefused` when the task
        asks nothing now, or `value` does not match the question's schema (the schema's
        error); the run keeps waiting."""
        if "." in task:  # `sub.pick`: task pick of sub's child run
            head, rest = task.split(".", 1)
            if not head or not rest:
                raise AnswerRefused(
                    f"task {task!r}: a question of a sub-plan is named by the sub_plan task "
                    "and its own id, with a dot between (sub.pick)"
                )
            return await (await self.child(head)).answer(rest, value, by=by)
        request = AnswerRequest(task=task, value=value, by=by)
        record: AnswerRecord = await self._update("answer", request, AnswerRecord, AnswerRefused)
        return record

    async def _update(
        self,
        name: str,
        request: Any,
        result_type: type,
        refused: type[AgenticError],
        timeout: timedelta = CALL_TIMEOUT,
    ) -> Any:
        """Run the workflow's update `name`; `refused` (with the run's reason) when its
        validator or handler refuses it, `WorkerUnavailable` when no worker answers in time."""
        await self._ensure_running()
        try:
            return await self._handle.execute_update(
                name, request, result_type=result_type, rpc_timeout=timeout
            )
        except WorkflowUpdateFailedError as error:
            reason = getattr(error.cause, "message", None) or error.cause or error
            raise refused(f"{name} refused: {reason}") from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise WorkerUnavailable(
                f"no worker answered the {name} of {self.workflow_id} in "
                f"{timeout.total_seconds():g}s; is one running? The server keeps the {name}, "
                f"and a worker that starts may still take it: 'status {self.workflow_id}' "
                "shows whether it did"
            ) from None

    async def _ensure_running(self) -> None:
        if not await self.is_running():
            description = await self._handle.describe()
            ended = description.status.name.lower() if description.status else "closed"
            raise RunEnded(f"run {self.workflow_id} has already ended ({ended})")

    async def _verdict(self, signal: Any, verdict: ApprovalSignal) -> None:
        await self._ensure_running()
        if verdict.task and "." in verdict.task:  # `sub.fetch`: task fetch of sub's child run
            if not all(verdict.task.split(".")):
                raise NotWaiting(
                    f"task {verdict.task!r}: a task of a sub-plan is named by the sub_plan "
                    "task and its own id, with a dot between (sub.fetch)"
                )
            head, rest = verdict.task.split(".", 1)
            child = await self.child(head)
            await child._verdict(signal, verdict.model_copy(update={"task": rest}))
            return
        state = await self._query_state()
        parent = parent_of(verdict.task) if verdict.task else None
        if parent is not None:  # a for-each's item: among that task's items
            state = state.model_copy(update={"tasks": await self.items(parent)})
        task = next((t for t in state.tasks if t.task_id == verdict.task), None)
        if task is not None and task.child_run_id and task.status == TaskStatus.RUNNING:
            # a sub-plan: the verdict is on its child's plan (which says if it waits for one)
            child = await self._client.get(task.child_run_id)
            await child._verdict(signal, verdict.model_copy(update={"task": None}))
            return
        _check_waiting(state, verdict.task)
        await self._handle.signal(signal, verdict)

    async def _cancelled_result(self) -> RunResult:
        """A canceled execution carries no result: a worker reads it from the history."""
        try:
            answered = await self._handle.query(AgentRunWorkflow.result, rpc_timeout=CALL_TIMEOUT)
        except RPCError as error:
            raise RunResultUnavailable(
                f"run {self.workflow_id} was cancelled; its result is read by a worker, and none "
                f"answered ({error.message}): start one with 'python worker.py'"
            ) from error
        if answered is None:
            raise RunResultUnavailable(f"run {self.workflow_id} was cancelled before a result")
        return answered


async def load_output(value: Any, settings: Settings) -> Any:
    """An output with its parts kept in the blob store loaded (nothing to load: as it is)."""
    if not holds_blobs(value):
        return value
    try:
        return await Blobs(open_store(settings.blob_location)).load(value)
    except (ValueError, ActionError) as error:
        raise BlobStoreError(str(error)) from None


def stop_reason(reason: str, by: str) -> str:
    """The reason recorded with a cancellation or a termination: why, and who asked."""
    who = f"by {by}" if by else ""
    return f"{reason} ({who})" if reason and who else reason or who


CONTINUED_AS_NEW = "ContinuedAsNew"


def list_filter_for(
    status: AgentStatus | str | None,
    goal_words: str | None,
    list_filter: str | None,
    schedule: str | None = None,
) -> str:
    """The List Filter for `list`: our workflow type, a status, goal words, the schedule that
    started the runs, the user's filter. A run that continued as new is one run, its latest
    history, unless the user's filter asks of execution statuses itself."""
    clauses = [f"WorkflowType = '{WORKFLOW_NAME}'"]
    if "executionstatus" not in (list_filter or "").lower():
        clauses.append(f"ExecutionStatus != '{CONTINUED_AS_NEW}'")
    if schedule:
        name = schedule.replace("'", " ").replace("\\", " ")
        clauses.append(f"TemporalScheduledById = '{name}'")
    if status:
        status = AgentStatus(status)
        clauses.append(f"{STATUS.name} = '{status.value}'")
        if status in IN_PROGRESS:  # a terminated run never updated its AgentStatus
            clauses.append("ExecutionStatus = 'Running'")
    if goal_words:
        words = goal_words.replace("'", " ").replace("\\", " ")
        clauses.append(f"{GOAL.name} = '{words}'")
    if list_filter:
        clauses.append(f"({list_filter})")
    return " AND ".join(clauses)


def _filter_refused(error: RPCError, list_filter: str) -> Exception:
    """A List Filter the server refused as InvalidQuery; any other RPC error as it is."""
    if error.status != RPCStatusCode.INVALID_ARGUMENT:
        return error
    return InvalidQuery(f"the server refused the List Filter {list_filter!r}: {error.message}")


def _changed_tasks(before: Plan, after: Plan) -> list[str]:
    """The tasks of `after` whose config or dependencies differ from `before`'s."""
    return [
        task.id for task in after.tasks
        if task.id not in before.by_id
        or before.by_id[task.id].model_dump(mode="json") != task.model_dump(mode="json")
    ]  # fmt: skip


def _run_input(
    goal: str | None,
    plan: Plan | dict[str, Any] | None,
    options: RunOptions,
    params: Mapping[str, Any] | None = None,
    templates: Callable[[str], Plan] | None = None,
) -> RunInput:
    try:
        run_input = RunInput.model_validate({"goal": goal, "plan": plan, "options": options})
    except ValidationError as error:
        raise InvalidPlan(format_validation_error(error)) from None
    if run_input.plan is None:
        if params:
            raise InvalidPlan("params are for a plan (a template), not a goal")
        return run_input
    try:
        bound = run_input.plan.with_params(params)
        if templates is not None:  # the sub-plans that name a template get its plan
            bound = with_templates(bound, templates)
    except ValueError as error:
        raise InvalidPlan(str(error)) from None
    run_input = run_input.model_copy(update={"plan": bound})
    over = plan_over_budget(bound, options)
    if over:
        raise InvalidPlan(over.replace("budget reached: ", "") + "; raise it with max_tasks")
    refused = plan_refusals(bound, options.max_depth)
    if refused:
        raise InvalidPlan("; ".join(refused))
    return run_input


async def _summary_with_memo(execution: WorkflowExecution) -> RunSummary:
    """The run's summary with what its memo adds: its cost, and for a run that continued as
    new, when its first history started (the execution listed is its last)."""
    summary = _summary(execution)
    try:
        memo = await execution.memo()
    except Exception:  # a memo this client cannot read (encrypted with keys it does not have)
        return summary
    update: dict[str, Any] = {}
    if memo.get("cost_usd"):
        update["cost_usd"] = memo["cost_usd"]
    started = _memo_time(memo.get("started_at"))
    if started is not None:
        update["started"] = started
    return summary.model_copy(update=update) if update else summary


def _memo_time(value: Any) -> datetime | None:
    """A time the workflow wrote in its memo (ISO 8601, UTC when it names no zone); None for
    anything else, so that one odd memo never fails a whole list."""
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


def _summary(execution: WorkflowExecution) -> RunSummary:
    attributes = execution.typed_search_attributes
    status = attributes.get(STATUS) or ""
    if execution.status not in SELF_REPORTED or not status:
        status = execution.status.name.lower() if execution.status else status
    return RunSummary(
        workflow_id=execution.id,
        status=status,
        goal=attributes.get(GOAL) or "",
        tasks=attributes.get(TASK_COUNT),
        started=execution.start_time,
        closed=execution.close_time,
    )


def _check_waiting(state: RunState, task_id: str | None) -> None:
    """Raise `NotWaiting` unless the plan (no task) or the task can take a verdict now."""
    waiting = [t.task_id for t in state.tasks if t.status == TaskStatus.WAITING_APPROVAL]
    if task_id is None:
        patch_waits = any(record.status == "awaiting_approval" for record in state.replans)
        if state.phase == Phase.AWAITING_APPROVAL or patch_waits:
            return
        hint = f"; tasks waiting: {', '.join(waiting)} (use --task)" if waiting else ""
        raise NotWaiting(f"run {state.workflow_id} is not waiting for plan (or patch) approval "
                         f"(phase: {state.phase.value}){hint}")  # fmt: skip
    task = next((t for t in state.tasks if t.task_id == task_id), None)
    if task is None:
        raise NotWaiting(f"run {state.workflow_id} has no task {task_id!r}")
    if task.status != TaskStatus.WAITING_APPROVAL:
        raise NotWaiting(f"task {task_id!r} is {task.status.value}, not waiting for approval")


def _ended_how(cause: BaseException | None) -> str:
    why = getattr(cause, "message", "") or str(cause)
    if isinstance(cause, TerminatedError):
        return f"was terminated ({why})"
    if isinstance(cause, TemporalTimeout):
        return "timed out"
    return f"failed ({why})"
