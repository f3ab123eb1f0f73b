"""What the console's pages show, from a run's state: pure functions from the engine's models
to what the templates render (the plan's layout, a question's form, the timeline)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agentic.core.graph import Layout, layout
from agentic.core.messages import DecisionRecord, Question, RunState, TaskResult, TaskStatus


@dataclass(frozen=True)
class AnswerForm:
    """How a question is answered in the page: `kind` is choice, text, integer, number,
    boolean or json (a JSON value for any other schema)."""

    task_id: str
    question: str
    kind: str
    choices: list[str]
    schema: str


def answer_form(question: Question) -> AnswerForm:
    """The form of a question, from its choices or its answer schema."""
    schema = question.answer_schema or {"type": "string"}
    choices = [json.dumps(choice) for choice in question.choices or []]
    kind = "choice" if choices else _kind_of(schema)
    return AnswerForm(question.task_id, question.question, kind, choices, json.dumps(schema))


def _kind_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if kind in ("string", "integer", "number", "boolean"):
        return str(kind)
    if "enum" in schema:
        return "json"
    return "json" if schema else "string"


def answer_value(kind: str, raw: str) -> Any:
    """The value a form's field gives; ValueError says what is wrong with it."""
    if kind in ("string", "text"):
        return raw
    if kind == "integer":
        return int(raw)
    if kind == "number":
        return float(raw)
    if kind == "boolean":
        return raw.strip().lower() in ("true", "yes", "on", "1")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error.msg}): give the answer as a JSON value") from None


@dataclass(frozen=True)
class TimelineEntry:
    """A decision, an approval, an answer or a replan, in the order they happened."""

    at: datetime | None
    text: str


def timeline(state: RunState) -> list[TimelineEntry]:
    """The run's decisions, approvals, answers and replans."""
    entries = [_decision_entry(record) for record in state.decisions]
    for task in state.tasks:
        if task.approved_by:
            text = f"{task.task_id} approved by {task.approved_by}"
            entries.append(TimelineEntry(task.started_at, text))
        if task.answered_by:
            text = f"{task.task_id} answered by {task.answered_by}"
            entries.append(TimelineEntry(task.finished_at, text))
    for record in state.replans:
        changes = ", ".join([*(f"+{t}" for t in record.added), *(f"-{t}" for t in record.removed)])
        text = f"replan {record.number} ({record.source}, {record.status}): {changes}"
        entries.append(TimelineEntry(record.at, f"{text} {record.reason}".strip()))
    return sorted(entries, key=lambda entry: (entry.at is None, entry.at or datetime.min))


def _decision_entry(record: DecisionRecord) -> TimelineEntry:
    text = f"{record.task_id}: the {record.source} decided {record.applied}"
    return TimelineEntry(record.at, f"{text}: {record.decision.reason}")


def graph_of(state: RunState) -> Layout | None:
    """The run's plan, laid out, with each task's status (None before there is a plan)."""
    if state.plan is None:
        return None
    return layout(state.plan, {task.task_id: task for task in state.tasks})


def waiting_tasks(state: RunState) -> list[TaskResult]:
    """The tasks waiting for approval, with what makes them risky."""
    return [task for task in state.tasks if task.status == TaskStatus.WAITING_APPROVAL]


def task_config(state: RunState, task_id: str) -> str:
    """A task's config as the plan holds it, as indented JSON ("" for a task not in the plan):
    secrets appear as their references, never as values."""
    planned = state.plan.by_id.get(task_id) if state.plan else None
    if planned is None:
        return ""
    return json.dumps(planned.action_config.model_dump(mode="json", by_alias=True), indent=2)


def waiting_configs(state: RunState) -> dict[str, str]:
    """The config of each task waiting for approval, for its edit form to start from."""
    return {task.task_id: task_config(state, task.task_id) for task in waiting_tasks(state)}


def answer_text(answer: Any) -> str:
    """The run's answer as the page shows it: a text as it is, anything else as JSON."""
    if answer is None:
        return ""
    return answer if isinstance(answer, str) else json.dumps(answer, indent=2, default=str)


def task_view(task: TaskResult, state: RunState) -> dict[str, Any]:
    """One task's details for the page: its config (secrets appear as the references the plan
    holds, never as values), attempts, error, decisions and output preview."""
    planned = state.plan.by_id.get(task.task_id) if state.plan else None
    decisions = [record for record in state.decisions if record.task_id == task.task_id]
    calls = [call for call in state.llm_calls if call.task == task.task_id]
    cost = sum(call.cost_usd or 0.0 for call in calls)
    tokens = sum(call.prompt_tokens + call.completion_tokens for call in calls)
    return {
        "task": task,
        "config": task_config(state, task.task_id),
        "depends_on": planned.depends_on if planned else [],
        "decisions": decisions,
        "llm_cost_usd": cost,
        "llm_tokens": tokens,
        "llm_calls": len(calls),
        "output": json.dumps(task.output, indent=2, default=str)[:4000]
        if task.output is not None
        else "",
    }
