"""Shape 5 of `bench/run.py`: a worker SIGKILLed in the middle of a run, a new one started at
once. A chain of slow GETs as regular activities, killed while task `crash_at` runs (an action
in flight); the same with the GETs as local activities (where the engine has them: reads run
as local activities); then killed while task `crash_at` waits on a timer (between tasks). Each
run's time against the same run without a crash, and what ran twice."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agentic.client import RunHandle
from agentic.core.messages import TaskStatus
from bench.history import activities, history_events, local_activities, ran_more_than_once
from bench.measures import Sizes, run_id
from bench.shapes import chain_plan
from bench.stack import BenchFailed, Stack, local_activities_available
from bench.table import Row, at_most, compared, per_task, seconds
from bench.workers import WorkerProcess, wait_all

CRASH_QUEUE = "crash"
IN_FLIGHT_TARGET_SECONDS = 3.0
BETWEEN_TASKS_TARGET_SECONDS = 1.0


@dataclass
class Crash:
    """A run killed mid-way and the same run without a crash."""

    seconds: float  # the crashed run's
    no_crash_seconds: float
    run_id: str  # the crashed run's
    worker: WorkerProcess  # the worker started in place of the killed one

    @property
    def overhead_seconds(self) -> float:
        return self.seconds - self.no_crash_seconds

    @property
    def overhead(self) -> str:
        return f"+{self.overhead_seconds:.2f} s"


async def crash(stack: Stack, sizes: Sizes) -> list[Row]:
    """Shape 5: its rows, the runs one after another, each killing the worker the one before
    started."""
    tasks, delay, at = sizes.crash_tasks, sizes.crash_delay, sizes.crash_at
    worker = stack.engine_worker(CRASH_QUEUE)
    await asyncio.to_thread(worker.wait_ready)
    local = local_activities_available()

    def regular_plan(id_: str) -> dict[str, Any]:
        return chain_plan(stack.api, tasks, id_, delay, local=False if local else None)

    def local_plan(id_: str) -> dict[str, Any]:
        return chain_plan(stack.api, tasks, id_, delay)  # reads: local activities

    in_flight = await crashed_run(stack, worker, regular_plan, in_task(stack, sizes))
    rows = await in_flight_rows(stack, sizes, in_flight)
    worker = in_flight.worker
    for task_timeout in sizes.crash_task_timeouts if local else ():
        await asyncio.to_thread(worker.wait_ready)
        in_local = await crashed_run(stack, worker, local_plan, in_task(stack, sizes), task_timeout)
        rows.append(await local_row(stack, in_local, task_timeout))
        worker = in_local.worker
    if not local:
        rows.append(Row("5", local_measure(None), "not available: reads run as regular activities"))
    between = await crash_between_tasks(stack, sizes, worker)
    measure = f"crash overhead between tasks (killed while task {at} waits {delay:g} s on a timer)"
    rows.append(Row("5", f"{measure}, a new worker started at once", between.overhead,
                    target=at_most(BETWEEN_TASKS_TARGET_SECONDS, between.overhead_seconds,
                                   "1 s")))  # fmt: skip
    standby = stack.engine_worker(CRASH_QUEUE)
    taken_over = await crash_between_tasks(stack, sizes, between.worker, standby)
    taken_over.worker.stop()
    rows.append(Row("5", f"{measure}, another worker already serving", taken_over.overhead,
                    target=at_most(BETWEEN_TASKS_TARGET_SECONDS, taken_over.overhead_seconds,
                                   "1 s")))  # fmt: skip
    return rows


def local_measure(task_timeout: float | None) -> str:
    """The local crash row's measure: the workflow task timeout is what the next worker waits."""
    timeout = f"{task_timeout:g} s" if task_timeout else "10 s, the default"
    return (f"crash overhead, a local activity (a GET) in flight, workflow task timeout "
            f"{timeout}; run again: by server log")  # fmt: skip


def in_task(stack: Stack, sizes: Sizes) -> Callable[[str, asyncio.Task[Any]], Awaitable[None]]:
    """A crash point: once task `crash_at`'s GET reached the server."""

    async def in_task(crash_id: str, running: asyncio.Task[Any]) -> None:
        if not await asyncio.to_thread(stack.api.wait_for, f"{crash_id}-{sizes.crash_at:02d}", 60):
            raise BenchFailed(f"task {sizes.crash_at} of {crash_id} never started")

    return in_task


def repeated_tasks(stack: Stack, crash_id: str) -> list[str]:
    """The tasks whose GET the server saw more than once (chain_plan's task tNN requests id
    `{run id}-NN`)."""
    return sorted(f"t{r.rsplit('-', 1)[-1]}" for r in stack.api.repeated(crash_id))


async def in_flight_rows(stack: Stack, sizes: Sizes, in_flight: Crash) -> list[Row]:
    """The rows of the run killed with a regular activity in flight."""
    tasks, delay, at = sizes.crash_tasks, sizes.crash_delay, sizes.crash_at
    events = await history_events(stack.temporal, in_flight.run_id)
    repeated_in_history = ran_more_than_once(activities(events))
    measure = f"{tasks} x {delay:g} s chain, worker SIGKILLed in task {at}"
    overhead = Row("5", "crash overhead, an action in flight as a regular activity (run time "
                   "minus no-crash run time)", in_flight.overhead)  # fmt: skip
    return [
        compared("5", f"{measure}: run time", in_flight.seconds, "no crash",
                 in_flight.no_crash_seconds, seconds, per_task(len(events) / tasks)),
        overhead.aiming(at_most(IN_FLIGHT_TARGET_SECONDS, in_flight.overhead_seconds, "3 s")),
        Row("5", "tasks run more than once: by history | by server log",
            f"{named(repeated_in_history)} | {named(repeated_tasks(stack, in_flight.run_id))}"),
    ]  # fmt: skip


async def local_row(stack: Stack, in_local: Crash, task_timeout: float | None) -> Row:
    """The row of the run killed with a local activity in flight; "not available" when its
    history records no local activity (the engine ran the GETs as regular activities)."""
    events = await history_events(stack.temporal, in_local.run_id)
    measure = local_measure(task_timeout)
    if not local_activities(events):
        return Row("5", measure, "not available: the GETs ran as regular activities")
    repeated = named(repeated_tasks(stack, in_local.run_id))
    row = Row("5", measure, f"{in_local.overhead}; run again: {repeated}")
    return row.aiming(at_most(IN_FLIGHT_TARGET_SECONDS, in_local.overhead_seconds, "3 s"))


async def crashed_run(
    stack: Stack,
    worker: WorkerProcess,
    plan_of: Callable[[str], dict[str, Any]],
    crash_point: Callable[[str, asyncio.Task[Any]], Awaitable[None]],
    task_timeout: float | None = None,
    standby: WorkerProcess | None = None,
) -> Crash:
    """Run `plan_of(id)` without a crash, then again, SIGKILLing `worker` (and starting a new
    one at once) when `crash_point(run id, the running run)` returns. With a `standby` worker
    serving the queue too, the one that took the run's last workflow task is killed, and the
    other goes on alone."""
    base_id = run_id("no-crash")
    no_crash_seconds, _ = await stack.run_engine(CRASH_QUEUE, base_id, plan=plan_of(base_id),
                                                 task_timeout=task_timeout)  # fmt: skip
    crash_id = run_id("crash")
    running = asyncio.create_task(stack.run_engine(CRASH_QUEUE, crash_id, plan=plan_of(crash_id),
                                                   task_timeout=task_timeout))  # fmt: skip
    await crash_point(crash_id, running)
    if standby is None:
        worker.kill()
        replacement = stack.engine_worker(CRASH_QUEUE)
    else:
        holder = await run_holder(stack, crash_id)
        if holder not in (worker.pid, standby.pid):
            raise BenchFailed(f"cannot tell which worker holds {crash_id} (identity pid {holder})")
        killed, replacement = (worker, standby) if holder == worker.pid else (standby, worker)
        killed.kill()
    crash_seconds, _ = await running
    return Crash(crash_seconds, no_crash_seconds, crash_id, replacement)


async def run_holder(stack: Stack, run: str) -> int | None:
    """The pid of the worker that took the run's last workflow task (its identity is
    `pid@host`, the SDK's default)."""
    started = [event for event in await history_events(stack.temporal, run)
               if event.HasField("workflow_task_started_event_attributes")]  # fmt: skip
    identity = started[-1].workflow_task_started_event_attributes.identity if started else ""
    pid = identity.split("@", 1)[0]
    return int(pid) if pid.isdigit() else None


async def crash_between_tasks(
    stack: Stack, sizes: Sizes, worker: WorkerProcess, standby: WorkerProcess | None = None
) -> Crash:
    """The chain with task `crash_at` a timer; `worker` killed as soon as the timer is set (or,
    with a `standby` serving too, whichever of them holds the run)."""
    tasks, delay, at = sizes.crash_tasks, sizes.crash_delay, sizes.crash_at
    await asyncio.to_thread(wait_all, worker, *([standby] if standby else []))

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
        stack, worker, lambda id_: chain_plan(stack.api, tasks, id_, delay, at), on_timer,
        standby=standby,
    )  # fmt: skip


async def is_running(handle: RunHandle, task_id: str) -> bool:
    """Whether the run's status query says `task_id` is running."""
    state = await handle.status()
    statuses = {task.task_id: task.status for task in state.tasks}
    return statuses.get(task_id) == TaskStatus.RUNNING


def named(task_ids: list[str]) -> str:
    """`2 (t04, t05)`, or `0`."""
    return f"{len(task_ids)} ({', '.join(task_ids)})" if task_ids else "0"
