"""How long a workflow step takes, and what running independent tasks in parallel buys.

    python bench/step_latency.py [--steps 40]

Starts its own Temporal dev servers (default and tuned) and a worker in this process, then runs:
- a chain of N api_call tasks (each waits for the previous) against a local endpoint that
  answers at once: time per step;
- N independent api_call tasks against a local endpoint that answers after 100 ms,
  with max_parallel 1 (one at a time, like the engine we replace) and max_parallel N.
Prints the figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from agentic.core.messages import RunInput, RunOptions, RunResult
from agentic.core.plan import Plan
from agentic.devstack import BackgroundHTTPServer, JSONHandler, TemporalDevServer, free_port
from agentic.logging import configure_logging
from agentic.runtime import connect
from agentic.settings import Settings
from agentic.worker import run_worker
from agentic.workflows.agent_run import WORKFLOW_NAME

SLOW_CALL_SECONDS = 0.1


class BackendHandler(JSONHandler):
    """Answers a GET at once, and a POST after SLOW_CALL_SECONDS, like a backend doing some
    work."""

    def do_GET(self) -> None:
        self.send_json(200, {})

    def do_POST(self) -> None:
        time.sleep(SLOW_CALL_SECONDS)
        self.send_json(200, {})


def chain_plan(steps: int, url: str) -> Plan:
    """GETs, each after the previous (a data_transform chain would be computed in the
    workflow, in one step)."""
    tasks = [{"id": f"t{index}", "action_type": "api_call",
              "action_config": {"url": f"{url}/step"},
              "depends_on": [f"t{index - 1}"] if index else []}
             for index in range(steps)]  # fmt: skip
    return Plan.model_validate({"goal": "chain", "tasks": tasks})


def fan_out_plan(count: int, url: str) -> Plan:
    tasks = [{"id": f"call{index}", "action_type": "api_call",
              "action_config": {"method": "POST", "url": f"{url}/work"}}
             for index in range(count)]  # fmt: skip
    return Plan.model_validate({"goal": "fan out", "tasks": tasks})


async def timed_run(settings: Settings, plan: Plan, max_parallel: int) -> float:
    client = await connect(settings)
    options = RunOptions(approval="none", max_parallel=max_parallel)
    started = time.perf_counter()
    result = await client.execute_workflow(
        WORKFLOW_NAME, RunInput(plan=plan, options=options), id=f"bench-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue, result_type=RunResult,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    assert result.status.value == "completed", result.error
    return elapsed


async def measure(tuned: bool, steps: int, backend_url: str) -> dict[str, float]:
    server = TemporalDevServer(free_port(), free_port(), headless=True, tuned=tuned).start()
    workspace = Path(tempfile.mkdtemp())
    settings = Settings(
        temporal_address=server.address,
        task_queue="bench",
        workspace_dir=workspace,
        http_allow_hosts=backend_url.removeprefix("http://"),  # a local backend: loopback
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop=stop, ready=ready))
    try:
        await ready.wait()
        await timed_run(settings, chain_plan(3, backend_url), 1)  # warm-up
        chain = await timed_run(settings, chain_plan(steps, backend_url), 1)
        serial = await timed_run(settings, fan_out_plan(steps, backend_url), 1)
        parallel = await timed_run(settings, fan_out_plan(steps, backend_url), steps)
    finally:
        stop.set()
        await worker
        server.stop()
    return {"step_ms": chain / steps * 1000, "serial_s": serial, "parallel_s": parallel}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    steps = parser.parse_args().steps
    configure_logging("WARNING")
    backend = BackgroundHTTPServer(BackendHandler).start()
    try:
        for tuned in (False, True):
            figures = await measure(tuned, steps, backend.url)
            label = "tuned dev server " if tuned else "default dev server"
            print(
                f"{label}: {figures['step_ms']:.1f} ms per chained step; "
                f"{steps} independent calls: {figures['serial_s']:.2f} s one at a time, "
                f"{figures['parallel_s']:.2f} s in parallel "
                f"({figures['serial_s'] / figures['parallel_s']:.1f}x)"
            )
    finally:
        backend.stop()


if __name__ == "__main__":
    asyncio.run(main())
