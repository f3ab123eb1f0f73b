"""The shapes `bench/run.py` measures, each a function of the stack and the sizes that returns
its table rows. The engine always runs with its default run options (approval "none")."""

from __future__ import annotations

import asyncio
import statistics
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from bench.bare import MapInput, PipelineInput
from bench.history import (
    history_events,
    history_length,
    history_lengths,
)
from bench.shapes import chain_plan, fan_out_plan, map_plan, pipeline_plan
from bench.stack import BenchFailed, Stack
from bench.table import Row, Target, at_most, compared, megabytes, milliseconds, per_task, seconds
from tests.fakes.llm_server import ScriptedLLM

ENGINE_QUEUE = "engine"
BARE_QUEUE = "bare"
LANGGRAPH = "LangGraph+SQLite"
BARE = "bare Temporal"


@dataclass(frozen=True)
class Sizes:
    """How big each shape is: the full run's, or `--quick`'s."""

    chain_steps: int
    load_runs: tuple[int, ...]
    crash_tasks: int
    crash_at: int
    llm_delay: float
    repeats: int
    pipeline_users: int = 100
    pipeline_repeats: int = 10  # a run takes tens of milliseconds: a few more, for a median
    load_repeats: int = 2  # the best of these: the dev server stalls now and then, under load
    fan_out_calls: int = 16
    fan_out_delay: float = 0.5
    crash_delay: float = 0.2
    # The workflow task timeouts of the runs killed with a local read in flight (None: the
    # default, 10 s): the next worker takes over when the dead one's workflow task times out.
    crash_task_timeouts: tuple[float | None, ...] = (None, 2.0)
    shape_timeout: float = 600  # seconds; a shape taking longer is reported as failed
    map_items: int = 1000
    large_map_items: int = 10_000
    many_runs: int = 10_000  # shape 4's runs at once on one worker, for its peak RSS
    stream_tasks: int = 10
    stream_seconds: float = 5.0  # the streamed plan's reply, from the request to its end
    stream_first_at: float = 0.5  # when the reply's first task is complete
    stream_task_delay: float = 0.5  # each task's GET


FULL = Sizes(
    chain_steps=50, load_runs=(200, 1000), crash_tasks=20, crash_at=8, llm_delay=1.0, repeats=3
)
QUICK = Sizes(
    chain_steps=10,
    load_runs=(20,),
    crash_tasks=6,
    crash_at=3,
    llm_delay=0.3,
    repeats=1,
    pipeline_repeats=2,
    load_repeats=1,
    shape_timeout=120,
    map_items=100,
    large_map_items=250,  # past 200: the archive's path
    crash_task_timeouts=(2.0,),  # 10 s is only waiting
    many_runs=40,
    stream_seconds=1.0,
    stream_first_at=0.1,
    stream_task_delay=0.05,
)


def run_id(name: str) -> str:
    return f"bench-{name}-{uuid.uuid4().hex[:8]}"


@dataclass
class ChainFigures:
    """Shape 1 on one server: the median time per step, and the history events per task."""

    engine_step: float
    bare_step: float
    engine_events: float
    bare_events: float


async def chain(stack: Stack, sizes: Sizes, langgraph: bool) -> list[Row]:
    """Shape 1: per-step time of a chain of GETs, engine vs bare on the dev server in memory
    and on the one on a file (vs LangGraph+SQLite, which writes a file too). Each server's
    workers serve ENGINE_QUEUE and BARE_QUEUE."""
    on_file = await stack.on_file()  # its workers on ENGINE_QUEUE and BARE_QUEUE started
    in_memory = await chain_steps(stack, sizes)
    persisted = await chain_steps(on_file, sizes)

    def measure(where: Stack) -> str:
        return f"{sizes.chain_steps}-step chain of GETs, {where.where}: time per step"

    rows = [
        compared("1", measure(server), figures.engine_step, BARE, figures.bare_step,
                 milliseconds, per_task(figures.engine_events, figures.bare_events))
        for server, figures in ((stack, in_memory), (on_file, persisted))
    ]  # fmt: skip
    if langgraph:
        steps = str(sizes.chain_steps)
        graph = await stack.run_langgraph("chain", "--url", stack.api.url, "--steps", steps)
        graph_step = graph["seconds"] / sizes.chain_steps
        graph_rows = graph["checkpoint_rows"] / sizes.chain_steps
        on_files = compared(
            "1",
            measure(on_file),
            persisted.engine_step,
            LANGGRAPH,
            graph_step,
            milliseconds,
            per_task(persisted.engine_events, graph_rows, " rows"),
        )
        rows += [
            on_files.aiming(at_most(1.0, on_files.ratio, "1.0x (both on files)")),
            compared("1", measure(stack), in_memory.engine_step, LANGGRAPH, graph_step,
                     milliseconds, per_task(in_memory.engine_events, graph_rows, " rows")),
        ]  # fmt: skip
    return rows


async def chain_steps(stack: Stack, sizes: Sizes) -> ChainFigures:
    """The chain on `stack`'s server, engine and bare alternated, after a short run of each."""
    steps = sizes.chain_steps
    urls = [stack.api.work_url(f"bare-{step:02d}") for step in range(1, steps + 1)]
    await stack.run_engine(ENGINE_QUEUE, run_id("warm"), plan=chain_plan(stack.api, 3, "warm"))
    await stack.run_bare(BARE_QUEUE, "BareChain", urls[:3], run_id("warm"))
    engine_times, bare_times = [], []
    for _ in range(sizes.repeats):  # alternated, so drift hits both alike
        engine_id, bare_id = run_id("chain"), run_id("bare-chain")
        plan = chain_plan(stack.api, steps, engine_id)
        engine_times.append((await stack.run_engine(ENGINE_QUEUE, engine_id, plan=plan))[0] / steps)
        bare_times.append((await stack.run_bare(BARE_QUEUE, "BareChain", urls, bare_id))[0] / steps)
    return ChainFigures(
        statistics.median(engine_times),
        statistics.median(bare_times),
        await history_length(stack.temporal, engine_id) / steps,
        await history_length(stack.bare, bare_id) / steps,
    )


async def pipeline(stack: Stack, sizes: Sizes) -> list[Row]:
    """Shape 2: fetch -> 3 transforms -> write, engine vs bare, after a run of each to warm up."""
    engine_times, bare_times = [], []
    for _repeat in range(sizes.pipeline_repeats + 1):  # alternated, so drift hits both alike
        engine_id, bare_id = run_id("pipeline"), run_id("bare-pipeline")
        plan = pipeline_plan(stack.api, sizes.pipeline_users, f"bench/{engine_id}.json")
        engine_times.append((await stack.run_engine(ENGINE_QUEUE, engine_id, plan=plan))[0])
        bare_input = PipelineInput(
            stack.api.users_url(sizes.pipeline_users), f"bench/{bare_id}.json"
        )
        bare_times.append(
            (await stack.run_bare(BARE_QUEUE, "BarePipeline", bare_input, bare_id))[0]
        )
    tasks = len(plan["tasks"])
    engine_times, bare_times = engine_times[1:], bare_times[1:]  # without the warm-up runs
    engine_time, bare_time = statistics.median(engine_times), statistics.median(bare_times)
    events = per_task(
        await history_length(stack.temporal, engine_id) / tasks,
        await history_length(stack.bare, bare_id) / tasks,
    )
    measure = "fetch -> 3 transforms -> write: run time"
    return [compared("2", measure, engine_time, BARE, bare_time, milliseconds, events)]


async def fan_out(stack: Stack, sizes: Sizes) -> list[Row]:
    """Shape 3: independent slow calls with the default options, vs the critical path and
    vs one at a time."""
    calls, delay = sizes.fan_out_calls, sizes.fan_out_delay
    times = []
    for _ in range(sizes.repeats):
        engine_id = run_id("fan-out")
        plan = fan_out_plan(stack.api, calls, engine_id, delay)
        times.append((await stack.run_engine(ENGINE_QUEUE, engine_id, plan=plan))[0])
    engine_time = statistics.median(times)
    events = per_task(await history_length(stack.temporal, engine_id) / calls)
    measure = (
        f"{calls} x {delay:g} s independent calls, default options "
        f"(max_parallel {stack.options.max_parallel})"
    )
    return [
        compared("3", measure, engine_time, "critical path", delay, seconds, events),
        compared("3", measure, engine_time, "one at a time", calls * delay, seconds, events),
    ]


async def for_each(stack: Stack, sizes: Sizes) -> list[Row]:
    """Shape 8: a for-each of GETs against bare Temporal starting as many activities from one
    workflow, as many at a time."""
    items, options = sizes.map_items, stack.options
    parallel = min(options.max_parallel, options.max_parallel_per_host or options.max_parallel)
    bare_input = MapInput([stack.api.work_url(f"bare-map-{item}") for item in range(items)],
                          parallel)  # fmt: skip
    engine_times, bare_times = [], []
    for _ in range(sizes.repeats):  # alternated, so drift hits both alike
        engine_id, bare_id = run_id("map"), run_id("bare-map")
        plan = map_plan(stack.api, items, engine_id)
        engine_times.append((await stack.run_engine(ENGINE_QUEUE, engine_id, plan=plan))[0])
        bare_times.append((await stack.run_bare(BARE_QUEUE, "BareMap", bare_input, bare_id))[0])
    engine_events = await history_lengths(stack.temporal, engine_id)
    bare_events = await history_length(stack.bare, bare_id)
    events = per_task(sum(engine_events) / items, bare_events / items)
    measure = f"for-each of {items:,} GETs, {parallel} at a time (one host): run time"
    row = compared("8", measure, statistics.median(engine_times), BARE,
                   statistics.median(bare_times), seconds, events)  # fmt: skip
    return [row.aiming(at_most(0.5, row.ratio, "0.5x"))]


@dataclass
class MapFigures:
    """One for-each run on the large map's worker: its time, its histories' lengths, the
    worker's peak RSS after it."""

    seconds: float
    lengths: list[int]
    peak_rss_mb: float


async def large_for_each(stack: Stack, sizes: Sizes) -> list[Row]:
    """Shape 10: a for-each of `large_map_items` GETs on a worker of its own, against a
    for-each of `map_items` run on the same worker just before: time, events per history (it
    continues as new), the worker's peak RSS."""
    queue, small, large = "large-map", sizes.map_items, sizes.large_map_items
    worker = stack.engine_worker(queue)
    await asyncio.to_thread(worker.wait_ready)

    async def one(items: int) -> MapFigures:
        map_id = run_id(f"map-{items}")
        took, _ = await stack.run_engine(queue, map_id, plan=map_plan(stack.api, items, map_id))
        return MapFigures(took, await history_lengths(stack.temporal, map_id), worker.peak_rss_mb())

    before, after = await one(small), await one(large)
    worker.stop()
    times = f"{large / small:g} x a {small:,}-item for-each"
    measure = f"for-each of {large:,} GETs"
    largest = f"{measure}: events per history (the largest of {len(after.lengths)})"
    return [
        compared("10", f"{measure}: run time", after.seconds, times,
                 before.seconds * large / small, seconds).aiming(Target("reported")),
        compared("10", largest, max(after.lengths), f"a {small:,}-item for-each",
                 max(before.lengths), count).aiming(at_most(10_000, max(after.lengths), "10,000")),
        compared("10", f"{measure}: worker peak RSS", after.peak_rss_mb,
                 f"after a {small:,}-item for-each", before.peak_rss_mb,
                 megabytes).aiming(Target("reported")),
    ]  # fmt: skip


def count(value: float) -> str:
    return f"{value:,.0f}"


async def planning(stack: Stack, sizes: Sizes) -> list[Row]:
    """Shape 6: `start --goal` to the first task's start (its GET at the backend), the LLM
    answering a plan
    after a fixed delay; the overhead is that time minus the delay."""
    delay = sizes.llm_delay
    await plan_goal(stack, delay)  # warm-up: the worker's first LLM client
    elapsed, events = [], 0.0
    for _ in range(sizes.repeats):
        seconds_to_first, events = await plan_goal(stack, delay)
        elapsed.append(seconds_to_first)
    to_first = statistics.median(elapsed)
    measure = f"start --goal to the first task's start (LLM answers in {delay:g} s)"
    return [
        compared("6", measure, to_first, "LLM delay", delay, seconds, per_task(events)),
        Row("6", "planning overhead (that minus the LLM's delay)", milliseconds(to_first - delay)),
    ]


async def plan_goal(stack: Stack, delay: float) -> tuple[float, float]:
    """One goal run: (seconds from the start call to its first task's GET reaching the
    backend, events/task)."""
    goal_id = run_id("goal")
    goal = f"call the bench server once ({goal_id})"
    plan = {
        "goal": goal,
        "tasks": [
            {
                "id": "first",
                "action_type": "api_call",
                "action_config": {"url": stack.api.work_url(goal_id)},
            }
        ],
    }
    stack.llm.script(goal_id, ScriptedLLM.slow(delay, plan))
    started = datetime.now(UTC)
    # The joiner is off: this shape measures the way to the first task, not the answer.
    options = stack.options.model_copy(update={"joiner": "off"})
    await stack.run_engine(ENGINE_QUEUE, goal_id, goal=goal, options=options)
    events = await history_events(stack.temporal, goal_id)
    first = stack.api.first_arrival(goal_id)  # a local activity's start is in no history
    if first is None:
        raise BenchFailed(f"goal run {goal_id} started no task")
    return (first - started).total_seconds(), len(events) / len(plan["tasks"])
