"""The shapes `bench/run.py` measures, each a function of the stack and the sizes that returns
its table rows. The engine always runs with its default run options (approval "none")."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agentic.client import RunHandle
from agentic.core.messages import RunResult, TaskStatus
from bench.bare import LoadInput, MapInput, PipelineInput
from bench.history import (
    activities,
    first_start,
    history_events,
    history_length,
    history_lengths,
    ran_more_than_once,
    retry_causes,
)
from bench.load import TASKS_PER_RUN, expected_check, load_plan
from bench.shapes import chain_plan, fan_out_plan, map_plan, pipeline_plan
from bench.stack import BenchFailed, Stack
from bench.table import Row, compared, megabytes, milliseconds, per_second, per_task, seconds
from bench.workers import WorkerProcess, wait_all
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
    shape_timeout: float = 600  # seconds; a shape taking longer is reported as failed
    map_items: int = 1000
    large_map_items: int = 10_000
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
    crash_tasks=8,
    crash_at=4,
    llm_delay=0.3,
    repeats=1,
    pipeline_repeats=2,
    load_repeats=1,
    shape_timeout=120,
    map_items=100,
    large_map_items=250,  # past 200: the archive's path
    stream_seconds=1.0,
    stream_first_at=0.1,
    stream_task_delay=0.05,
)


def run_id(name: str) -> str:
    return f"bench-{name}-{uuid.uuid4().hex[:8]}"


async def chain(stack: Stack, sizes: Sizes, langgraph: bool) -> list[Row]:
    """Shape 1: per-step time of a chain of GETs, engine vs bare (vs LangGraph)."""
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
    engine_step, bare_step = statistics.median(engine_times), statistics.median(bare_times)
    engine_events = await history_length(stack.temporal, engine_id) / steps
    bare_events = await history_length(stack.bare, bare_id) / steps
    measure = f"{steps}-step chain of GETs: time per step"
    events = per_task(engine_events, bare_events)
    rows = [compared("1", measure, engine_step, BARE, bare_step, milliseconds, events)]
    if langgraph:
        figures = await stack.run_langgraph("chain", "--url", stack.api.url, "--steps", str(steps))
        graph_step = figures["seconds"] / steps
        events = per_task(engine_events, figures["checkpoint_rows"] / steps, " rows")
        rows.append(
            compared("7", measure, engine_step, LANGGRAPH, graph_step, milliseconds, events)
        )
    return rows


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
    workflow; then a large for-each alone: its time, its largest history, its worker's peak
    RSS (a worker of its own)."""
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
    measure = f"for-each of {items} GETs, {parallel} at a time (one host): run time"
    rows = [compared("8", measure, statistics.median(engine_times), BARE,
                     statistics.median(bare_times), seconds, events)]  # fmt: skip
    return rows + await large_map(stack, sizes)


async def large_map(stack: Stack, sizes: Sizes) -> list[Row]:
    """A for-each of `large_map_items` GETs on a worker of its own."""
    items, queue = sizes.large_map_items, "large-map"
    worker = stack.engine_worker(queue)
    await asyncio.to_thread(worker.wait_ready)
    map_id = run_id("large-map")
    took, _ = await stack.run_engine(queue, map_id, plan=map_plan(stack.api, items, map_id))
    rss = worker.peak_rss_mb()
    worker.stop()
    lengths = await history_lengths(stack.temporal, map_id)
    histories = f"{len(lengths)} histories, the largest {max(lengths)} events"
    return [
        Row("8", f"for-each of {items:,} GETs: run time", seconds(took)),
        Row("8", f"for-each of {items:,} GETs: histories (continue-as-new)", histories),
        Row("8", f"for-each of {items:,} GETs: worker peak RSS", megabytes(rss)),
    ]


async def load(stack: Stack, sizes: Sizes, runs: int, langgraph: bool) -> list[Row]:
    """Shape 4: `runs` runs of bench/load.py's 5-task plan at once on one worker process,
    engine vs bare (vs LangGraph): runs/s (the best of `load_repeats`), the worker's peak RSS,
    the CPU the worker and the server spent per run (over every round), and what ran twice."""
    engine_queue, bare_queue = f"load-engine-{runs}", f"load-bare-{runs}"
    engine_worker, bare_worker = stack.engine_worker(engine_queue), stack.bare_worker(bare_queue)
    await asyncio.to_thread(wait_all, engine_worker, bare_worker)
    await engine_load(stack, engine_queue, 1, run_id("warm"))
    await bare_load(stack, bare_queue, 1, run_id("warm"))
    engines, bares = [], []
    engine_cpu, bare_cpu = CpuUse(), CpuUse()
    for _repeat in range(sizes.load_repeats):  # alternated, so drift hits both alike
        with engine_cpu.counting(stack, engine_worker):
            engines.append(await engine_load(stack, engine_queue, runs, run_id("load")))
        with bare_cpu.counting(stack, bare_worker):
            bares.append(await bare_load(stack, bare_queue, runs, run_id("bare-load")))
    engine = min(engines, key=lambda figures: figures.seconds)
    bare = min(bares, key=lambda figures: figures.seconds)
    all_runs = runs * sizes.load_repeats
    rounds = f"{sizes.load_repeats} round" + ("s" if sizes.load_repeats > 1 else "")
    retried = sum(figures.retried for figures in engines)
    causes = sum((figures.retry_causes for figures in engines), Counter[str]())
    repeated = sum(figures.repeated_requests for figures in engines)
    bare_repeated = sum(figures.repeated_requests for figures in bares)
    engine_rss, bare_rss = engine_worker.peak_rss_mb(), bare_worker.peak_rss_mb()
    engine_worker.stop()
    bare_worker.stop()
    engine_rate, bare_rate = runs / engine.seconds, runs / bare.seconds
    engine_events = await history_length(stack.temporal, engine.first_id) / TASKS_PER_RUN
    bare_events = await history_length(stack.bare, bare.first_id) / TASKS_PER_RUN
    best = f" (best of {sizes.load_repeats})" if sizes.load_repeats > 1 else ""
    measure = f"{runs} runs x {TASKS_PER_RUN} tasks at once, one worker: runs/s{best}"
    memory = f"{runs} runs at once: worker peak RSS"
    events = per_task(engine_events, bare_events)
    rows = [
        compared("4", measure, engine_rate, BARE, bare_rate, per_second, events),
        compared("4", memory, engine_rss, BARE, bare_rss, megabytes),
        compared("4", f"{runs} runs at once: worker CPU per run", engine_cpu.worker / all_runs,
                 BARE, bare_cpu.worker / all_runs, milliseconds),
        compared("4", f"{runs} runs at once: server CPU per run", engine_cpu.server / all_runs,
                 BARE, bare_cpu.server / all_runs, milliseconds),
        Row("4", f"{runs} runs at once: API requests made again ({rounds})",
            f"{repeated} ({retried} tasks retried{named_causes(causes)})", BARE,
            str(bare_repeated)),
    ]  # fmt: skip
    if langgraph:
        figures = await stack.run_langgraph(
            "load", "--url", stack.load_api.url, "--runs", str(runs)
        )
        graph_rate = runs / figures["seconds"]
        events = per_task(engine_events, figures["checkpoint_rows"] / figures["nodes"], " rows")
        memory = f"{runs} runs at once: peak RSS (LangGraph: its process)"
        rows += [
            compared("7", measure, engine_rate, LANGGRAPH, graph_rate, per_second, events),
            compared("7", memory, engine_rss, LANGGRAPH, figures["peak_rss_mb"], megabytes),
        ]
    return rows


@dataclass
class CpuUse:
    """CPU seconds a worker, and the server, spent while rounds of a shape ran. Less noisy than
    runs/s: a slow round takes longer, not more CPU."""

    worker: float = 0.0
    server: float = 0.0

    @contextmanager
    def counting(self, stack: Stack, worker: WorkerProcess) -> Iterator[None]:
        """Add what `worker` and the server spend in the `with` block."""
        worker_before, server_before = worker.cpu_seconds(), stack.server_cpu_seconds()
        yield
        self.worker += worker.cpu_seconds() - worker_before
        self.server += stack.server_cpu_seconds() - server_before


@dataclass
class LoadFigures:
    """What `runs` runs started at once did: how long they took, what ran more than once."""

    seconds: float
    first_id: str
    retried: int  # tasks that took more than one attempt (engine: from its results)
    repeated_requests: int  # API requests beyond the two each run makes
    retry_causes: Counter[str] = field(default_factory=Counter)  # engine: from the histories


async def engine_load(stack: Stack, task_queue: str, runs: int, prefix: str) -> LoadFigures:
    """Start `runs` runs of bench/load.py's plan at once, with the default options; check
    each result."""
    client, requests_before = stack.engine(task_queue), stack.load_api.requests

    async def one(run: int) -> RunResult:
        plan = load_plan(run, stack.load_api.url)
        handle = await client.start(plan=plan, options=stack.options, workflow_id=f"{prefix}-{run}")
        return await handle.result()

    started = time.perf_counter()
    results = await asyncio.gather(*(one(run) for run in range(runs)))
    seconds = time.perf_counter() - started
    outputs = [{task.task_id: task.output for task in result.tasks} for result in results]
    wrong = [
        run for run, output in enumerate(outputs) if output.get("check") != expected_check(run)
    ]
    if wrong:
        first = results[wrong[0]]
        example = f"run {wrong[0]} {first.status.value}: {first.error or outputs[wrong[0]]}"
        raise BenchFailed(f"{len(wrong)} engine load runs went wrong, e.g. {example}")
    retried = sum(task.attempts > 1 for result in results for task in result.tasks)
    repeated = stack.load_api.requests - requests_before - 2 * runs
    causes: Counter[str] = Counter()
    for run, result in enumerate(results):
        if any(task.attempts > 1 for task in result.tasks):
            causes += retry_causes(await history_events(stack.temporal, f"{prefix}-{run}"))
    return LoadFigures(seconds, f"{prefix}-0", retried, repeated, causes)


async def bare_load(stack: Stack, task_queue: str, runs: int, prefix: str) -> LoadFigures:
    """Start `runs` BareLoad workflows at once, check each result."""
    requests_before = stack.load_api.requests

    async def one(run: int) -> Any:
        workflow_input = LoadInput(run, stack.load_api.url)
        return (await stack.run_bare(task_queue, "BareLoad", workflow_input, f"{prefix}-{run}"))[1]

    started = time.perf_counter()
    results = await asyncio.gather(*(one(run) for run in range(runs)))
    seconds = time.perf_counter() - started
    wrong = [run for run, result in enumerate(results) if result != expected_check(run)]
    if wrong:
        raise BenchFailed(f"{len(wrong)} bare load runs went wrong, e.g. run {wrong[0]}")
    # Counting retried activities would take every run's history; the requests tell repeats.
    repeated = stack.load_api.requests - requests_before - 2 * runs
    return LoadFigures(seconds, f"{prefix}-0", repeated, repeated)


CRASH_QUEUE = "crash"


@dataclass
class Crash:
    """A run killed mid-way and the same run without a crash."""

    seconds: float  # the crashed run's
    no_crash_seconds: float
    run_id: str  # the crashed run's
    worker: WorkerProcess  # the worker started in place of the killed one

    @property
    def overhead(self) -> str:
        return f"+{self.seconds - self.no_crash_seconds:.2f} s"


async def crash(stack: Stack, sizes: Sizes) -> list[Row]:
    """Shape 5: a chain of slow tasks; SIGKILL the worker while task `crash_at` runs (an
    action in flight), then while it waits on a timer (no action in flight: between tasks),
    each time starting a new worker at once. The wall time against a run without a crash,
    and what ran twice."""
    tasks, delay, at = sizes.crash_tasks, sizes.crash_delay, sizes.crash_at
    worker = stack.engine_worker(CRASH_QUEUE)
    await asyncio.to_thread(worker.wait_ready)

    async def in_task(crash_id: str, running: asyncio.Task[Any]) -> None:
        if not await asyncio.to_thread(stack.api.wait_for, f"{crash_id}-{at:02d}", 60):
            raise BenchFailed(f"task {at} of {crash_id} never started")

    in_flight = await crashed_run(
        stack, worker, lambda id_: chain_plan(stack.api, tasks, id_, delay), in_task
    )
    between = await crash_between_tasks(stack, sizes, in_flight.worker)
    between.worker.stop()
    repeated_in_history = ran_more_than_once(
        activities(await history_events(stack.temporal, in_flight.run_id))
    )
    # chain_plan's task tNN requests id {run id}-NN
    repeated_requests = sorted(
        f"t{r.rsplit('-', 1)[-1]}" for r in stack.api.repeated(in_flight.run_id)
    )
    measure = f"{tasks} x {delay:g} s chain, worker SIGKILLed in task {at}"
    events = per_task(await history_length(stack.temporal, in_flight.run_id) / tasks)
    return [
        compared("5", f"{measure}: run time", in_flight.seconds, "no crash",
                 in_flight.no_crash_seconds, seconds, events),
        Row("5", "crash overhead, an action in flight (run time minus no-crash run time)",
            in_flight.overhead),
        Row("5", "tasks run more than once: by history | by server log",
            f"{named(repeated_in_history)} | {named(repeated_requests)}"),
        Row("5", f"crash overhead between tasks (killed while task {at} waits {delay:g} s on "
            "a timer)", between.overhead),
    ]  # fmt: skip


async def crashed_run(
    stack: Stack,
    worker: WorkerProcess,
    plan_of: Callable[[str], dict[str, Any]],
    crash_point: Callable[[str, asyncio.Task[Any]], Awaitable[None]],
) -> Crash:
    """Run `plan_of(id)` without a crash, then again, SIGKILLing `worker` (and starting a new
    one at once) when `crash_point(run id, the running run)` returns."""
    base_id = run_id("no-crash")
    no_crash_seconds, _ = await stack.run_engine(CRASH_QUEUE, base_id, plan=plan_of(base_id))
    crash_id = run_id("crash")
    running = asyncio.create_task(stack.run_engine(CRASH_QUEUE, crash_id, plan=plan_of(crash_id)))
    await crash_point(crash_id, running)
    worker.kill()
    replacement = stack.engine_worker(CRASH_QUEUE)
    crash_seconds, _ = await running
    return Crash(crash_seconds, no_crash_seconds, crash_id, replacement)


async def crash_between_tasks(stack: Stack, sizes: Sizes, worker: WorkerProcess) -> Crash:
    """The chain with task `crash_at` a timer; `worker` killed as soon as the timer is set."""
    tasks, delay, at = sizes.crash_tasks, sizes.crash_delay, sizes.crash_at
    await asyncio.to_thread(worker.wait_ready)

    async def on_timer(crash_id: str, running: asyncio.Task[Any]) -> None:
        if not await asyncio.to_thread(stack.api.wait_for, f"{crash_id}-{at - 1:02d}", 60):
            raise BenchFailed(f"task {at - 1} of {crash_id} never started")
        handle = await stack.engine(CRASH_QUEUE).get(crash_id)
        while not await is_running(handle, f"t{at:02d}"):
            if running.done():
                await running  # a failed run says why
                raise BenchFailed(f"never saw t{at:02d} of {crash_id} wait on its timer")
            await asyncio.sleep(0.01)

    return await crashed_run(
        stack, worker, lambda id_: chain_plan(stack.api, tasks, id_, delay, at), on_timer
    )


async def is_running(handle: RunHandle, task_id: str) -> bool:
    """Whether the run's status query says `task_id` is running."""
    state = await handle.status()
    statuses = {task.task_id: task.status for task in state.tasks}
    return statuses.get(task_id) == TaskStatus.RUNNING


def named_causes(causes: Counter[str]) -> str:
    """`: 20 heartbeat timeout, 5 HTTP_SERVER_ERROR`, or nothing."""
    if not causes:
        return ""
    return ": " + ", ".join(f"{count} {cause}" for cause, count in causes.most_common())


def named(task_ids: list[str]) -> str:
    """`2 (t04, t05)`, or `0`."""
    return f"{len(task_ids)} ({', '.join(task_ids)})" if task_ids else "0"


async def planning(stack: Stack, sizes: Sizes) -> list[Row]:
    """Shape 6: `start --goal` to the first task's activity start, the LLM answering a plan
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
    """One goal run: (seconds from the start call to its first task's start, events/task)."""
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
    first = first_start(activities(events), skip_types={"plan_goal", "plan_goal_streamed"})
    if first is None:
        raise BenchFailed(f"goal run {goal_id} started no task")
    return (first - started).total_seconds(), len(events) / len(plan["tasks"])
