"""How the CLI shows runs to people: tables of tasks, decisions, results."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from runtime import web_ui_link
from settings import Settings
from workflows.results import (
    DecisionRecord,
    Phase,
    RunResult,
    RunState,
    TaskResult,
    TaskStatus,
)

STATUS_STYLES = {
    TaskStatus.COMPLETED: "green",
    TaskStatus.FAILED: "red",
    TaskStatus.SKIPPED: "yellow",
    TaskStatus.CANCELLED: "yellow",
    TaskStatus.WAITING_APPROVAL: "bold magenta",
    TaskStatus.RUNNING: "cyan",
    TaskStatus.ANALYZING: "cyan",
}

# Piped output (scripts, CI) gets a fixed width instead of whatever the environment reports.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def print_json(model: Any) -> None:
    """A model as JSON on stdout, nothing else."""
    sys.stdout.write(model.model_dump_json(indent=2) + "\n")


def _task_detail(task: TaskResult) -> str:
    if task.status == TaskStatus.WAITING_APPROVAL:
        return f"needs approval: {task.risk}"
    detail = task.error.message if task.error else task.reason
    if not detail and task.output is not None:
        detail = json.dumps(task.output, default=str)
    if not detail and task.approved_by:
        detail = f"approved by {task.approved_by}"
    return detail or ""


def _task_seconds(task: TaskResult, now: datetime | None) -> str:
    if task.duration_seconds is not None:
        return f"{task.duration_seconds:.2f}"
    if task.started_at is not None and now is not None:
        return f"{(now - task.started_at).total_seconds():.1f}"
    return ""


def tasks_table(tasks: list[TaskResult], now: datetime | None = None) -> Table:
    """A table of tasks: status, attempts, duration (so far), and what matters most now."""
    table = Table(show_header=True, header_style="bold")
    for column in ("task", "action", "status", "attempts", "seconds"):
        table.add_column(column, no_wrap=True)
    table.add_column("detail", overflow="ellipsis", no_wrap=True, max_width=70)
    for task in tasks:
        status = f"[{STATUS_STYLES.get(task.status, '')}]{task.status.value}[/]"
        table.add_row(
            task.task_id, task.action_type, status, str(task.attempts),
            _task_seconds(task, now), _task_detail(task)[:200],
        )  # fmt: skip
    return table


def print_tasks(tasks: list[TaskResult]) -> None:
    """The tasks table on the console."""
    console.print(tasks_table(tasks))


def decision_lines(decisions: list[DecisionRecord]) -> list[str]:
    """One line per failure decision."""
    lines = []
    for record in decisions:
        applied = record.applied
        if record.applied != record.decision.action:
            applied = f"{record.decision.action} -> {record.applied}"
        note = f" ({record.note})" if record.note else ""
        lines.append(
            f"  decision for {record.task_id}: {applied} [{record.source}] "
            f"{record.decision.reason}{note}"
        )
    return lines


def print_decisions(decisions: list[DecisionRecord]) -> None:
    """The decisions on the console."""
    for line in decision_lines(decisions):
        console.print(line, markup=False)


def state_header(state: RunState) -> str:
    """`run ID: phase[, status][, paused]` and the approval mode."""
    parts = [state.phase.value]
    if state.status:
        parts.append(state.status.value)
    if state.paused:
        parts.append(f"paused by {state.paused_by}" if state.paused_by else "paused")
    if state.cancel_requested and not state.status:
        parts.append("cancelling")
    return f"run {state.workflow_id}: {', '.join(parts)} (approval: {state.approval})"


def render_state(state: RunState, now: datetime | None = None) -> Group:
    """The whole live view of a run: header, goal, tasks, decisions."""
    lines: list[Any] = [Text(state_header(state), style="bold"), Text(f"goal: {state.goal}")]
    if state.error:
        lines.append(Text(f"error: {state.error}", style="red"))
    lines.append(tasks_table(state.tasks, now))
    lines += [Text(line) for line in decision_lines(state.decisions)]
    waiting = [t.task_id for t in state.tasks if t.status == TaskStatus.WAITING_APPROVAL]
    for task_id in waiting:
        lines.append(Text(f"approve: python cli.py approve {state.workflow_id} --task {task_id}"))
    if state.phase == Phase.AWAITING_APPROVAL:
        lines.append(Text(f"approve: python cli.py approve {state.workflow_id}"))
    return Group(*lines)


def print_result(result: RunResult, settings: Settings) -> None:
    """A run's result for people."""
    console.print(f"run {result.workflow_id}: [bold]{result.status.value}[/bold]")
    if result.error:
        console.print(f"error: {result.error}")
    print_tasks(result.tasks)
    print_decisions(result.decisions)
    metrics, usage = result.metrics, result.usage
    console.print(
        f"tasks: {metrics.completed}/{metrics.total_tasks} completed, {metrics.failed} failed, "
        f"{metrics.skipped} skipped, {metrics.cancelled} cancelled; attempts: "
        f"{metrics.total_attempts}; duration: {result.duration_seconds or 0:.2f}s; "
        f"LLM tokens: {usage.total_tokens} in {usage.calls} calls"
    )
    console.print(f"web ui: {web_ui_link(settings, result.workflow_id)}")


def print_runs(rows: list[dict[str, Any]]) -> None:
    """A table of runs (from `list`)."""
    table = Table("run", "status", "tasks", "started", "closed", "goal")
    for row in rows:
        goal = row["goal"] if len(row["goal"]) <= 60 else row["goal"][:57] + "..."
        tasks = "" if row["tasks"] is None else str(row["tasks"])
        table.add_row(row["workflow_id"], row["status"], tasks, row["started"], row["closed"], goal)
    console.print(table)
