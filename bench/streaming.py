"""Shape 9 of `bench/run.py`: streaming dispatch. The scripted LLM streams a plan of a chain of
GETs over a few seconds, the first task complete early in the reply; a run from the goal with
the default options (the plan streams, each task starting once it is complete and its
dependencies completed) against the same run with `stream_plan` false, which starts nothing
before the whole reply has arrived. Both with the joiner off: it would only add a request
after the tasks."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agentic.core.messages import RunOptions
from bench.history import activities, history_events, workflow_started
from bench.measures import ENGINE_QUEUE, Sizes, run_id
from bench.shapes import chain_plan
from bench.stack import BenchFailed, Stack
from bench.table import Row, at_most, compared, milliseconds, per_task, seconds
from tests.fakes.llm_server import ScriptedLLM

PLANNING_ACTIVITIES = {"plan_goal", "plan_goal_streamed"}
TODAY = "stream_plan false"
FIRST_TASK_TARGET_SECONDS = 0.6


@dataclass
class StreamedRun:
    """One goal run's figures, each from its history."""

    to_first: float  # the planning activity's start to the first task's GET at the backend
    start_to_first: float  # the run's start to the first task's GET at the backend
    seconds: float  # the run's start to its result, on the client
    events_per_task: float


async def streaming(stack: Stack, sizes: Sizes) -> list[Row]:
    """Shape 9: the planning request to the first task's start, and the whole run's time,
    streaming against not, alternated `repeats` times after a warm-up of each."""
    reply, first_at = sizes.stream_seconds, sizes.stream_first_at
    for stream in (True, False):  # warm-up: the worker's first LLM client, each path's code
        await streamed_goal(stack, sizes, stream, warm=True)
    streamed: list[StreamedRun] = []
    whole: list[StreamedRun] = []
    for _ in range(sizes.repeats):
        streamed.append(await streamed_goal(stack, sizes, stream=True))
        whole.append(await streamed_goal(stack, sizes, stream=False))

    def median(runs: list[StreamedRun], figure: str) -> float:
        return statistics.median(getattr(run, figure) for run in runs)

    events = per_task(median(streamed, "events_per_task"), median(whole, "events_per_task"))
    plan = (
        f"plan streamed over {reply:g} s ({sizes.stream_tasks} chained "
        f"{sizes.stream_task_delay:g} s GETs, task 1 complete in it at {first_at:g} s)"
    )
    to_first = median(streamed, "to_first")
    first = compared(
        "9",
        f"first task started after start --goal, {plan}: run start to its start",
        median(streamed, "start_to_first"),
        TODAY,
        median(whole, "start_to_first"),
        seconds,
        events,
    )
    return [
        first.aiming(at_most(FIRST_TASK_TARGET_SECONDS, median(streamed, "start_to_first"),
                             f"{FIRST_TASK_TARGET_SECONDS:g} s")),
        compared("9", "first task: the planning request to its start", to_first, TODAY,
                 median(whole, "to_first"), seconds),
        Row("9", "first task: streaming overhead (that minus its arrival in the reply)",
            milliseconds(to_first - first_at)),
        compared("9", "first task streamed, the whole run: time (start to result)",
                 median(streamed, "seconds"), TODAY, median(whole, "seconds"), seconds),
    ]  # fmt: skip


async def streamed_goal(
    stack: Stack, sizes: Sizes, stream: bool, warm: bool = False
) -> StreamedRun:
    """One run from a goal whose plan the LLM streams; checks that it streamed (or not) and
    that each task's GET was made once."""
    goal_id = run_id("warm-stream" if warm else "stream" if stream else "whole")
    goal = f"a chain of GETs to the bench server ({goal_id})"
    tasks = 1 if warm else sizes.stream_tasks
    plan = chain_plan(stack.api, tasks, goal_id, sizes.stream_task_delay)
    plan["goal"] = goal
    reply = sizes.stream_first_at if warm else sizes.stream_seconds
    stack.llm.script(goal_id, ScriptedLLM.streamed(plan, reply, first_at=sizes.stream_first_at))
    options = RunOptions(**{**stack.options.model_dump(), "stream_plan": stream, "joiner": "off"})
    took, result = await stack.run_engine(ENGINE_QUEUE, goal_id, goal=goal, options=options)
    expected_streamed = [task["id"] for task in plan["tasks"]] if stream else []
    if result.streamed_tasks != expected_streamed:
        raise BenchFailed(
            f"goal run {goal_id} streamed {result.streamed_tasks}, not {expected_streamed}: "
            f"{result.stream_note}"
        )
    if stack.api.repeated(goal_id):
        raise BenchFailed(f"goal run {goal_id} made requests again: {stack.api.repeated(goal_id)}")
    return await figures(stack, goal_id, plan, took)


async def figures(stack: Stack, goal_id: str, plan: dict[str, Any], took: float) -> StreamedRun:
    """A finished goal run's figures, from its history."""
    events = await history_events(stack.temporal, goal_id)
    records = activities(events)
    planning = [r.started_at for r in records if r.activity_type in PLANNING_ACTIVITIES]
    # The first task's GET at the backend: a local activity's start is in no history.
    first = stack.api.first_arrival(f"{goal_id}-01")  # chain_plan's t01
    if not planning or planning[0] is None or first is None:
        raise BenchFailed(f"goal run {goal_id}: no planning in its history, or no GET of t01")
    return StreamedRun(
        to_first=since(planning[0], first),
        start_to_first=since(workflow_started(events), first),
        seconds=took,
        events_per_task=len(events) / len(plan["tasks"]),
    )


def since(earlier: datetime, later: datetime) -> float:
    return (later - earlier).total_seconds()
