"""`python bench/run.py [--quick]`: the engine against bare Temporal and LangGraph, side by side
in one run, as one table of ratios (see bench/run.py)."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from agentic.logging import configure_logging
from bench import at_once, crash, measures, streaming
from bench.measures import BARE_QUEUE, ENGINE_QUEUE, FULL, QUICK, Sizes
from bench.stack import (
    BenchFailed,
    Stack,
    langgraph_installed,
    local_activities_available,
    worker_processes_available,
)
from bench.table import Row, render
from bench.workers import wait_all

ALL_SHAPES = frozenset(range(1, 11))
LOAD_SECONDS_PER_RUN = 1.8  # a shape-4 size's timeout, per run at once
MANY_RUNS_TIMEOUT_SECONDS = 1800  # 10,000 runs at once, about 26 a second on 2 cores


async def measure_all(
    stack: Stack, sizes: Sizes, langgraph: bool, shapes: frozenset[int] = ALL_SHAPES
) -> list[Row]:
    """The chosen shapes (all by default), in the order of the table; progress on stderr.
    Shape 7 is LangGraph's rows of shapes 1 and 4 (printed with them)."""
    progress("starting the workers")
    workers = [stack.engine_worker(ENGINE_QUEUE), stack.bare_worker(BARE_QUEUE)]
    if 1 in shapes:  # shape 1 runs on both servers
        on_file = await stack.on_file()
        workers += [on_file.engine_worker(ENGINE_QUEUE), on_file.bare_worker(BARE_QUEUE)]
    await asyncio.to_thread(wait_all, *workers)
    langgraph = langgraph and 7 in shapes
    rows: list[Row] = []
    if 1 in shapes:
        rows += await shape(sizes, "1: chain", measures.chain(stack, sizes, langgraph))
    if 2 in shapes:
        rows += await shape(sizes, "2: pipeline", measures.pipeline(stack, sizes))
    if 3 in shapes:
        rows += await shape(sizes, "3: independent calls", measures.fan_out(stack, sizes))
    if 6 in shapes:
        rows += await shape(sizes, "6: planning", measures.planning(stack, sizes))
    if 5 in shapes:
        rows += await shape(sizes, "5: crash recovery", crash.crash(stack, sizes))
    if 8 in shapes:
        rows += await shape(sizes, "8: for-each", measures.for_each(stack, sizes))
    if 10 in shapes:
        rows += await shape(sizes, "10: large for-each", measures.large_for_each(stack, sizes))
    if 9 in shapes:
        rows += await shape(sizes, "9: streaming dispatch", streaming.streaming(stack, sizes))
    # Last: thousands of runs leave the server busy for a while after they end.
    for runs in sizes.load_runs if 4 in shapes else ():
        loading = at_once.load(stack, sizes, runs, langgraph)
        # 3 workers, each a warm-up and `load_repeats` rounds, on a file: minutes at 1,000 runs
        timeout = max(sizes.shape_timeout, LOAD_SECONDS_PER_RUN * runs)
        rows += await shape(sizes, f"4: {runs} runs at once (server on a file)", loading, timeout)
    if 4 in shapes:
        many = f"4: {sizes.many_runs:,} runs at once"
        timeout = max(sizes.shape_timeout, MANY_RUNS_TIMEOUT_SECONDS * sizes.many_runs / 10_000)
        rows += await shape(sizes, many, at_once.many_runs(stack, sizes), timeout)
    return sorted(rows, key=lambda row: int(row.shape))  # stable: a shape's rows keep their order


async def shape(
    sizes: Sizes,
    name: str,
    measuring: Coroutine[Any, Any, list[Row]],
    timeout: float | None = None,
) -> list[Row]:
    """The rows of one shape; a shape that hangs (a run that never ends) is a BenchFailed."""
    progress(name)
    timeout = timeout or sizes.shape_timeout
    try:
        return await asyncio.wait_for(measuring, timeout)
    except TimeoutError:
        raise BenchFailed(f"shape {name} did not finish within {timeout:g} s") from None


def progress(what: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)


def describe(stack: Stack, sizes: Sizes, langgraph: bool, shapes: frozenset[int]) -> str:
    """The line above the table: what ran where."""
    settings = stack.settings
    return (
        f"{'quick' if sizes is QUICK else 'full'} run on {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; tuned dev servers, one in memory and one on a SQLite "
        f"file (the rows that say so); each worker its own process "
        f"({settings.worker_max_concurrent_activities} activities, "
        f"{settings.worker_workflow_task_pollers}+{settings.worker_activity_task_pollers} "
        f"pollers); engine run options: defaults, approval none; {engine_note()}; "
        + langgraph_note(langgraph, shapes)
    )


def engine_note() -> str:
    """Which of issue 25's engine features this run had."""
    local = "reads as local activities" if local_activities_available() else "no local activities"
    processes = "" if worker_processes_available() else ", no worker.py --processes"
    return local + processes


def langgraph_note(langgraph: bool, shapes: frozenset[int]) -> str:
    if 7 not in shapes:
        return "LangGraph rows not asked for (shape 7)"
    if not langgraph:
        return "LangGraph rows skipped: pip install -e '.[bench]'"
    return "LangGraph: durability sync"


def shape_numbers(text: str) -> frozenset[int]:
    """`--shapes 2,4` -> {2, 4}; an argparse error for anything but numbers 1 to 10."""
    try:
        numbers = frozenset(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        numbers = frozenset()
    if not numbers or not numbers <= ALL_SHAPES:
        raise argparse.ArgumentTypeError(f"{text!r}: give shape numbers 1 to 10, like 2,4")
    if 7 in numbers and not numbers & {1, 4}:
        raise argparse.ArgumentTypeError(
            f"{text!r}: shape 7 compares shapes 1 and 4 with LangGraph: give 1 or 4 with it"
        )
    return numbers


async def run(quick: bool, shapes: frozenset[int] = ALL_SHAPES) -> int:
    configure_logging("WARNING")
    sizes = QUICK if quick else FULL
    langgraph = langgraph_installed()
    started = time.perf_counter()
    stack = await Stack.start(Path(tempfile.mkdtemp(prefix="bench-run-")))
    try:
        rows = await measure_all(stack, sizes, langgraph, shapes)
    except BenchFailed as error:
        stack.close(keep_files=True)
        print(f"error: {error} (the workers' logs are in {stack.root})")
        return 1
    except BaseException:
        stack.close(keep_files=True)
        raise
    stack.close()
    print(describe(stack, sizes, langgraph, shapes))
    print(render(rows))
    print(f"(ratio: engine / comparison; measured in {time.perf_counter() - started:.0f} s)")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description="The engine against bare Temporal and LangGraph.")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument(
        "--shapes", type=shape_numbers, default=ALL_SHAPES, help="only these shapes, like 2,4"
    )
    arguments = parser.parse_args()
    raise SystemExit(asyncio.run(run(arguments.quick, arguments.shapes)))
