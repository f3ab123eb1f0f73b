"""A run's numbers, computed from what the run reports (its live state or its result): tasks by
status, success rate, each task's duration and attempts, p50/p95 task duration, retries,
failure decisions, LLM calls and tokens, and an estimated cost when the models' prices are known.

Pure: no I/O and no clock (the caller says what "now" is for tasks still running).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field

from agentic.core.foreach import parent_of
from agentic.core.messages import (
    FINISHED_TASK_STATUSES,
    DecisionAction,
    DecisionRecord,
    LLMCall,
    Phase,
    ReplanRecord,
    RunResult,
    RunState,
    RunStatus,
    TaskResult,
    TaskStatus,
    TokenUsage,
)

PRICES_SETTING = "LLM_PRICES"
TOKENS_PER_PRICE = 1_000_000
PRICES_HELP = (
    f'{PRICES_SETTING}=\'{{"MODEL": {{"prompt": USD per 1M tokens, "completion": USD per 1M '
    "tokens}}'"
)
DECISION_SOURCES = ("analyst", "fallback")


class ModelPrice(BaseModel):
    """What a model costs, in US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: float = Field(ge=0, allow_inf_nan=False, description="USD per 1M prompt tokens")
    completion: float = Field(ge=0, allow_inf_nan=False, description="USD per 1M completion tokens")

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """The cost of these tokens, in USD."""
        return (prompt_tokens * self.prompt + completion_tokens * self.completion) / (
            TOKENS_PER_PRICE
        )


class TaskMetrics(BaseModel):
    """One task's numbers. `running`: started and not finished, its duration is so far."""

    task_id: str
    name: str = ""
    action_type: str = ""
    status: TaskStatus
    running: bool = False
    duration_seconds: float | None = None
    attempts: int = 0
    retries: int = 0
    llm_cost_usd: float = Field(
        0.0,
        exclude_if=lambda value: not value,
        description="what the LLM calls about this task cost (the analyst's), left out when 0",
    )
    items: dict[str, int] | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="for a for-each: its items by status (attempts and retries are its items')",
    )


class DurationStats(BaseModel):
    """Durations of the finished tasks that ran; percentiles by nearest rank."""

    count: int = 0
    p50_seconds: float | None = None
    p95_seconds: float | None = None
    mean_seconds: float | None = None
    max_seconds: float | None = None


class DecisionMetrics(BaseModel):
    """Failure decisions: how many, by the action applied, by who decided."""

    count: int = 0
    by_action: dict[str, int] = Field(default_factory=dict)
    by_source: dict[str, int] = Field(default_factory=dict)
    not_kept: int = Field(
        0, description="decisions on for-each items counted in `count` but not kept"
    )


class ModelUsage(BaseModel):
    """The answered LLM calls to one model; `cost_usd` when its price is known."""

    model: str
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None


class LLMMetrics(BaseModel):
    """LLM calls and tokens (the run's usage), by purpose and by model, and the estimated cost
    (None, with `cost_note` saying why, unless every model used has a price)."""

    calls: int = 0
    by_purpose: dict[str, int] = Field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    by_model: list[ModelUsage] = Field(default_factory=list)
    estimated_cost_usd: float | None = None
    cost_note: str = ""


class RunReport(BaseModel):
    """A run's metrics, whether it is running or ended (`phase`, `status`). `as_of`: the moment
    the durations of running tasks were measured at (None for an ended run)."""

    workflow_id: str
    goal: str = ""
    phase: Phase
    status: RunStatus | None = None
    as_of: datetime | None = None
    duration_seconds: float | None = None
    total_tasks: int = 0
    tasks_by_status: dict[str, int] = Field(default_factory=dict)
    success_rate: float | None = Field(
        None, description="completed tasks / finished tasks; None until a task has finished"
    )
    task_durations: DurationStats = Field(default_factory=DurationStats)
    total_attempts: int = 0
    total_retries: int = 0
    tasks: list[TaskMetrics] = Field(default_factory=list)
    decisions: DecisionMetrics = Field(default_factory=DecisionMetrics)
    replans: list[ReplanRecord] = Field(
        default_factory=list, description="the plan patches: who asked, why, what changed"
    )
    answered: bool | None = Field(
        None, description="whether the joiner answered the goal (None: not asked, or not yet)"
    )
    llm: LLMMetrics = Field(default_factory=LLMMetrics)


def run_report(
    run: RunState | RunResult,
    prices: Mapping[str, ModelPrice] | None = None,
    now: datetime | None = None,
) -> RunReport:
    """The metrics of a run from its state (the status query) or its result.

    `now` measures tasks still running (now - started_at); without it their duration is None.
    Task percentiles (p50, p95) are nearest-rank over the finished tasks that have a duration.
    The cost is estimated from `prices` (model -> USD per 1M tokens) when every model the run
    called has one."""
    costs: dict[str, float] = {}
    for call in run.llm_calls:  # an item's analysis counts for its for-each
        if call.task and call.cost_usd:
            about = parent_of(call.task) or call.task
            costs[about] = costs.get(about, 0.0) + call.cost_usd
    tasks = [
        task_metrics(task, now).model_copy(update={"llm_cost_usd": costs.get(task.task_id, 0.0)})
        for task in run.tasks
    ]
    finished = [t for t in tasks if t.status in FINISHED_TASK_STATUSES]
    completed = sum(t.status == TaskStatus.COMPLETED for t in tasks)
    if isinstance(run, RunResult):
        phase, as_of, duration = Phase.FINISHED, None, run.duration_seconds
    else:
        phase, as_of, duration = run.phase, now, None
    return RunReport(
        workflow_id=run.workflow_id,
        goal=run.goal,
        phase=phase,
        status=run.status,
        as_of=as_of,
        duration_seconds=duration,
        total_tasks=len(tasks),
        tasks_by_status=_counts((t.status.value for t in tasks), [s.value for s in TaskStatus]),
        success_rate=completed / len(finished) if finished else None,
        task_durations=duration_stats(
            [t.duration_seconds for t in finished if t.duration_seconds is not None]
        ),
        total_attempts=sum(t.attempts for t in tasks),
        total_retries=sum(t.retries for t in tasks),
        tasks=tasks,
        decisions=decision_metrics(run.decisions, run.decisions_not_kept),
        replans=run.replans,
        answered=True if run.answer is not None else (False if run.answer_note else None),
        llm=llm_metrics(run.usage, run.llm_calls, prices or {}),
    )


def _runs_of(task: TaskResult) -> int:
    """How many attempts the task makes without a retry: one per ended item for a for-each
    (an item not started yet made none), one per round for a loop, else one."""
    if task.items:
        unended = (TaskStatus.PENDING.value, TaskStatus.RUNNING.value)
        return sum(n for status, n in task.items.items() if status not in unended)
    return max(task.rounds, 1)


def task_metrics(task: TaskResult, now: datetime | None = None) -> TaskMetrics:
    """A task's duration (so far, with `now`, when it is running), attempts and retries."""
    running = task.started_at is not None and task.status not in FINISHED_TASK_STATUSES
    duration = task.duration_seconds
    if duration is None and task.started_at is not None:
        end = now if running else task.finished_at
        if end is not None:
            duration = max((end - task.started_at).total_seconds(), 0.0)
    return TaskMetrics(
        task_id=task.task_id,
        name=task.name,
        action_type=task.action_type,
        status=task.status,
        running=running,
        duration_seconds=duration,
        attempts=task.attempts,
        retries=max(task.attempts - _runs_of(task), 0),
        items=task.items,
    )


def percentile(values: Sequence[float], percent: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least `percent` % of the values
    at or below it (always one of the values); None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(percent * len(ordered) / 100), 1)
    return ordered[min(rank, len(ordered)) - 1]


def duration_stats(durations: Sequence[float]) -> DurationStats:
    """Count, p50, p95 (nearest rank), mean and max of some durations."""
    if not durations:
        return DurationStats()
    return DurationStats(
        count=len(durations),
        p50_seconds=percentile(durations, 50),
        p95_seconds=percentile(durations, 95),
        mean_seconds=sum(durations) / len(durations),
        max_seconds=max(durations),
    )


def decision_metrics(
    decisions: Sequence[DecisionRecord], not_kept: Mapping[str, int] | None = None
) -> DecisionMetrics:
    """How many failure decisions, by the action applied and by source (analyst, fallback);
    `not_kept`: decisions on for-each items the run counted without keeping them."""
    dropped = sum((not_kept or {}).values())
    return DecisionMetrics(
        count=len(decisions) + dropped,
        not_kept=dropped,
        by_action=_counts((d.applied for d in decisions), get_args(DecisionAction)),
        by_source=_counts((d.source for d in decisions), DECISION_SOURCES),
    )


def llm_metrics(
    usage: TokenUsage, calls: Sequence[LLMCall], prices: Mapping[str, ModelPrice]
) -> LLMMetrics:
    """LLM calls and tokens (totals from the run's usage), by purpose and by model, and the
    estimated cost."""
    by_model = model_usage(calls, prices)
    cost, note = estimated_cost(usage, by_model)
    return LLMMetrics(
        calls=max(usage.calls, len(calls)),
        by_purpose=dict(Counter(call.purpose for call in calls)),
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        by_model=by_model,
        estimated_cost_usd=cost,
        cost_note=note,
    )


def model_usage(calls: Sequence[LLMCall], prices: Mapping[str, ModelPrice]) -> list[ModelUsage]:
    """Calls and tokens per model (in the order first called), priced when the model is."""
    by_model: dict[str, ModelUsage] = {}
    for call in calls:
        entry = by_model.setdefault(call.model, ModelUsage(model=call.model))
        entry.calls += 1
        entry.prompt_tokens += call.prompt_tokens
        entry.completion_tokens += call.completion_tokens
    for entry in by_model.values():
        recorded = [call.cost_usd for call in calls if call.model == entry.model]
        price = prices.get(entry.model)
        if all(cost is not None for cost in recorded):  # priced when called (genai-prices)
            entry.cost_usd = sum(cost or 0.0 for cost in recorded)
        elif price is not None:
            entry.cost_usd = price.cost(entry.prompt_tokens, entry.completion_tokens)
    return list(by_model.values())


def estimated_cost(usage: TokenUsage, by_model: Sequence[ModelUsage]) -> tuple[float | None, str]:
    """The run's cost when every model used is priced, else None and what to set."""
    if not by_model and usage.prompt_tokens + usage.completion_tokens == 0:
        return 0.0, ""
    unpriced = [entry.model for entry in by_model if entry.cost_usd is None]
    if unpriced:
        return None, f"no price for {', '.join(unpriced)}: set {PRICES_HELP}"
    counted = sum(entry.prompt_tokens + entry.completion_tokens for entry in by_model)
    unattributed = usage.prompt_tokens + usage.completion_tokens - counted
    if unattributed > 0:
        return None, f"{unattributed} tokens of the run's usage are not recorded with a model"
    return sum(entry.cost_usd or 0.0 for entry in by_model), ""


def _counts(values: Iterable[Any], keys: Iterable[str]) -> dict[str, int]:
    """How often each key occurs in `values`: every key, zero included, in the keys' order."""
    counted = Counter(str(value) for value in values)
    return {key: counted[key] for key in keys} | dict(counted)
