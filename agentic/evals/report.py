"""What `eval` reports: each run, each goal over its runs, the suite's summary; as JSON (the
models) and as a table for people (`render_report`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field
from rich.console import Group
from rich.table import Table
from rich.text import Text

from agentic.core.metrics import percentile

PlanValidity = Literal["first_time", "after_repair", "never", "none"]
# Wide enough for the start of a reason; the whole one is under the table.
WHY_MAX_CHARS = 48
PLAN_LABELS: dict[str, str] = {
    "first_time": "first time",
    "after_repair": "after repair",
    "never": "never",
    "none": "no reply",
}


class EvalRun(BaseModel):
    """One run of one goal: how its planning went, how it ended, what its checker found, and
    what it cost."""

    goal_id: str
    difficulty: str
    number: int = Field(description="1 for the goal's first run, 2 for the next, ...")
    workflow_id: str
    goal: str = Field(description="the goal's text as the run got it")
    status: str = Field(description="the run's status, or 'no result' when it has none")
    error: str | None = None
    plan_valid: PlanValidity = Field(
        description="whether the planner's plan was valid the first time, after the repair "
        "round, never, or whether no planning reply came at all"
    )
    passed: bool
    reason: str = Field(description="what the checker found, or why the run failed its goal")
    replans: int = Field(0, description="plan patches applied (joiner, analyst)")
    llm_calls: int = 0
    tokens: int = 0
    seconds: float = Field(description="from the run's start to its result, as the client saw")
    models: list[str] = Field(default_factory=list, description="the models that answered")


class GoalReport(BaseModel):
    """A goal over its runs (one per --runs)."""

    goal_id: str
    difficulty: str
    passed: int
    success_rate: float
    plan_valid: dict[str, int] = Field(description="runs by plan validity")
    statuses: dict[str, int] = Field(description="runs by outcome")
    mean_replans: float
    mean_llm_calls: float
    mean_tokens: float
    p50_seconds: float | None
    runs: list[EvalRun]


class EvalSummary(BaseModel):
    """The whole suite: success rate, cost per success, time per run."""

    runs: int
    passed: int
    success_rate: float
    by_difficulty: dict[str, str] = Field(description="passed/runs for each difficulty")
    plan_valid: dict[str, int]
    replans: int
    llm_calls: int
    tokens: int
    tokens_per_success: float | None = Field(description="every run's tokens per run passed")
    p50_seconds: float | None
    p95_seconds: float | None
    models: list[str]


class EvalReport(BaseModel):
    """What `eval --json` prints: one object with a row per goal and the summary."""

    suite: str
    runs_per_goal: int
    parallel: int
    workspace: str = Field(description="where the runs' folders are (eval/<workflow id>/)")
    goals: list[GoalReport]
    summary: EvalSummary


def _rate(passed: int, total: int) -> float:
    return round(passed / total, 4) if total else 0.0


def _mean(values: Sequence[float]) -> float:
    return round(sum(values) / len(values), 2) if values else 0.0


def goal_report(runs: list[EvalRun]) -> GoalReport:
    """One goal's runs, aggregated."""
    passed = sum(run.passed for run in runs)
    return GoalReport(
        goal_id=runs[0].goal_id,
        difficulty=runs[0].difficulty,
        passed=passed,
        success_rate=_rate(passed, len(runs)),
        plan_valid=dict(Counter(run.plan_valid for run in runs)),
        statuses=dict(Counter(run.status for run in runs)),
        mean_replans=_mean([run.replans for run in runs]),
        mean_llm_calls=_mean([run.llm_calls for run in runs]),
        mean_tokens=_mean([run.tokens for run in runs]),
        p50_seconds=percentile([run.seconds for run in runs], 50),
        runs=sorted(runs, key=lambda run: run.number),
    )


def summarize(runs: list[EvalRun]) -> EvalSummary:
    """The suite's numbers over every run."""
    passed = sum(run.passed for run in runs)
    tokens = sum(run.tokens for run in runs)
    seconds = [run.seconds for run in runs]
    by_difficulty = {}
    for difficulty in dict.fromkeys(run.difficulty for run in runs):
        of_level = [run for run in runs if run.difficulty == difficulty]
        by_difficulty[difficulty] = f"{sum(run.passed for run in of_level)}/{len(of_level)}"
    return EvalSummary(
        runs=len(runs),
        passed=passed,
        success_rate=_rate(passed, len(runs)),
        by_difficulty=by_difficulty,
        plan_valid=dict(Counter(run.plan_valid for run in runs)),
        replans=sum(run.replans for run in runs),
        llm_calls=sum(run.llm_calls for run in runs),
        tokens=tokens,
        tokens_per_success=round(tokens / passed, 1) if passed else None,
        p50_seconds=percentile(seconds, 50),
        p95_seconds=percentile(seconds, 95),
        models=sorted({model for run in runs for model in run.models}),
    )


def build_report(
    suite: str, goal_ids: list[str], runs: list[EvalRun], runs_per_goal: int, parallel: int,
    workspace: str,
) -> EvalReport:  # fmt: skip
    """The report of a suite's runs, goals in the suite's order."""
    goals = [goal_report([run for run in runs if run.goal_id == goal_id]) for goal_id in goal_ids]
    return EvalReport(
        suite=suite,
        runs_per_goal=runs_per_goal,
        parallel=parallel,
        workspace=workspace,
        goals=[goal for goal in goals if goal.runs],
        summary=summarize(runs),
    )


# ----- for people -----------------------------------------------------------------------------


def _counts(counts: dict[str, int], labels: dict[str, str] | None = None) -> str:
    """`completed` when every run agrees, else `2 completed, 1 failed`."""
    named = {(labels or {}).get(key, key): count for key, count in counts.items()}
    if len(named) == 1:
        return next(iter(named))
    return ", ".join(f"{count} {name}" for name, count in named.items())


def _why(goal: GoalReport) -> str:
    """The checker's finding for one run; for several, each failure's."""
    if len(goal.runs) == 1:
        return goal.runs[0].reason
    failures = [f"#{run.number}: {run.reason}" for run in goal.runs if not run.passed]
    return "; ".join(failures)


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def goals_table(report: EvalReport) -> Table:
    """One row per goal: plan valid, outcome, verdict and why, replans, LLM calls, tokens,
    seconds (means and the median over the goal's runs when there are several)."""
    table = Table(show_header=True, header_style="bold")
    for column in ("goal", "plan valid", "outcome", "check"):
        table.add_column(column, no_wrap=True)
    for column in ("replans", "LLM calls", "tokens", "seconds"):
        table.add_column(column, no_wrap=True, justify="right")
    table.add_column("why", overflow="ellipsis", no_wrap=True, max_width=WHY_MAX_CHARS)
    for goal in report.goals:
        count = len(goal.runs)
        verdict = "pass" if goal.passed == count else "fail"
        if count > 1:
            verdict = f"{goal.passed}/{count} pass"
        style = "green" if goal.passed == count else ("red" if goal.passed == 0 else "yellow")
        table.add_row(
            Text(goal.goal_id),
            Text(_counts(goal.plan_valid, PLAN_LABELS)),
            Text(_counts(goal.statuses)),
            Text(verdict, style=style),
            _number(goal.mean_replans),
            _number(goal.mean_llm_calls),
            f"{goal.mean_tokens:,.0f}",
            f"{goal.p50_seconds or 0:.1f}",
            Text(_why(goal)),
        )
    return table


def summary_lines(report: EvalReport) -> list[str]:
    """The summary: success rate (by difficulty), plans, replans, cost, time."""
    summary = report.summary
    plans = _counts(summary.plan_valid, PLAN_LABELS) if summary.plan_valid else "none"
    levels = ", ".join(f"{level} {rate}" for level, rate in summary.by_difficulty.items())
    per_success = (
        _number(summary.tokens_per_success) if summary.tokens_per_success is not None else "-"
    )
    return [
        f"success: {summary.passed}/{summary.runs} runs ({summary.success_rate:.0%}); {levels}",
        f"plans valid: {plans}; replans: {summary.replans}",
        f"LLM calls: {summary.llm_calls}; tokens: {summary.tokens:,}; "
        f"tokens per success: {per_success}",
        f"time per run: p50 {summary.p50_seconds or 0:.1f} s, p95 {summary.p95_seconds or 0:.1f} s",
    ]


def failure_lines(report: EvalReport) -> list[str]:
    """Each run that failed its check: its workflow id and the whole reason."""
    failed = [run for goal in report.goals for run in goal.runs if not run.passed]
    lines = [f"  {run.goal_id} #{run.number} ({run.workflow_id}): {run.reason}" for run in failed]
    return ["failed runs:", *lines] if lines else []


def render_report(report: EvalReport) -> Group:
    """The report for people: a header, the goals' table, the runs that failed and why, the
    summary."""
    models = ", ".join(report.summary.models) or "none answered"
    runs = "run" if report.runs_per_goal == 1 else "runs"
    header = (
        f"eval suite {report.suite}: {len(report.goals)} goals x {report.runs_per_goal} {runs}, "
        f"model: {models}"
    )
    footer = f"each run's files: {report.workspace}/eval/<workflow id>/"
    lines = [Text(line) for line in [*failure_lines(report), *summary_lines(report)]]
    return Group(Text(header, style="bold"), goals_table(report), *lines, Text(footer))
