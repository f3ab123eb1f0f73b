"""`python cli.py eval`: a planning benchmark to run against your own model.

A suite of goals (agentic.evals.goals) runs as real runs, each planned by the configured LLM,
against the sample API, an embedded PostgreSQL and a workspace that the command starts as
`demo` does (agentic.localstack); a checker per goal judges what each run did (a file with the
right rows, a table with the right count, the right answer). The report (agentic.evals.report)
gives, per goal, whether the plan was valid the first time, after the repair round or never, the
run's outcome, the verdict and why, replans, LLM calls, tokens and seconds; and a summary.

    from agentic.evals import run_eval
    report = await run_eval(Settings(), "smoke", runs=3)
"""

from agentic.evals.checks import CheckContext, CheckFailed, RunPlace
from agentic.evals.goals import GOALS, SUITES, EvalGoal
from agentic.evals.report import EvalReport, EvalRun, EvalSummary, GoalReport, render_report
from agentic.evals.runner import DEFAULT_PARALLEL, EVAL_LLM_HELP, run_eval, suite_goals

__all__ = [
    "DEFAULT_PARALLEL",
    "EVAL_LLM_HELP",
    "GOALS",
    "SUITES",
    "CheckContext",
    "CheckFailed",
    "EvalGoal",
    "EvalReport",
    "EvalRun",
    "EvalSummary",
    "GoalReport",
    "RunPlace",
    "render_report",
    "run_eval",
    "suite_goals",
]
