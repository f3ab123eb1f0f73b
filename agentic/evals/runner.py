"""Running a suite: the local stack (as `demo` starts it), each goal as a real run planned by the
configured LLM, a few at a time, each checked once it ended."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack

import structlog

from agentic.client import AgentClient
from agentic.core.messages import RunOptions, RunResult
from agentic.evals.checks import CheckContext, CheckFailed, RunPlace
from agentic.evals.goals import SUITES, EvalGoal
from agentic.evals.report import EvalReport, EvalRun, PlanValidity, build_report
from agentic.localstack import LocalStack, start_local_stack
from agentic.settings import Settings

logger = structlog.get_logger("agentic.evals")

DEFAULT_PARALLEL = 4
# A run of the suite that has not ended by then fails (a plan that waits for hours, an LLM
# that never answers): the report says so instead of waiting.
RUN_SECONDS_LIMIT = 900.0
INVALID_PLAN = "the planner's reply was not a valid plan"
EVAL_LLM_HELP = (
    "eval runs goals that an LLM plans, and no LLM is configured: set OPENAI_BASE_URL (an "
    "OpenAI-compatible server: vLLM, llama.cpp, Ollama) and OPENAI_MODEL, or OPENAI_API_KEY "
    "(OpenAI), or LLM_ENDPOINTS"
)


def suite_goals(suite: str) -> list[EvalGoal]:
    """The goals of a named suite; a ValueError names the suites there are."""
    if suite not in SUITES:
        raise ValueError(f"no suite {suite!r}; the suites are: {', '.join(SUITES)}")
    return SUITES[suite]


async def run_eval(
    settings: Settings,
    suite: str,
    *,
    runs: int = 1,
    parallel: int = DEFAULT_PARALLEL,
    on_run: Callable[[EvalRun], None] | None = None,
) -> EvalReport:
    """Start the local stack, run every goal of `suite` `runs` times (at most `parallel` runs
    at once), check each run, stop what was started; the report. `on_run` hears of each run
    as it is checked."""
    goals = suite_goals(suite)
    queue = f"agentic-eval-{uuid.uuid4().hex[:8]}"  # no other eval's worker takes our tasks
    async with AsyncExitStack() as resources:
        stack = await start_local_stack(settings, resources, queue, "eval")
        client = await AgentClient.connect(stack.settings)
        slots = asyncio.Semaphore(parallel)

        async def run_one(goal: EvalGoal, number: int) -> EvalRun:
            async with slots:
                eval_run = await run_goal(client, stack, suite, goal, number)
            if on_run is not None:
                on_run(eval_run)
            return eval_run

        eval_runs = await asyncio.gather(
            *(run_one(goal, number) for number in range(1, runs + 1) for goal in goals)
        )
    workspace = str(settings.workspace_dir)
    goal_ids = [goal.id for goal in goals]
    return build_report(suite, goal_ids, list(eval_runs), runs, parallel, workspace)


def run_place(stack: LocalStack, workflow_id: str) -> RunPlace:
    """A run's own folder (named by its workflow id) and table, so that no run sees another's
    effects."""
    table = re.sub(r"[^a-z0-9_]", "_", workflow_id.lower())[:63]
    return RunPlace(url=stack.sample_api.url, folder=f"eval/{workflow_id}", table=table)


async def run_goal(
    client: AgentClient, stack: LocalStack, suite: str, goal: EvalGoal, number: int
) -> EvalRun:
    """One run of a goal, planned by the LLM, approval none; checked once it ended."""
    workflow_id = f"eval-{suite}-{goal.id}-{number}-{uuid.uuid4().hex[:6]}"
    place = run_place(stack, workflow_id)
    text = goal.text_for(place)
    options = RunOptions(approval="none", max_run_seconds=RUN_SECONDS_LIMIT)
    started = time.monotonic()
    row = {"goal_id": goal.id, "difficulty": goal.difficulty, "number": number,
           "workflow_id": workflow_id, "goal": text}  # fmt: skip
    try:
        result = await client.run(goal=text, options=options, workflow_id=workflow_id)
    except Exception as error:  # one run that cannot be had is that run's failure, not the eval's
        logger.debug("eval_run_failed", workflow_id=workflow_id, exc_info=True)
        return EvalRun(**row, status="no result", error=str(error), plan_valid="none",
                       passed=False, reason=f"the run has no result: {error}",
                       seconds=time.monotonic() - started)  # fmt: skip
    seconds = time.monotonic() - started
    context = CheckContext(place, result, stack.settings.workspace_dir, stack.database_url,
                           stack.sample_api)  # fmt: skip
    passed, reason = await verdict(goal, context)
    return EvalRun(
        **row,
        status=result.status.value,
        error=result.error,
        plan_valid=plan_validity(result),
        passed=passed,
        reason=reason,
        replans=sum(record.status == "applied" for record in result.replans),
        llm_calls=max(result.usage.calls, len(result.llm_calls)),
        tokens=result.usage.total_tokens,
        seconds=round(seconds, 2),
        models=sorted({call.model for call in result.llm_calls}),
    )


async def verdict(goal: EvalGoal, context: CheckContext) -> tuple[bool, str]:
    """The checker's verdict and why. It judges what the run did (its answer, files, rows),
    whatever its status: a run that reached its goal and then failed a needless task passes."""
    try:
        return True, await goal.check(context)
    except CheckFailed as failure:
        error = context.result.error
        return False, f"{failure} (the run failed: {error})" if error else str(failure)
    except Exception as error:  # a checker's bug must not hide the other runs' verdicts
        logger.debug("eval_check_failed", goal=goal.id, exc_info=True)
        return False, f"the check could not run: {type(error).__name__}: {error}"


def plan_validity(result: RunResult) -> PlanValidity:
    """Valid the first time (one planning call), after the repair round (two), never (the run
    failed on the planner's reply), or `none` (no planning reply came)."""
    if result.error and result.error.startswith(INVALID_PLAN):
        return "never"
    planning_calls = sum(call.purpose == "plan" for call in result.llm_calls)
    if planning_calls == 0:
        return "none"
    return "first_time" if planning_calls == 1 else "after_repair"
