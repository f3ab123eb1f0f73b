"""Many runs at once on one worker: do they all complete, correctly, and how fast?

    python bench/load.py [--runs 200] [--max-activities 100] [--delay 0.05]

Starts a tuned Temporal dev server, a local API that answers after `--delay` seconds and counts
the requests in flight, and one worker in this process with WORKER_MAX_CONCURRENT_ACTIVITIES
set to `--max-activities`. Then starts every run of a 5-task plan at once (two api_calls, a
wait, two data_transforms that combine what came back), checks each run's result, and prints
the figures. `tests/test_load.py` runs the same harness against a worker process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from agentic.client import AgentClient
from agentic.core.messages import RunOptions, RunResult
from agentic.devstack import (
    BackgroundHTTPServer,
    JSONHandler,
    TemporalDevServer,
    free_port,
    server_owner,
)
from agentic.logging import configure_logging
from agentic.settings import Settings
from agentic.worker import run_worker

TASKS_PER_RUN = 5


class CountingAPI(BackgroundHTTPServer):
    """`GET /items?run=N` gives N's items, `POST /orders` echoes its body; each answer comes
    after `delay` seconds. Counts the requests in flight, their peak, and idempotency keys."""

    def __init__(self, delay: float) -> None:
        super().__init__(_CountingHandler, name="CountingAPI")
        self.delay = delay
        self.in_flight = 0
        self.peak_in_flight = 0
        self.requests = 0
        self.idempotency_keys: list[str] = []
        self._lock = threading.Lock()

    def enter(self, idempotency_key: str | None) -> None:
        with self._lock:
            self.in_flight += 1
            self.requests += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            if idempotency_key:
                self.idempotency_keys.append(idempotency_key)

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


class _CountingHandler(JSONHandler):
    def do_GET(self) -> None:
        run = int(parse_qs(urlsplit(self.path).query)["run"][0])
        self._answer({"run": run, "items": [run, run + 1, run + 2]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._answer(json.loads(self.rfile.read(length)), self.headers.get("Idempotency-Key"))

    def _answer(self, body: Any, idempotency_key: str | None = None) -> None:
        api: CountingAPI = server_owner(self)
        api.enter(idempotency_key)
        try:
            time.sleep(api.delay)
        finally:
            # Out of the count before the client can see the answer and start its next call.
            api.leave()
        self.send_json(200, body)


def load_plan(run: int, api_url: str) -> dict[str, Any]:
    """Five tasks: two calls in parallel with a wait, then a sum, then a check of both."""
    return {"goal": f"load run {run}", "tasks": [
        {"id": "fetch", "action_type": "api_call",
         "action_config": {"url": f"{api_url}/items?run={run}"}},
        {"id": "order", "action_type": "api_call",
         "action_config": {"method": "POST", "url": f"{api_url}/orders", "json": {"run": run}}},
        {"id": "pause", "action_type": "wait", "action_config": {"seconds": 0.5}},
        {"id": "total", "action_type": "data_transform", "depends_on": ["fetch"],
         "action_config": {"input": "{{ tasks.fetch.output.body.items }}",
                           "expression": "sum(@)"}},
        {"id": "check", "action_type": "data_transform", "depends_on": ["total", "order", "pause"],
         "action_config": {"input": {"total": "{{ tasks.total.output }}",
                                     "order": "{{ tasks.order.output.body.run }}"},
                           "expression": "{total: total, order: order}"}},
    ]}  # fmt: skip


def expected_check(run: int) -> dict[str, int]:
    return {"total": 3 * run + 3, "order": run}


def wrong_in(run: int, result: RunResult) -> str | None:
    """What is wrong with run `run`'s result, or None when it is right."""
    if result.status.value != "completed":
        return f"run {run} ended {result.status.value}: {result.error}"
    retried = [task.task_id for task in result.tasks if task.attempts > 1]
    if retried:
        return f"run {run} retried {', '.join(retried)} (a heartbeat missed under load?)"
    outputs = {task.task_id: task.output for task in result.tasks}
    if len(outputs) != TASKS_PER_RUN:
        return f"run {run} has {len(outputs)} tasks"
    if outputs["check"] != expected_check(run):
        return f"run {run} checked {outputs['check']}, expected {expected_check(run)}"
    return None


@dataclass
class LoadReport:
    runs: int
    seconds: float
    run_seconds: list[float] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    def figures(self, api: CountingAPI) -> str:
        latencies = sorted(self.run_seconds)
        p95 = latencies[int(len(latencies) * 0.95) - 1] if latencies else 0.0
        return (
            f"{self.runs} runs x {TASKS_PER_RUN} tasks in {self.seconds:.1f} s: "
            f"{self.runs / self.seconds:.1f} runs/s, "
            f"{self.runs * TASKS_PER_RUN / self.seconds:.0f} tasks/s; "
            f"run latency median {statistics.median(latencies):.1f} s, p95 {p95:.1f} s; "
            f"{api.requests} API requests, at most {api.peak_in_flight} at once; "
            f"{len(self.wrong)} wrong"
        )


async def run_load(client: AgentClient, api_url: str, runs: int, prefix: str) -> LoadReport:
    """Start `runs` runs at once, wait for every result and check it."""
    options = RunOptions(approval="none")
    started_at = time.perf_counter()

    async def one(run: int) -> tuple[float, str | None]:
        handle = await client.start(
            plan=load_plan(run, api_url), options=options, workflow_id=f"{prefix}-{run}"
        )
        result = await handle.result()
        return time.perf_counter() - started_at, wrong_in(run, result)

    outcomes = await asyncio.gather(*(one(run) for run in range(runs)))
    report = LoadReport(runs=runs, seconds=time.perf_counter() - started_at)
    for seconds, wrong in outcomes:
        report.run_seconds.append(seconds)
        if wrong:
            report.wrong.append(wrong)
    return report


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--max-activities", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.05, help="API answer delay, seconds")
    parser.add_argument("--pollers", type=int, default=5, help="task pollers of each kind")
    arguments = parser.parse_args()
    configure_logging("WARNING")
    server = TemporalDevServer(free_port(), free_port(), headless=True, tuned=True).start()
    api = CountingAPI(arguments.delay).start()
    settings = Settings(
        temporal_address=server.address,
        task_queue="load",
        workspace_dir=Path(tempfile.mkdtemp()),
        http_allow_hosts=f"127.0.0.1:{api.port}",
        worker_max_concurrent_activities=arguments.max_activities,
        worker_workflow_task_pollers=arguments.pollers,
        worker_activity_task_pollers=arguments.pollers,
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop=stop, ready=ready))
    try:
        await ready.wait()
        client = await AgentClient.connect(settings)
        cpu_before = time.process_time()
        report = await run_load(client, api.url, arguments.runs, f"load-{time.time_ns()}")
        cpu_seconds = time.process_time() - cpu_before
        print(
            f"max {arguments.max_activities} activities, {arguments.pollers} pollers: "
            f"{report.figures(api)}; {cpu_seconds:.1f} s CPU, peak RSS "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (worker and "
            "client)"
        )
        for line in report.wrong[:10]:
            print(f"  {line}")
    finally:
        stop.set()
        await worker
        api.stop()
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
