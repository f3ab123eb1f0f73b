"""A run's typed events, and how they are found: the workflow marks what it holds after each
step (a `Mark`: every task's status, attempts, approver and answerer, and the counts of
decisions, verdicts and LLM calls) and the events are what changed between two marks. Pure
data and pure functions: the workflow publishes the events on its stream (Temporal's workflow
streams), the client reads them back as these models."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from agentic.core.foreach import parent_of
from agentic.core.messages import (
    FINISHED_TASK_STATUSES,
    DecisionRecord,
    LLMCall,
    Phase,
    ReplanRecord,
    RunStatus,
    TaskResult,
    TaskStatus,
)

TOPIC = "events"
# A for-each's progress is told at most this often (each item's end would be one event).
PROGRESS_EVERY_SECONDS = 1.0


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime
    offset: int = Field(
        -1,
        exclude_if=lambda value: value < 0,
        description="the event's place in the run's stream (set when read)",
    )

    def line(self) -> str:
        """The event in one line, for people."""
        raise NotImplementedError


class PlanCreated(_Event):
    kind: Literal["plan_created"] = "plan_created"
    tasks: list[str]

    def line(self) -> str:
        return f"plan created: {len(self.tasks)} tasks ({', '.join(self.tasks[:8])}" + (
            ", ...)" if len(self.tasks) > 8 else ")"
        )


class TaskPlanned(_Event):
    kind: Literal["task_planned"] = "task_planned"
    task: str
    action_type: str = ""

    def line(self) -> str:
        return f"{self.task} planned ({self.action_type}), while the plan streams in"


class PlanWaitingApproval(_Event):
    kind: Literal["plan_waiting_approval"] = "plan_waiting_approval"
    replan: int = Field(0, description="the replan whose patch waits (0: the plan itself)")

    def line(self) -> str:
        what = f"replan {self.replan}" if self.replan else "the plan"
        return f"{what} waits for approval"


class PlanPatched(_Event):
    kind: Literal["plan_patched"] = "plan_patched"
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    reason: str = ""

    def line(self) -> str:
        changes = [f"adds {', '.join(self.added)}"] if self.added else []
        changes += [f"removes {', '.join(self.removed)}"] if self.removed else []
        why = f": {self.reason}" if self.reason else ""
        return f"plan patched: {'; '.join(changes) or 'no task changed'}{why}"


class TaskStarted(_Event):
    kind: Literal["task_started"] = "task_started"
    task: str
    attempt: int = 1

    def line(self) -> str:
        return f"{self.task} started"


class TaskRetried(_Event):
    kind: Literal["task_retried"] = "task_retried"
    task: str
    attempt: int

    def line(self) -> str:
        return f"{self.task} runs again (attempt {self.attempt})"


class TaskCompleted(_Event):
    kind: Literal["task_completed"] = "task_completed"
    task: str
    summary: str = ""
    seconds: float | None = None
    items: dict[str, int] | None = None

    def line(self) -> str:
        took = f" in {self.seconds:.1f}s" if self.seconds is not None else ""
        return f"{self.task} completed{took}" + (f": {self.summary}" if self.summary else "")


class TaskFailed(_Event):
    kind: Literal["task_failed"] = "task_failed"
    task: str
    error: str = ""
    error_type: str = ""

    def line(self) -> str:
        return f"{self.task} failed: {self.error_type}: {self.error}"


class TaskSkipped(_Event):
    kind: Literal["task_skipped"] = "task_skipped"
    task: str
    reason: str = ""

    def line(self) -> str:
        return f"{self.task} skipped: {self.reason}"


class TaskCancelled(_Event):
    kind: Literal["task_cancelled"] = "task_cancelled"
    task: str
    reason: str = ""

    def line(self) -> str:
        return f"{self.task} cancelled" + (f": {self.reason}" if self.reason else "")


class TaskWaitingApproval(_Event):
    kind: Literal["task_waiting_approval"] = "task_waiting_approval"
    task: str
    risk: str = ""

    def line(self) -> str:
        return f"{self.task} waits for approval: {self.risk}"


class TaskAsking(_Event):
    kind: Literal["task_asking"] = "task_asking"
    task: str
    question: str

    def line(self) -> str:
        return f"{self.task} asks: {self.question}"


class TaskProgress(_Event):
    kind: Literal["task_progress"] = "task_progress"
    task: str
    items: dict[str, int]

    def line(self) -> str:
        counts = ", ".join(f"{count} {status}" for status, count in self.items.items())
        return f"{self.task} items: {counts}"


class DecisionMade(_Event):
    kind: Literal["decision_made"] = "decision_made"
    task: str
    action: str
    source: str = "analyst"
    reason: str = ""

    def line(self) -> str:
        return f"{self.task}: the {self.source} decided {self.action}: {self.reason}"


class ApprovalGiven(_Event):
    kind: Literal["approval_given"] = "approval_given"
    task: str = Field("", description="the task approved or rejected ('' for the plan)")
    approved: bool = True
    by: str = ""
    reason: str = ""

    def line(self) -> str:
        what = self.task or "the plan"
        verdict = "approved" if self.approved else "rejected"
        why = f": {self.reason}" if self.reason else ""
        return f"{what} {verdict} by {self.by or 'someone'}{why}"


class Edited(_Event):
    kind: Literal["edited"] = "edited"
    task: str = Field("", description="the task whose config was edited ('' for the plan)")
    by: str = ""

    def line(self) -> str:
        what = f"{self.task}'s config" if self.task else "the plan"
        return f"{what} edited by {self.by or 'someone'}"


class AnswerGiven(_Event):
    kind: Literal["answer_given"] = "answer_given"
    task: str
    by: str = ""

    def line(self) -> str:
        return f"{self.task} answered by {self.by or 'someone'}"


class TokensUsed(_Event):
    kind: Literal["tokens_used"] = "tokens_used"
    purpose: str
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    task: str = Field("", description="the task the call was about (the analyst's)")

    def line(self) -> str:
        cost = f", ${self.cost_usd:.4f}" if self.cost_usd is not None else ""
        about = f" about {self.task}" if self.task else ""
        return (
            f"LLM {self.purpose}{about} ({self.model}): {self.prompt_tokens} prompt + "
            f"{self.completion_tokens} completion tokens{cost}"
        )


class RunPaused(_Event):
    kind: Literal["run_paused"] = "run_paused"
    by: str = ""

    def line(self) -> str:
        return f"paused by {self.by or 'someone'}"


class RunResumed(_Event):
    kind: Literal["run_resumed"] = "run_resumed"

    def line(self) -> str:
        return "resumed"


class RunEnded(_Event):
    kind: Literal["run_ended"] = "run_ended"
    status: str
    error: str | None = None
    answered: bool = False

    def line(self) -> str:
        return f"run {self.status}" + (f": {self.error}" if self.error else "")


EVENT_MODELS = (
    PlanCreated, TaskPlanned, PlanWaitingApproval, PlanPatched, TaskStarted, TaskRetried,
    TaskCompleted, TaskFailed, TaskSkipped, TaskCancelled, TaskWaitingApproval, TaskAsking,
    TaskProgress, DecisionMade, ApprovalGiven, Edited, AnswerGiven, TokensUsed, RunPaused,
    RunResumed, RunEnded,
)  # fmt: skip
RunEvent = Annotated[
    PlanCreated | TaskPlanned | PlanWaitingApproval | PlanPatched | TaskStarted | TaskRetried
    | TaskCompleted | TaskFailed | TaskSkipped | TaskCancelled | TaskWaitingApproval
    | TaskAsking | TaskProgress | DecisionMade | ApprovalGiven | Edited | AnswerGiven | TokensUsed
    | RunPaused | RunResumed | RunEnded,
    Field(discriminator="kind"),
]  # fmt: skip
EVENT_ADAPTER: TypeAdapter[RunEvent] = TypeAdapter(RunEvent)
EVENT_KINDS = sorted(model.model_fields["kind"].default for model in EVENT_MODELS)


@dataclass(frozen=True)
class Verdict:
    """An approval or rejection the run took (of the plan when `task` is None)."""

    approved: bool
    by: str
    reason: str
    task: str | None


@dataclass(frozen=True)
class Edit:
    """A person's edit of the plan (`task` None) or of a task's config."""

    by: str
    task: str | None


@dataclass(frozen=True)
class RunView:
    """What the workflow holds now, as the events are read from it (no copies)."""

    phase: Phase
    status: RunStatus | None
    error: str | None
    plan_tasks: Sequence[str]
    tasks: Mapping[str, TaskResult]
    decisions: Sequence[DecisionRecord]
    verdicts: Sequence[Verdict]
    llm_calls: Sequence[LLMCall]
    replans: Sequence[ReplanRecord]
    patch_waiting: int
    streaming: bool
    paused_by: str | None
    answered: bool
    item_counts: Callable[[str], dict[str, int] | None]
    edits: Sequence[Edit] = ()
    # The events as told since the patch events-told-v2: a task taken to run is told started
    # when its action starts, not when it takes its slot; a for-each's attempts (its items')
    # are no retry. False: as runs recorded before were told (their followers' long-poll
    # Updates completed on those events, so replays need them); the workflow leaves out their
    # edits too.
    events_v2: bool = True


TaskMark = tuple[TaskStatus, int, str]


class TaskTable(dict[str, TaskResult]):
    """The run's tasks and items by id, noting which of them changed what their events say (put,
    removed, or their status, attempts or answerer set) since the events were last told: a
    for-each of 10,000 items looks at the items that changed after each step, not at all."""

    def __init__(self, tasks: Mapping[str, TaskResult] | None = None) -> None:
        super().__init__()
        self.touched: dict[str, None] = {}  # a set that keeps the order tasks changed in
        for task_id, task in (tasks or {}).items():
            self[task_id] = task

    def touch(self, task_id: str) -> None:
        self.touched[task_id] = None

    def take_touched(self) -> list[str]:
        """The tasks touched since the last take."""
        touched, self.touched = list(self.touched), {}
        return touched

    def __setitem__(self, task_id: str, task: TaskResult) -> None:
        super().__setitem__(task_id, task)
        task._on_change = self.touch
        self.touch(task_id)

    def __delitem__(self, task_id: str) -> None:
        super().__delitem__(task_id)
        self.touch(task_id)

    def pop(self, task_id: str, *default: Any) -> Any:
        if task_id in self:
            self.touch(task_id)
        return super().pop(task_id, *default)

    def setdefault(self, task_id: str, default: TaskResult) -> TaskResult:
        if task_id not in self:
            self[task_id] = default
        return self[task_id]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for task_id, task in dict(*args, **kwargs).items():
            self[task_id] = task

    def __ior__(self, other: Any) -> Self:  # type: ignore[override,misc]
        self.update(other)
        return self

    def copy(self) -> dict[str, TaskResult]:
        """A plain dict of the same tasks (a second table would take their hooks)."""
        return dict(self)

    def popitem(self) -> tuple[str, TaskResult]:
        task_id, task = super().popitem()
        self.touch(task_id)
        return task_id, task

    def clear(self) -> None:
        for task_id in self:
            self.touch(task_id)
        super().clear()


@dataclass(frozen=True)
class Mark:
    """What the events so far have told: compared with the run's view after each step."""

    plan_tasks: tuple[str, ...] = ()
    phase: Phase = Phase.PLANNING
    status: RunStatus | None = None
    tasks: dict[str, TaskMark] = field(default_factory=dict)
    decisions: int = 0
    verdicts: int = 0
    llm_calls: int = 0
    patch_waiting: int = 0
    streaming: bool = False
    paused: bool = False
    edits: int = 0


def mark(view: RunView, running: Collection[str] = ()) -> Mark:
    """The view's mark; the tasks in `running` marked as told running (a for-each or a loop a
    continued run takes up, told started in an earlier history)."""
    marked = advance(Mark(), view, None)
    for task_id in running:
        _, attempts, answered_by = marked.tasks[task_id]
        marked.tasks[task_id] = (TaskStatus.RUNNING, attempts, answered_by)
    return marked


def advance(before: Mark, view: RunView, touched: Collection[str] | None) -> Mark:
    """The view's mark, from the one before and the tasks touched since (None: any task may have
    changed). The task marks are updated in place: the mark before is spent."""
    v2 = view.events_v2
    if touched is None:
        tasks = {task_id: _task_mark(task, v2) for task_id, task in view.tasks.items()}
    else:
        tasks = before.tasks
        for task_id in touched:
            task = view.tasks.get(task_id)
            if task is None:
                tasks.pop(task_id, None)
            else:
                tasks[task_id] = _task_mark(task, v2)
    return _run_mark(view, tasks)


def run_unchanged(before: Mark, view: RunView) -> bool:
    """Whether all but the view's tasks is as marked."""
    return _run_mark(view, before.tasks) == before


def _run_mark(view: RunView, tasks: dict[str, TaskMark]) -> Mark:
    """The view's mark, with these task marks."""
    return Mark(
        plan_tasks=tuple(view.plan_tasks),
        phase=view.phase,
        status=view.status,
        tasks=tasks,
        decisions=len(view.decisions),
        verdicts=len(view.verdicts),
        llm_calls=len(view.llm_calls),
        patch_waiting=view.patch_waiting,
        streaming=view.streaming,
        paused=view.paused_by is not None,
        edits=len(view.edits),
    )


def _task_mark(task: TaskResult, v2: bool) -> TaskMark:
    return _told_status(task, v2), task.attempts, task.answered_by


def _told_status(task: TaskResult, v2: bool) -> TaskStatus:
    """The task's status as the events tell it: a task taken to run holds its slot as running
    while its condition and its risk are looked at, but has not started until its action
    does (a risky task would otherwise be told started, then waiting for approval)."""
    if v2 and task.status == TaskStatus.RUNNING and task.started_at is None:
        return TaskStatus.PENDING
    return task.status


@dataclass
class Progress:
    """The last item counts told of each for-each, and when."""

    told: dict[str, tuple[dict[str, int], datetime]] = field(default_factory=dict)

    def too_soon(self, task_id: str, now: datetime) -> bool:
        """Whether the for-each's counts were told less than PROGRESS_EVERY_SECONDS ago."""
        last = self.told.get(task_id)
        return last is not None and (now - last[1]).total_seconds() < PROGRESS_EVERY_SECONDS

    def due(self, task_id: str, counts: dict[str, int], now: datetime) -> bool:
        """Whether to tell these counts now, not too_soon (they changed since the last)."""
        last = self.told.get(task_id)
        if last is not None and last[0] == counts:
            return False
        self.told[task_id] = (counts, now)
        return True


def changes(
    before: Mark,
    view: RunView,
    now: datetime,
    progress: Progress,
    touched: Collection[str] | None = None,
) -> list[Any]:
    """The events between `before` and the view, in the order they happened where it is known
    (the plan, then each task, then decisions, verdicts and LLM calls, then the run's end).
    `touched`: the only tasks that may have changed since `before` (None: any of them)."""
    events: list[Any] = [*_plan_events(before, view, now)]
    task_ids = list(view.tasks) if touched is None else touched
    for task_id in task_ids:
        task = view.tasks.get(task_id)
        if task is not None:
            events += _task_events(
                before.tasks.get(task_id), task, now, view.item_counts, view.events_v2
            )
    events += _progress_events(before, view, task_ids, now, progress)
    events += [_decision(record, now) for record in view.decisions[before.decisions :]]
    events += [_verdict(verdict, now) for verdict in view.verdicts[before.verdicts :]]
    events += [
        Edited(at=now, task=edit.task or "", by=edit.by) for edit in view.edits[before.edits :]
    ]
    events += [_tokens(call, now) for call in view.llm_calls[before.llm_calls :]]
    if (view.paused_by is not None) != before.paused:
        events.append(RunPaused(at=now, by=view.paused_by or "") if view.paused_by is not None
                      else RunResumed(at=now))  # fmt: skip
    if view.status is not None and before.status is None:
        events.append(RunEnded(at=now, status=view.status.value, error=view.error,
                               answered=view.answered))  # fmt: skip
    return events


def _plan_events(before: Mark, view: RunView, now: datetime) -> list[Any]:
    events: list[Any] = []
    plan = tuple(view.plan_tasks)
    if view.streaming:
        events += [
            TaskPlanned(at=now, task=task_id, action_type=view.tasks[task_id].action_type)
            for task_id in plan if task_id not in before.plan_tasks and task_id in view.tasks
        ]  # fmt: skip
    elif plan and (not before.plan_tasks or before.streaming):
        events.append(PlanCreated(at=now, tasks=list(plan)))
    elif plan != before.plan_tasks and plan:
        applied = [record for record in view.replans if record.status == "applied"]
        events.append(PlanPatched(
            at=now,
            added=[task for task in plan if task not in before.plan_tasks],
            removed=[task for task in before.plan_tasks if task not in plan],
            reason=applied[-1].reason if applied else "",
        ))  # fmt: skip
    if view.phase == Phase.AWAITING_APPROVAL and before.phase != Phase.AWAITING_APPROVAL:
        events.append(PlanWaitingApproval(at=now))
    if view.patch_waiting and view.patch_waiting != before.patch_waiting:
        events.append(PlanWaitingApproval(at=now, replan=view.patch_waiting))
    return events


def _task_events(
    before: TaskMark | None,
    task: TaskResult,
    now: datetime,
    item_counts: Callable[[str], dict[str, int] | None],
    v2: bool,
) -> list[Any]:
    """A task's (or an item's) events since its mark: an item tells only what a person may
    act on (waiting, asking, failing) and who answered it."""
    status, attempts, answered_by = before or (TaskStatus.PENDING, 0, "")
    if task.reused_from and before is None:  # a rerun takes it as it was: it never runs
        summary = f"reused from {task.reused_from}"
        return [TaskCompleted(at=now, task=task.task_id, summary=summary)]
    is_item = parent_of(task.task_id) is not None
    events: list[Any] = []
    events += _answer(task, answered_by, now)
    told = _told_status(task, v2)
    if told == status and task.attempts == attempts:
        return events
    if told == TaskStatus.RUNNING and not is_item:
        # A for-each's attempts are its items' (summed as it ends): no retry of its own.
        more_attempts = task.attempts > attempts and not (v2 and task.items is not None)
        if status in (TaskStatus.ANALYZING, TaskStatus.FAILED) or (
            status == TaskStatus.RUNNING and more_attempts
        ):
            events.append(TaskRetried(at=now, task=task.task_id, attempt=task.attempts + 1))
        elif status != TaskStatus.RUNNING:
            events.append(TaskStarted(at=now, task=task.task_id, attempt=task.attempts or 1))
    elif told != status:
        if (
            status in (TaskStatus.PENDING, TaskStatus.WAITING_APPROVAL)
            and not is_item
            and (task.status in (TaskStatus.COMPLETED, TaskStatus.FAILED))
        ):  # started and ended between two marks
            events.append(TaskStarted(at=now, task=task.task_id, attempt=1))
        events += _status_event(task, is_item, now, item_counts)
    return events


def _status_event(
    task: TaskResult,
    is_item: bool,
    now: datetime,
    item_counts: Callable[[str], dict[str, int] | None],
) -> list[Any]:
    status, task_id = task.status, task.task_id
    if status == TaskStatus.WAITING_APPROVAL:
        return [TaskWaitingApproval(at=now, task=task_id, risk=task.risk)]
    if status == TaskStatus.WAITING_ANSWER:
        return [TaskAsking(at=now, task=task_id, question=task.question)]
    if status == TaskStatus.FAILED:
        error, error_type = (task.error.message, task.error.error_type) if task.error else (
            task.reason, "")  # fmt: skip
        return [TaskFailed(at=now, task=task_id, error=error, error_type=error_type)]
    if is_item:
        return []
    if status == TaskStatus.COMPLETED:
        summary, seconds = task.output_summary, task.duration_seconds
        items = item_counts(task_id)
        return [TaskCompleted(at=now, task=task_id, summary=summary, seconds=seconds, items=items)]
    if status == TaskStatus.SKIPPED:
        return [TaskSkipped(at=now, task=task_id, reason=task.reason)]
    if status == TaskStatus.CANCELLED:
        return [TaskCancelled(at=now, task=task_id, reason=task.reason)]
    return []


def _answer(task: TaskResult, answered_by: str, now: datetime) -> list[Any]:
    if task.answered_by and not answered_by:
        return [AnswerGiven(at=now, task=task.task_id, by=task.answered_by)]
    return []


def _progress_events(
    before: Mark, view: RunView, task_ids: Collection[str], now: datetime, progress: Progress
) -> list[Any]:
    changed = set()
    for task_id in task_ids:
        parent, task = parent_of(task_id), view.tasks.get(task_id)
        if parent is not None and task is not None and _status_changed(before, task, view):
            changed.add(parent)
    events: list[Any] = []
    for task_id in view.plan_tasks:
        ended = task_id in view.tasks and view.tasks[task_id].status in FINISHED_TASK_STATUSES
        if task_id not in changed or ended:  # an ended for-each's counts are in its own event
            continue
        if progress.too_soon(task_id, now):  # counting 10,000 items after each step is costly
            continue
        counts = view.item_counts(task_id)
        if counts and progress.due(task_id, counts, now):
            events.append(TaskProgress(at=now, task=task_id, items=counts))
    return events


def _status_changed(before: Mark, task: TaskResult, view: RunView) -> bool:
    told = _told_status(task, view.events_v2)
    return before.tasks.get(task.task_id, (None,))[0] != told


def _decision(record: DecisionRecord, now: datetime) -> DecisionMade:
    return DecisionMade(
        at=now, task=record.task_id, action=record.applied, source=record.source,
        reason=record.decision.reason,
    )  # fmt: skip


def _verdict(verdict: Verdict, now: datetime) -> ApprovalGiven:
    return ApprovalGiven(
        at=now, task=verdict.task or "", approved=verdict.approved, by=verdict.by,
        reason=verdict.reason,
    )  # fmt: skip


def _tokens(call: LLMCall, now: datetime) -> TokensUsed:
    return TokensUsed(
        at=now, purpose=call.purpose, model=call.model, prompt_tokens=call.prompt_tokens,
        completion_tokens=call.completion_tokens, cost_usd=call.cost_usd, task=call.task,
    )  # fmt: skip
