"""Joining and replanning, as pure functions: whether a run asks the joiner, what the joiner and
the replanner see of the run, the replan budget, and a patch applied to the run's plan and
tasks. No Temporal calls here."""

from __future__ import annotations

import json
from typing import Any

from agentic.core.messages import (
    PlanPatch,
    ReplanRecord,
    RunOptions,
    TaskResult,
    TaskStatus,
    TaskView,
)
from agentic.core.patches import PatchRefused, patched_plan
from agentic.core.plan import Plan
from agentic.core.secrets import redacted
from agentic.workflows.budgets import plan_over_budget

OUTPUT_PREVIEW_CHARS = 3_000  # per task: what the joiner reads of an output


def joiner_on(options: RunOptions, from_goal: bool, depth: int) -> bool:
    """Whether the run asks the joiner once its tasks ended: `on`, or `auto` for a run from a
    goal (a child run's parent reads its outputs itself)."""
    if options.joiner == "auto":
        return from_goal and depth == 0
    return options.joiner == "on"


def replans_left(options: RunOptions, replans: list[ReplanRecord]) -> int:
    """How many more patches the run may ask for (max_replans counts every one asked)."""
    return max(0, options.max_replans - len(replans))


def replan_budget_reached(options: RunOptions) -> str:
    """Why a replan is not asked for."""
    return f"budget reached: {options.max_replans} replans (max_replans {options.max_replans})"


def preview(value: Any, limit: int = OUTPUT_PREVIEW_CHARS) -> Any:
    """`value` with secret-looking keys masked; as cut JSON text when longer than `limit`."""
    masked = redacted(value)
    text = json.dumps(masked, default=str, ensure_ascii=False)
    if len(text) <= limit:
        return masked
    return f"{text[:limit]}... (preview: {len(text) - limit} more characters)"


def task_views(plan: Plan, tasks: dict[str, TaskResult]) -> list[TaskView]:
    """Each plan task with its status, output preview and error, as the LLM reads them."""
    views = []
    for task in plan.tasks:
        result = tasks[task.id]
        error = result.error.message if result.error else result.reason
        views.append(
            TaskView(
                task=redacted(task.model_dump(mode="json", by_alias=True)),
                status=result.status.value,
                output=preview(result.output) if result.status == TaskStatus.COMPLETED else None,
                error=error if result.status != TaskStatus.COMPLETED else "",
            )
        )
    return views


def apply_patch(
    plan: Plan, tasks: dict[str, TaskResult], patch: PlanPatch, options: RunOptions
) -> Plan:
    """The plan after `patch`, checked against where the tasks are now (a task the patch
    removes may have started since it was written) and the run's budgets; `PatchRefused`
    says why not."""
    statuses = {task_id: result.status.value for task_id, result in tasks.items()}
    new_plan = patched_plan(plan, statuses, patch.add, patch.remove, options.llm_action_types)
    over = plan_over_budget(new_plan, options)
    if over:
        raise PatchRefused([over])
    return new_plan


def describe_replan(record: ReplanRecord) -> str:
    """One line: `replan 1 (joiner, applied): adds a, b; removes c: <reason>`."""
    parts = []
    if record.added:
        parts.append("adds " + ", ".join(record.added))
    if record.removed:
        parts.append("removes " + ", ".join(record.removed))
    who = record.source + (f" {record.by}" if record.by else "")
    change = "; ".join(parts) or "no change"
    why = (
        f"{record.hint!r} ({record.reason})"
        if record.hint and record.reason
        else (record.hint or record.reason)
    )
    note = f" [{record.note}]" if record.note else ""
    return (
        f"replan {record.number} ({who}, {record.status}): {change}"
        + (f": {why}" if why else "")
        + note
    )
