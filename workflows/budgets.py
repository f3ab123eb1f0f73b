"""Budgets, as pure functions: what a run may plan, spend on LLM calls and poll. A budget that
is reached ends the run with a reason naming it. Counts come from the run's own state (so from
its history: replay never counts twice)."""

from __future__ import annotations

from agentic.core.messages import RunOptions, TokenUsage
from agentic.core.plan import Plan


def plan_over_budget(plan: Plan, options: RunOptions) -> str | None:
    """Why the plan is too big for the run (None when it is not)."""
    if len(plan.tasks) > options.max_tasks:
        return (
            f"budget reached: the plan has {len(plan.tasks)} tasks, more than max_tasks "
            f"({options.max_tasks})"
        )
    for task in plan.tasks:
        if isinstance(task.for_each, list) and len(task.for_each) > options.max_items:
            return (
                f"budget reached: task {task.id!r} has {len(task.for_each)} items, more than "
                f"max_items ({options.max_items}); raise RUN_MAX_ITEMS or split the list"
            )
        if task.repeat is not None and task.repeat.max > options.max_items:
            return (
                f"budget reached: task {task.id!r} may repeat {task.repeat.max} times, more "
                f"than max_items ({options.max_items}); lower its repeat.max or raise "
                "RUN_MAX_ITEMS"
            )
    return None


def llm_over_budget(usage: TokenUsage, options: RunOptions) -> str | None:
    """Why no more LLM calls may be made (None when they may)."""
    if usage.calls >= options.max_llm_calls:
        return f"budget reached: {usage.calls} LLM calls (max_llm_calls {options.max_llm_calls})"
    if usage.total_tokens >= options.max_llm_tokens:
        return (
            f"budget reached: {usage.total_tokens} LLM tokens (max_llm_tokens "
            f"{options.max_llm_tokens})"
        )
    if options.max_cost_usd is not None and usage.cost_usd >= options.max_cost_usd:
        return (
            f"budget reached: the LLM calls cost ${usage.cost_usd:.4f} (max_cost_usd "
            f"{options.max_cost_usd:g})"
        )
    return None


def poll_interval(interval: float, options: RunOptions) -> float:
    """The interval a poll waits between checks: at least poll_min_interval_seconds."""
    return max(interval, options.poll_min_interval_seconds)


def polls_exhausted(checks: int, options: RunOptions) -> str | None:
    """Why a poll may check no more (None when it may)."""
    if checks >= options.poll_max_checks:
        return f"budget reached: {checks} checks (poll_max_checks {options.poll_max_checks})"
    return None


def run_time_exceeded(seconds: float, options: RunOptions) -> str | None:
    """Why the run must stop for time (None when it need not)."""
    if options.max_run_seconds is not None and seconds >= options.max_run_seconds:
        return (
            f"budget reached: the run took {seconds:.0f}s (max_run_seconds "
            f"{options.max_run_seconds:g})"
        )
    return None


def left_for_child(options: RunOptions, usage: TokenUsage, elapsed_seconds: float) -> RunOptions:
    """A child run's options: the parent's, with the LLM calls, tokens and time it has left."""
    seconds = options.max_run_seconds
    return options.model_copy(
        update={
            "max_llm_calls": max(0, options.max_llm_calls - usage.calls),
            "max_llm_tokens": max(0, options.max_llm_tokens - usage.total_tokens),
            "max_cost_usd": None
            if options.max_cost_usd is None
            else max(1e-9, options.max_cost_usd - usage.cost_usd),
            "max_run_seconds": None if seconds is None else max(1.0, seconds - elapsed_seconds),
        }
    )
