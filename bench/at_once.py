"""Shape 4 of `bench/run.py`: many runs of bench/load.py's 5-task plan at once.

Against bare Temporal and LangGraph+SQLite, on the dev server persisting to a file (LangGraph's
checkpointer writes a file too): runs/s with one worker process and with `python worker.py
--processes 2`, the workers' peak RSS, and the CPU the worker and the server spend per run.
Then 10,000 runs at once on one worker: do they all complete, and the worker's peak RSS.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from agentic.core.messages import RunResult
from bench.bare import LoadInput
from bench.history import history_events, history_length, retry_causes
from bench.load import TASKS_PER_RUN, expected_check, load_plan
from bench.measures import BARE, LANGGRAPH, Sizes, run_id
from bench.stack import BenchFailed, Stack, worker_processes_available
from bench.table import (
    Row,
    Target,
    at_least,
    at_most,
    compared,
    megabytes,
    milliseconds,
    per_second,
    per_task,
)
from bench.workers import WorkerProcess, wait_all

PROCESSES = 2  # the second process count measured, as `python worker.py --processes 2`
MANY_AT_ONCE = 200  # runs started, or waited for, at a time by the many-runs shape's client
RSS_LIMIT_MB = 1024


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


@dataclass
class Contender:
    """One worker of the shape on its own task queue (the engine with 1 or 2 processes, bare
    Temporal), and what its rounds did."""

    bare: bool
    queue: str
    worker: WorkerProcess
    rounds: list[LoadFigures] = field(default_factory=list)
    cpu: CpuUse = field(default_factory=CpuUse)
    peak_rss_mb: float = 0.0

    async def run(self, stack: Stack, runs: int, prefix: str) -> LoadFigures:
        """`runs` runs at once on this contender's worker."""
        if self.bare:
            return await bare_load(stack, self.queue, runs, run_id(f"bare-{prefix}"))
        return await engine_load(stack, self.queue, runs, run_id(prefix))

    def rate(self, runs: int) -> float:
        """Runs a second in its best round."""
        return runs / min(figures.seconds for figures in self.rounds)

    def cpu_per_run(self, runs: int) -> tuple[float, float]:
        """(worker, server) CPU seconds per run, over every round."""
        all_runs = runs * len(self.rounds)
        return self.cpu.worker / all_runs, self.cpu.server / all_runs


async def load(stack: Stack, sizes: Sizes, runs: int, langgraph: bool) -> list[Row]:
    """Shape 4: `runs` runs at once on the dev server on a file, the engine (one worker
    process, then `--processes 2`) against bare Temporal (and LangGraph): runs/s (the best of
    `load_repeats`), peak RSS, the CPU the worker and the server spent per run (over every
    round), and what ran twice."""
    on_file = await stack.on_file()
    queue = f"load-{runs}"
    engine = Contender(False, f"{queue}-engine", on_file.engine_worker(f"{queue}-engine"))
    two = None
    if worker_processes_available():
        two_queue = f"{queue}-engine-{PROCESSES}p"
        two = Contender(False, two_queue, on_file.engine_worker(two_queue, PROCESSES))
    bare = Contender(True, f"{queue}-bare", on_file.bare_worker(f"{queue}-bare"))
    contenders = [engine, *([two] if two else []), bare]
    await asyncio.to_thread(wait_all, *(contender.worker for contender in contenders))
    for contender in contenders:
        await contender.run(on_file, 1, "warm")
    for _repeat in range(sizes.load_repeats):  # alternated, so drift hits all alike
        for contender in contenders:
            with contender.cpu.counting(on_file, contender.worker):
                contender.rounds.append(await contender.run(on_file, runs, "load"))
    for contender in contenders:
        contender.peak_rss_mb = contender.worker.peak_rss_mb()
        contender.worker.stop()
    rows = await against_bare(on_file, sizes, runs, engine, two, bare)
    if langgraph:
        rows += await against_langgraph(on_file, sizes, runs, engine, two)
    return rows


def measure_of(stack: Stack, sizes: Sizes, runs: int, processes: int) -> str:
    """The runs/s row's label, for the engine with `processes` worker processes."""
    best = f" (best of {sizes.load_repeats})" if sizes.load_repeats > 1 else ""
    workers = "one worker process" if processes == 1 else f"{processes} worker processes"
    return f"{runs} runs x {TASKS_PER_RUN} tasks at once, {stack.where}, {workers}: runs/s{best}"


async def against_bare(
    stack: Stack, sizes: Sizes, runs: int, engine: Contender, two: Contender | None,
    bare: Contender,
) -> list[Row]:  # fmt: skip
    """The rows of the engine against bare Temporal."""
    engine_events = await history_length(stack.temporal, engine.rounds[0].first_id)
    bare_events = await history_length(stack.bare, bare.rounds[0].first_id)
    events = per_task(engine_events / TASKS_PER_RUN, bare_events / TASKS_PER_RUN)
    (engine_cpu, engine_server), (bare_cpu, bare_server) = (
        engine.cpu_per_run(runs), bare.cpu_per_run(runs)
    )  # fmt: skip
    rows = [compared("4", measure_of(stack, sizes, runs, 1), engine.rate(runs), BARE,
                     bare.rate(runs), per_second, events)]  # fmt: skip
    if two is None:
        rows.append(not_available(measure_of(stack, sizes, runs, PROCESSES)))
    else:
        rows.append(compared("4", measure_of(stack, sizes, runs, PROCESSES), two.rate(runs),
                             BARE, bare.rate(runs), per_second))  # fmt: skip
    cpu = compared("4", f"{runs} runs at once: worker CPU per run, one process", engine_cpu,
                   BARE, bare_cpu, milliseconds)  # fmt: skip
    rows += [
        compared("4", f"{runs} runs at once: worker peak RSS, one process", engine.peak_rss_mb,
                 BARE, bare.peak_rss_mb, megabytes),
        cpu.aiming(at_most(0.6, cpu.ratio, "0.6x")),
        compared("4", f"{runs} runs at once: server CPU per run", engine_server, BARE,
                 bare_server, milliseconds),
        repeats_row(sizes, runs, [engine, *([two] if two else [])], bare),
    ]  # fmt: skip
    return rows


def repeats_row(sizes: Sizes, runs: int, engines: list[Contender], bare: Contender) -> Row:
    """The API requests made again by the engine's workers (every round) and bare's."""
    rounds = [figures for engine in engines for figures in engine.rounds]
    retried = sum(figures.retried for figures in rounds)
    causes = sum((figures.retry_causes for figures in rounds), Counter[str]())
    repeated = sum(figures.repeated_requests for figures in rounds)
    bare_repeated = sum(figures.repeated_requests for figures in bare.rounds)
    count = f"{len(rounds)} round" + ("s" if len(rounds) > 1 else "")
    return Row("4", f"{runs} runs at once: API requests made again ({count})",
               f"{repeated} ({retried} tasks retried{named_causes(causes)})", BARE,
               str(bare_repeated))  # fmt: skip


async def against_langgraph(
    stack: Stack, sizes: Sizes, runs: int, engine: Contender, two: Contender | None
) -> list[Row]:
    """LangGraph+SQLite on the same plan, against the engine with 1 (and 2) processes."""
    figures = await stack.run_langgraph("load", "--url", stack.load_api.url, "--runs", str(runs))
    graph_rate = runs / figures["seconds"]
    engine_events = await history_length(stack.temporal, engine.rounds[0].first_id)
    events = per_task(engine_events / TASKS_PER_RUN,
                      figures["checkpoint_rows"] / figures["nodes"], " rows")  # fmt: skip
    rows = []
    for processes, contender in ((1, engine), (PROCESSES, two)):
        measure = measure_of(stack, sizes, runs, processes)
        if contender is None:
            rows.append(not_available(measure))
            continue
        rate = compared("4", measure, contender.rate(runs), LANGGRAPH, graph_rate, per_second,
                        events if processes == 1 else "")  # fmt: skip
        rows.append(rate.aiming(at_least(0.8, rate.ratio, "0.8x (either process count)")))
    memory = f"{runs} runs at once: peak RSS, one process (LangGraph: its process)"
    rows.append(compared("4", memory, engine.peak_rss_mb, LANGGRAPH, figures["peak_rss_mb"],
                         megabytes))  # fmt: skip
    return rows


def not_available(measure: str) -> Row:
    return Row("4", measure, "not available: worker.py has no --processes yet")


def named_causes(causes: Counter[str]) -> str:
    """`: 20 heartbeat timeout, 5 HTTP_SERVER_ERROR`, or nothing."""
    if not causes:
        return ""
    return ": " + ", ".join(f"{count} {cause}" for cause, count in causes.most_common())


async def engine_load(stack: Stack, task_queue: str, runs: int, prefix: str) -> LoadFigures:
    """Start `runs` runs of bench/load.py's plan at once, with the default options; check
    each result."""
    requests_before = stack.load_api.requests
    started = time.perf_counter()
    results = await start_and_wait(stack, task_queue, runs, prefix)
    seconds = time.perf_counter() - started
    wrong = [run for run, result in enumerate(results) if wrong_in(run, result)]
    if wrong:
        raise BenchFailed(f"{len(wrong)} engine load runs went wrong, e.g. "
                          f"{wrong_in(wrong[0], results[wrong[0]])}")  # fmt: skip
    retried = sum(task.attempts > 1 for result in results for task in result.tasks)
    repeated = stack.load_api.requests - requests_before - 2 * runs
    causes: Counter[str] = Counter()
    for run, result in enumerate(results):
        if any(task.attempts > 1 for task in result.tasks):
            causes += retry_causes(await history_events(stack.temporal, f"{prefix}-{run}"))
    return LoadFigures(seconds, f"{prefix}-0", retried, repeated, causes)


async def start_and_wait(
    stack: Stack, task_queue: str, runs: int, prefix: str, at_once: int | None = None
) -> list[RunResult]:
    """Start `runs` runs of bench/load.py's plan, as fast as the client can, and wait for
    their results; with `at_once`, at most that many calls of each kind in flight (the runs
    themselves all run at once: only the client's calls wait)."""
    client = stack.engine(task_queue)
    starting = asyncio.Semaphore(at_once or runs)
    waiting = asyncio.Semaphore(at_once or runs)

    async def one(run: int) -> RunResult:
        plan = load_plan(run, stack.load_api.url)
        async with starting:
            handle = await client.start(
                plan=plan, options=stack.options, workflow_id=f"{prefix}-{run}"
            )
        async with waiting:
            return await handle.result()

    return await asyncio.gather(*(one(run) for run in range(runs)))


def wrong_in(run: int, result: RunResult) -> str | None:
    """What is wrong with run `run`'s result, or None."""
    output = {task.task_id: task.output for task in result.tasks}.get("check")
    if output == expected_check(run):
        return None
    return f"run {run} {result.status.value}: {result.error or output}"


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


async def many_runs(stack: Stack, sizes: Sizes) -> list[Row]:
    """`many_runs` runs at once on one worker process of their own, on the dev server in
    memory: how many completed right, in what time, and the worker's peak RSS."""
    runs, queue = sizes.many_runs, "many-runs"
    worker = stack.engine_worker(queue)
    await asyncio.to_thread(worker.wait_ready)
    started = time.perf_counter()
    results = await start_and_wait(stack, queue, runs, run_id("many"), MANY_AT_ONCE)
    seconds = time.perf_counter() - started
    rss = worker.peak_rss_mb()
    worker.stop()
    right = sum(wrong_in(run, result) is None for run, result in enumerate(results))
    measure = f"{runs:,} runs x {TASKS_PER_RUN} tasks at once, {stack.where}, one worker process"
    completed = f"{right:,} of {runs:,} right, in {seconds:.0f} s ({runs / seconds:.1f} runs/s)"
    return [
        Row("4", f"{measure}: runs completed", completed,
            target=Target("all complete", right == runs)),
        Row("4", f"{measure}: worker peak RSS", megabytes(rss),
            target=at_most(RSS_LIMIT_MB, rss, "1 GB")),
    ]  # fmt: skip
