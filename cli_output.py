"""How the CLI shows runs to people: tables of tasks, decisions, results."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from runtime import web_ui_link
from settings import Settings
from workflows.results import RunResult

# Piped output (scripts, CI) gets a fixed width instead of whatever the environment reports.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def print_json(model: Any) -> None:
    """A model as JSON on stdout, nothing else."""
    sys.stdout.write(model.model_dump_json(indent=2) + "\n")


def print_tasks(tasks: list[Any]) -> None:
    """A table of tasks: status, attempts, duration, error or output."""
    table = Table(show_header=True, header_style="bold")
    for column in ("task", "action", "status", "attempts", "seconds"):
        table.add_column(column, no_wrap=True)
    table.add_column("detail", overflow="ellipsis", no_wrap=True, max_width=60)
    for task in tasks:
        detail = task.error.message if task.error else task.reason
        if not detail and task.output is not None:
            detail = json.dumps(task.output, default=str)
        seconds = f"{task.duration_seconds:.2f}" if task.duration_seconds is not None else ""
        table.add_row(
            task.task_id,
            task.action_type,
            task.status.value,
            str(task.attempts),
            seconds,
            (detail or "")[:120],
        )
    console.print(table)


def print_decisions(decisions: list[Any]) -> None:
    """One line per failure decision."""
    for record in decisions:
        applied = (
            record.applied
            if record.applied == record.decision.action
            else (f"{record.decision.action} -> {record.applied}")
        )
        note = f" ({record.note})" if record.note else ""
        console.print(
            f"  decision for {record.task_id}: {applied} [{record.source}] "
            f"{record.decision.reason}{note}"
        )


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
