"""Typed data that crosses the workflow boundary: run input and options, decisions, results.

These models are stored in Temporal's history: add optional fields with defaults, never rename.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from temporalio.contrib.workflow_streams import WorkflowStreamState
from temporalio.exceptions import ApplicationError

from agentic.core.errors import ErrorType
from agentic.core.network import parse_rules
from agentic.core.plan import Plan, Task

ApprovalMode = Literal["none", "plan", "risky"]
DecisionAction = Literal["retry", "modify", "skip", "fail_workflow", "replan"]
JoinerMode = Literal["auto", "on", "off"]
ReplanSource = Literal["joiner", "analyst", "person"]
ReplanStatus = Literal["proposed", "awaiting_approval", "applied", "rejected", "refused"]


class RunOptions(BaseModel):
    """How a run behaves: retries, parallelism, approval, and the bounds on failure analysis."""

    max_retries: int = Field(3, ge=0, le=50, description="retries per task after the first try")
    max_parallel: int = Field(
        32, ge=1, le=256, description="tasks running at the same time, whatever they call"
    )
    max_parallel_per_host: int | None = Field(
        16,
        ge=1,
        le=256,
        description="tasks calling the same host (api_call, poll) running at the same time; "
        "None: only max_parallel",
    )
    approval: ApprovalMode = Field(
        "risky", description="none: autonomous; plan: approve the plan; risky: each risky task"
    )
    approval_timeout_seconds: float = Field(
        24 * 3600,
        gt=0,
        le=366 * 24 * 3600,
        allow_inf_nan=False,
        description="an approval not given within this is a rejection",
    )
    retry_initial_seconds: float = Field(0.5, gt=0, le=3600, allow_inf_nan=False)
    retry_backoff: float = Field(2.0, ge=1.0, le=100, allow_inf_nan=False)
    retry_max_interval_seconds: float = Field(30.0, gt=0, le=24 * 3600, allow_inf_nan=False)
    task_timeout_seconds: float | None = Field(
        None,
        gt=0,
        le=30 * 24 * 3600,
        allow_inf_nan=False,
        description="start-to-close timeout per attempt; default: the action's own",
    )
    heartbeat_timeout_seconds: float = Field(
        2.0,
        ge=1,
        le=600,
        allow_inf_nan=False,
        description="an action (or LLM call) whose worker sends no heartbeat for this long is "
        "retried on another worker: shorter recovers faster from a dead worker, but a worker "
        "or a server too busy to record its heartbeats in time is taken for a dead one (see the "
        "README's Speed notes)",
    )
    analyze_failures: bool = True
    max_analyses_per_task: int = Field(3, ge=0)
    max_analyses_per_run: int = Field(10, ge=0)
    llm_timeout_seconds: float = Field(
        3600.0,
        gt=0,
        le=24 * 3600,
        allow_inf_nan=False,
        description="the longest an LLM request may take (the worker's LLM_TIMEOUT_SECONDS, or "
        "more); an LLM activity may take three times that",
    )
    llm_max_attempts: int = Field(5, ge=1, description="attempts of each planning or analysis")
    llm_action_types: list[str] = Field(
        default_factory=list,
        description="the action types a plan written by the LLM may use (empty: every one)",
    )
    max_tasks: int = Field(200, ge=1, le=100_000, description="tasks a plan may have")
    max_items: int = Field(
        10_000,
        ge=1,
        le=1_000_000,
        description="items a for-each may have, and rounds a loop may run (its repeat.max)",
    )
    max_depth: int = Field(
        3,
        ge=0,
        le=10,
        description="how deep sub-plans may nest: a child run is one deeper than its parent",
    )
    joiner: JoinerMode = Field(
        "auto",
        description="whether the joiner answers the goal (or replans) once every task ended: "
        "auto: for runs from a goal; on; off",
    )
    stream_plan: bool = Field(
        True,
        description="start tasks while the planner's reply streams, each once it is complete "
        "and its dependencies completed (not in approval mode plan)",
    )
    max_replans: int = Field(
        3, ge=0, le=100, description="plan patches per run (joiner, analyst and person together)"
    )
    max_llm_calls: int = Field(50, ge=0, description="LLM calls (planning, analyses) per run")
    max_llm_tokens: int = Field(2_000_000, ge=0, description="LLM tokens per run")
    idempotency_scope: str | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="the run whose idempotency keys this run's requests share (set by rerun: "
        "a request whose config did not change gets the key it had there)",
    )
    max_cost_usd: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        exclude_if=lambda value: value is None,
        description="what the run's LLM calls may cost, in USD (prices from genai-prices or "
        "LLM_PRICES; calls whose price is not known count as free)",
    )
    max_run_seconds: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="wall-clock time of the run's execution"
    )
    poll_min_interval_seconds: float = Field(
        1.0, ge=0, le=3600, allow_inf_nan=False, description="the shortest poll interval used"
    )
    poll_max_checks: int = Field(1000, ge=1, description="checks one poll task may make")
    action_task_queue: str | None = Field(
        None, description="the task queue of the actions' activities (None: the run's own)"
    )
    llm_task_queue: str | None = Field(
        None, description="the task queue of the planner and the analyst (None: the run's own)"
    )
    continue_as_new_after_tasks: int = Field(
        500,
        ge=1,
        description="the run continues as new (a fresh history, same workflow id) after this "
        "many tasks ended in one history, or sooner when Temporal suggests it",
    )
    local_activities: Literal["auto", "off"] = Field(
        "auto",
        description="auto: an action that only reads (a GET, a read-only query, a file read) "
        "runs as a local activity, in the workflow's worker; off: as a regular activity",
    )
    local_activity_max_seconds: float = Field(
        5.0,
        gt=0,
        le=600,
        allow_inf_nan=False,
        description="a read run as a local activity that takes longer (or keeps failing that "
        "long) runs again as a regular activity, with the same retry policy",
    )
    allow_hosts: list[str] = Field(
        default_factory=list,
        description="hosts this run may reach besides the worker's HTTP_ALLOW_HOSTS (the "
        "person starting the run sets it; the planner and the analyst cannot)",
    )

    @field_validator("allow_hosts")
    @classmethod
    def _allow_rules_parse(cls, entries: list[str]) -> list[str]:
        parse_rules(entries)
        return entries


class ChildRerun(BaseModel):
    """How a rerun's sub_plan task (or item) runs its child again: as a rerun of the child it
    ran before, taking that child's tasks in `reused` as they were."""

    rerun_of: str = Field(description="the earlier child run")
    key_scope: str = Field(
        description="the idempotency scope of the earlier child's requests (the run id its "
        "keys were made from): a request whose config did not change keeps its key"
    )
    reused: list[TaskResult] = Field(default_factory=list)
    resume_loops: dict[str, list[Any]] = Field(
        default_factory=dict, description="the child's loops that go on from a round"
    )
    children: dict[str, ChildRerun] = Field(
        default_factory=dict, description="the same for the child's own sub_plan tasks"
    )


class RunInput(BaseModel):
    """A goal to plan, or a plan to run as given."""

    goal: str | None = None
    plan: Plan | None = None
    options: RunOptions = Field(default_factory=RunOptions)
    carried: CarriedState | None = Field(
        None, description="the state of the run so far, when it continued as new"
    )
    inputs: dict[str, Any] | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="a child run's inputs from its sub_plan task: {{ inputs.<name> }} in its plan",
    )
    depth: int = Field(
        0, exclude_if=lambda value: value == 0, description="0 for a run, 1 for its child, ..."
    )
    rerun_of: str | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="the run this one runs again (`rerun`): its tasks in `reused` are not run",
    )
    reused: list[TaskResult] | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="for a rerun: the tasks of `rerun_of` whose outputs this run takes as they "
        "are (outputs in the blob store by reference), never running them",
    )
    resume_loops: dict[str, list[Any]] | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="for a rerun: loops that go on after the rounds the earlier run completed "
        "(their outputs), by task id",
    )
    rerun_children: dict[str, ChildRerun] | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="for a rerun: how the child runs of its sub_plan tasks (and items) run "
        "again, by task id: from a task of theirs, not from the start",
    )
    stream_state: WorkflowStreamState | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="the run's event stream, when it continued as new",
    )

    @model_validator(mode="after")
    def _goal_or_plan(self) -> RunInput:
        if not self.plan and not (self.goal and self.goal.strip()):
            raise ValueError("give a goal to plan or a plan to run")
        return self

    @property
    def goal_text(self) -> str:
        """The goal, from the input or the plan."""
        return self.goal or (self.plan.goal if self.plan else "")


class TaskStatus(StrEnum):
    """Where a task is in its life."""

    PENDING = "pending"
    WAITING_APPROVAL = "waiting_approval"
    WAITING_ANSWER = "waiting_answer"
    RUNNING = "running"
    ANALYZING = "analyzing"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


FINISHED_TASK_STATUSES = {
    TaskStatus.COMPLETED,
    TaskStatus.FAILED,
    TaskStatus.SKIPPED,
    TaskStatus.CANCELLED,
}


class RunStatus(StrEnum):
    """How a run ended."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


# The type of the workflow failure a run ends with, when it did not complete.
OUTCOME_ERROR_TYPES = {
    RunStatus.FAILED: ErrorType.RUN_FAILED,
    RunStatus.REJECTED: ErrorType.RUN_REJECTED,
    RunStatus.CANCELLED: ErrorType.RUN_CANCELLED,
}


class Phase(StrEnum):
    """What the run is doing now."""

    PLANNING = "planning"
    AWAITING_APPROVAL = "awaiting_approval"
    RUNNING = "running"
    FINISHED = "finished"


class TokenUsage(BaseModel):
    """LLM tokens spent, summed over calls."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    calls: int = 0
    cost_usd: float = Field(
        0.0,
        exclude_if=lambda value: not value,
        description="what the calls whose price is known cost, in USD (left out when 0)",
    )

    def plus(self, other: TokenUsage) -> TokenUsage:
        """The sum of two usages."""
        return TokenUsage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            calls=self.calls + other.calls,
            cost_usd=self.cost_usd + other.cost_usd,
        )


class LLMCall(BaseModel):
    """One LLM request that was answered: what for, which endpoint and model, in which output
    mode, with which version of the prompt, and what it cost."""

    purpose: str
    endpoint: str
    model: str
    mode: str
    prompt_version: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cost_usd: float | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="what the call cost in USD (genai-prices, or LLM_PRICES for the model); "
        "left out when its price is not known",
    )
    task: str = Field(
        "",
        exclude_if=lambda value: not value,
        description="the task the call was about (the analyst's), set by the run",
    )


class TaskFailure(BaseModel):
    """Why a task's last round of attempts failed."""

    message: str
    error_type: str = "Error"
    retryable: bool = True
    attempts: int = 1


class FailureDecision(BaseModel):
    """What the failure analyst (or the engine's fallback) decided for a failed task."""

    action: DecisionAction
    reason: str
    new_config: dict[str, Any] | None = None


class DecisionRecord(BaseModel):
    """A decision as recorded in the run: for which task, by whom, and what was applied."""

    task_id: str
    decision: FailureDecision
    applied: DecisionAction
    source: Literal["analyst", "fallback"] = "analyst"
    error: TaskFailure
    at: datetime | None = None
    note: str = ""


def _unset(value: Any) -> bool:
    return not value


class ItemError(BaseModel):
    """A for-each item that did not complete: its index, id and error (or reason)."""

    index: int
    task_id: str
    status: str
    message: str


class TaskResult(BaseModel):
    """A task's state: live during the run (the status query), final in the result."""

    task_id: str
    name: str = ""
    action_type: str = ""
    status: TaskStatus = TaskStatus.PENDING
    risk: str = Field("", description="why the task needs approval (approval mode risky)")
    approved_by: str = ""
    attempts: int = 0
    output: Any = None
    output_summary: str = Field("", description="what the output holds, in one line")
    error: TaskFailure | None = None
    reason: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    # These four are left out of the JSON when unset: a run of 2,000 tasks keeps the result
    # it had before they existed (Temporal warns past 512 KB a payload).
    rounds: int = Field(
        0,
        exclude_if=_unset,
        description="the rounds a loop (repeat) has run so far (left out when 0)",
    )
    items: dict[str, int] | None = Field(
        None,
        exclude_if=_unset,
        description="for a for-each: how many of its items are in each status",
    )
    item_errors: list[ItemError] = Field(
        default_factory=list,
        exclude_if=_unset,
        description="for a for-each: the items that did not complete, and why",
    )
    child_run_id: str | None = Field(
        None,
        exclude_if=_unset,
        description="for a sub_plan: the workflow id of its child run (left out when none)",
    )
    replanned: bool = Field(
        False,
        exclude_if=_unset,
        description="failed, and a plan patch took over its work (the analyst's replan): it "
        "does not fail the run as a missed critical task (left out when not)",
    )
    question: str = Field(
        "",
        exclude_if=_unset,
        description="for an ask: the question asked (left out when none)",
    )
    answered_by: str = Field(
        "",
        exclude_if=_unset,
        description="for an ask: who answered (`timeout` when the default was taken)",
    )
    reused_from: str = Field(
        "",
        exclude_if=_unset,
        description="for a rerun: the run whose output this task took, not running (left out "
        "when it ran)",
    )
    done_rounds: list[Any] | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="for a loop that did not complete: the outputs of the rounds it completed "
        "(a rerun goes on from the next round)",
    )
    condition_false: bool = Field(
        False,
        exclude_if=_unset,
        description="skipped because its `when` was false (left out when not): no error; the "
        "tasks downstream still run, and references to its output are null",
    )
    # Told of a change to what the run's events say of the task (core/events.py's TaskTable):
    # a run of 10,000 items then looks at the tasks that changed, not at every task each step.
    _on_change: Callable[[str], None] | None = PrivateAttr(None)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in TOLD_TASK_FIELDS and self._on_change is not None:
            self._on_change(self.task_id)

    # A copy is nobody's until a table takes it; equality is the fields'.
    def __copy__(self) -> Self:
        copied = super().__copy__()
        copied._on_change = None
        return copied

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        hook, self._on_change = self._on_change, None
        try:
            return super().__deepcopy__(memo)
        finally:
            self._on_change = hook

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskResult):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]


# The fields of a task whose changes are its events: its status, attempts and who answered it,
# and when it started (a task taken to run has not started before its action does).
TOLD_TASK_FIELDS = frozenset({"status", "attempts", "answered_by", "started_at"})


class RunMetrics(BaseModel):
    """Counts and rates over a run's tasks."""

    total_tasks: int = 0
    completed: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: int = 0
    success_rate: float = 0.0
    average_task_duration_seconds: float | None = None
    total_attempts: int = 0


class RunResult(BaseModel):
    """How a run ended, with each task's outcome, the decisions made and the tokens spent."""

    workflow_id: str
    goal: str
    status: RunStatus
    error: str | None = None
    plan: Plan | None = None
    tasks: list[TaskResult] = Field(default_factory=list)
    decisions: list[DecisionRecord] = Field(default_factory=list)
    decisions_not_kept: dict[str, int] = Field(
        default_factory=dict,
        exclude_if=_unset,
        description="by for-each: how many decisions on its items were counted but not kept "
        "(the first 20 are; each item keeps its own error and reason)",
    )
    usage: TokenUsage = Field(default_factory=TokenUsage)
    llm_calls: list[LLMCall] = Field(default_factory=list)
    metrics: RunMetrics = Field(default_factory=RunMetrics)
    answer: Any = Field(
        None, description="the joiner's answer to the goal (text, or JSON); null without one"
    )
    answer_note: str = Field(
        "", exclude_if=_unset, description="why there is no answer, when a joiner was asked"
    )
    rerun_of: str = Field("", exclude_if=_unset, description="the run this one ran again")
    replans: list[ReplanRecord] = Field(
        default_factory=list, exclude_if=_unset, description="the plan patches, in order"
    )
    streamed_tasks: list[str] = Field(
        default_factory=list,
        exclude_if=_unset,
        description="the tasks handed to the run while the plan streamed, in order",
    )
    stream_note: str = Field(
        "",
        exclude_if=_unset,
        description="what happened to the streamed tasks when the whole plan was invalid",
    )
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_seconds: float | None = None


class Question(BaseModel):
    """A question an `ask` task waits to have answered (`answer ID TASK`)."""

    task_id: str
    question: str
    answer_schema: dict[str, Any] = Field(description="the JSON Schema an answer must match")
    choices: list[Any] | None = None
    timeout_seconds: float
    default: Any = Field(None, description="the answer taken at the timeout (null: none)")


class AnswerRequest(BaseModel):
    """Payload of the `answer` Update: the answer to a task's question, and who gives it."""

    task: str
    value: Any
    by: str = ""


class AnswerRecord(BaseModel):
    """What the `answer` Update returns: the answer taken, for which task, from whom."""

    task: str
    value: Any
    by: str


class RunState(BaseModel):
    """What the status query answers while a run is alive (and after it ended)."""

    workflow_id: str
    goal: str
    phase: Phase
    status: RunStatus | None = None
    error: str | None = None
    plan: Plan | None = None
    tasks: list[TaskResult] = Field(default_factory=list)
    decisions: list[DecisionRecord] = Field(default_factory=list)
    decisions_not_kept: dict[str, int] = Field(
        default_factory=dict,
        exclude_if=_unset,
        description="by for-each: how many decisions on its items were counted but not kept "
        "(the first 20 are; each item keeps its own error and reason)",
    )
    usage: TokenUsage = Field(default_factory=TokenUsage)
    llm_calls: list[LLMCall] = Field(default_factory=list)
    cancel_requested: bool = False
    approval: ApprovalMode = "none"
    paused: bool = False
    paused_by: str = ""
    answer: Any = None
    answer_note: str = Field("", exclude_if=_unset)
    rerun_of: str = Field("", exclude_if=_unset, description="the run this one runs again")
    replans: list[ReplanRecord] = Field(default_factory=list, exclude_if=_unset)
    questions: list[Question] = Field(
        default_factory=list,
        exclude_if=_unset,
        description="the questions waiting for an answer (ask tasks, for-each items too)",
    )
    sub_plans_waiting: list[str] = Field(
        default_factory=list,
        exclude_if=_unset,
        description="what waits for approval in child runs, as `approve --task` takes it: "
        "`sub.fetch` (task fetch of sub's child run), `sub` (its plan); filled by the client",
    )


class ApprovalSignal(BaseModel):
    """Payload of the `approve` and `reject` signals: who decided, why, and for which task.

    Without `task`, the verdict is on the plan (approval mode `plan`).
    """

    by: str = ""
    reason: str = ""
    task: str | None = None


class PauseSignal(BaseModel):
    """Payload of the `pause` and `resume` signals."""

    by: str = ""
    reason: str = ""


class EditRequest(BaseModel):
    """Input of the `edit` update: a whole new plan, or one task's new config."""

    plan: dict[str, Any] | None = None
    task: str | None = None
    config: dict[str, Any] | None = None
    by: str = ""


class EditResult(BaseModel):
    """Output of the `edit` update: the plan as it now is."""

    plan: Plan
    edited: str


class CancelSignal(BaseModel):
    """A request to stop the run."""

    by: str = ""
    reason: str = ""


class ActionRequest(BaseModel):
    """Input of an action activity: the task and its config, references already resolved, the
    hosts the run adds to the worker's network policy, and how many secret references the
    plan itself wrote into the config."""

    task_id: str
    action_type: str
    config: dict[str, Any]
    allow_hosts: list[str] = Field(default_factory=list)
    planned_secret_references: int | None = Field(
        None,
        description="secret references in the task's config as planned, before references to "
        "outputs were resolved (more in `config`: an output brought them)",
    )
    outputs: dict[str, Any] = Field(
        default_factory=dict,
        description="when `config` refers to outputs kept in the blob store, its references "
        "are left for the activity to resolve from these outputs (task id -> output)",
    )
    idempotency_scope: str | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="for a rerun: the earlier run its idempotency keys are scoped to (the same "
        "request gets the same key as there)",
    )


class ActionResult(BaseModel):
    """Output of an action activity, with the attempt that produced it."""

    output: Any = None
    attempt: int = 1


class PlanRequest(BaseModel):
    """Input of `plan_goal`: the goal, the action types the plan may use (empty: every one),
    the hosts the run adds to the network policy, and on a repair round the rejected reply
    and its errors."""

    goal: str
    previous_reply: str | None = None
    errors: list[str] = Field(default_factory=list)
    action_types: list[str] = Field(default_factory=list)
    allow_hosts: list[str] = Field(default_factory=list)


class PlanDraft(BaseModel):
    """Output of `plan_goal`: a valid plan, or the reply and why it was not one."""

    plan: Plan | None = None
    reply: str = ""
    errors: list[str] = Field(default_factory=list)
    usage: TokenUsage = Field(default_factory=TokenUsage)
    calls: list[LLMCall] = Field(default_factory=list)


class PlanPatch(BaseModel):
    """A change to a running plan: tasks to add (new ids; they may depend on any task and use
    a completed task's output) and tasks that have not started to remove. Adding a removed
    task's id replaces it."""

    add: list[Task] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)
    reason: str = ""


class ReplanRecord(BaseModel):
    """A plan patch as the run recorded it: who asked and why, what it adds and removes, and
    what became of it."""

    number: int = Field(description="1 for the run's first replan, 2 for the next, ...")
    source: ReplanSource
    by: str = Field("", description="the person who asked (source person)")
    reason: str = ""
    hint: str = Field("", description="what the person asked for (source person)")
    task_id: str | None = Field(None, description="the failed task that led to it (analyst)")
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    status: ReplanStatus = "proposed"
    note: str = Field("", description="why it was refused or rejected")
    at: datetime | None = None


class StreamedTask(BaseModel):
    """Payload of the `planned_task` signal: a task of the plan being streamed, complete and
    valid on its own, handed to the run before the rest of the plan arrives."""

    task: Task
    index: int


class ReplanRequest(BaseModel):
    """Input of the `replan` update: what a person wants changed."""

    hint: str
    by: str = ""


class TaskView(BaseModel):
    """A task as the joiner and the replanner see it: its plan entry, status and output
    (a preview when large; secrets masked)."""

    task: dict[str, Any]
    status: str
    output: Any = None
    error: str = ""


class JoinerRequest(BaseModel):
    """Input of the `join` activity: the goal, the plan and where each task ended, and
    whether it may still replan."""

    goal: str
    tasks: list[TaskView]
    may_replan: bool = True
    action_types: list[str] = Field(default_factory=list)
    allow_hosts: list[str] = Field(default_factory=list)


class JoinerReply(BaseModel):
    """Output of `join`: the answer, or a plan patch."""

    action: Literal["answer", "replan"]
    answer: Any = None
    patch: PlanPatch | None = None
    usage: TokenUsage = Field(default_factory=TokenUsage)
    calls: list[LLMCall] = Field(default_factory=list)


class PatchRequest(BaseModel):
    """Input of `plan_patch`: the run so far and why it needs a patch (the analyst's reason
    for a failed task, or a person's hint)."""

    goal: str
    tasks: list[TaskView]
    reason: str = ""
    hint: str = ""
    failed_task: str | None = None
    action_types: list[str] = Field(default_factory=list)
    allow_hosts: list[str] = Field(default_factory=list)


class PatchDraft(BaseModel):
    """Output of `plan_patch`: a patch that fits the plan."""

    patch: PlanPatch
    usage: TokenUsage = Field(default_factory=TokenUsage)
    calls: list[LLMCall] = Field(default_factory=list)


class AnalysisRequest(BaseModel):
    """Input of `analyze_failure`: the task, its failure, and what the analyst may decide."""

    goal: str
    task: dict[str, Any]
    failure: TaskFailure
    upstream_outputs: dict[str, Any] = Field(default_factory=dict)
    previous_decisions: list[FailureDecision] = Field(default_factory=list)
    allowed_actions: list[DecisionAction] = Field(default_factory=list)


class AnalysisReply(BaseModel):
    """Output of `analyze_failure`."""

    decision: FailureDecision
    usage: TokenUsage = Field(default_factory=TokenUsage)
    calls: list[LLMCall] = Field(default_factory=list)


class ItemArchive(BaseModel):
    """A for-each's ended items kept out of the run's state: their results (outputs included)
    in blob-store chunks, and what the run needs to go on without them."""

    chunks: list[dict[str, Any]] = Field(
        default_factory=list, description="blob references, each to a list of item results"
    )
    ranges: list[tuple[int, int]] = Field(
        default_factory=list, description="the archived items' indices, as [start, end) ranges"
    )
    counts: dict[str, int] = Field(default_factory=dict, description="archived items by status")
    attempts: int = 0
    errors: list[ItemError] = Field(
        default_factory=list, description="the first archived items that did not complete"
    )


class LoopState(BaseModel):
    """A loop that stopped between rounds for its run to continue as new: where it goes on.
    The outputs of its rounds so far are in the blob store (`chunks`, as archived items)."""

    index: int = Field(description="the next round's index")
    previous: Any = Field(None, description="the last round's output")
    chunks: list[dict[str, Any]] = Field(default_factory=list)
    rounds: int = Field(0, description="how many rounds' outputs the chunks hold")


class ArchiveRequest(BaseModel):
    """Input of the `archive_items` activity: item results to keep in one blob-store chunk."""

    items: list[TaskResult]


class JoinRequest(BaseModel):
    """Input of the `join_items` activity: a for-each's archived chunks, joined into its
    output (the items' outputs in index order, null for those that did not complete)."""

    task_id: str
    chunks: list[dict[str, Any]]
    count: int


class CarriedState(BaseModel):
    """What a run carries into its next history when it continues as new (its plan travels
    in `RunInput.plan`): where every task is, with its output, and what the run decided,
    spent and was told so far."""

    tasks: list[TaskResult]
    decisions: list[DecisionRecord] = Field(default_factory=list)
    analyses: int = 0
    usage: TokenUsage = Field(default_factory=TokenUsage)
    llm_calls: list[LLMCall] = Field(default_factory=list)
    paused: PauseSignal | None = None
    pause_changes: int = 0
    published_status: str = ""
    started_at: datetime
    execution_started_at: datetime
    histories: int = Field(1, description="how many histories the run had before this one")
    archives: dict[str, ItemArchive] = Field(
        default_factory=dict,
        exclude_if=_unset,
        description="each for-each's archived items (see ItemArchive), by task id",
    )
    decisions_not_kept: dict[str, int] = Field(
        default_factory=dict,
        exclude_if=_unset,
        description="by for-each: how many decisions on its items were counted but not kept "
        "(the first 20 are; each item keeps its own error and reason)",
    )
    loops: dict[str, LoopState] = Field(
        default_factory=dict,
        exclude_if=_unset,
        description="the loops that stopped between rounds to continue as new, by task id",
    )
    joining: bool = Field(False, exclude_if=_unset, description="whether the joiner is asked")
    replans: list[ReplanRecord] = Field(default_factory=list, exclude_if=_unset)
    patches: list[PlanPatch] = Field(
        default_factory=list,
        exclude_if=_unset,
        description="patches not applied yet: those of the last `replans`, in order",
    )
    streamed_tasks: list[str] = Field(default_factory=list, exclude_if=_unset)
    stream_note: str = Field("", exclude_if=_unset)


ChildRerun.model_rebuild()
RunInput.model_rebuild()


def result_in_failure(cause: BaseException | None) -> RunResult | None:
    """The result that a run's failure carries in its details (see raise_for_outcome)."""
    if not isinstance(cause, ApplicationError) or cause.type not in OUTCOME_ERROR_TYPES.values():
        return None
    try:
        return RunResult.model_validate(cause.details[0])
    except (IndexError, ValidationError):
        return None
