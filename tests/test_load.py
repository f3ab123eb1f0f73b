"""Load: 200 runs of a 5-task plan at once on one worker process, its concurrency capped by a
setting. Every run completes with the right result, and the cap holds.

`bench/load.py` runs the same harness and prints the figures."""

from __future__ import annotations

import uuid

import pytest

from agentic.client import AgentClient
from bench.load import CountingAPI, run_load

RUNS = 200
MAX_ACTIVITIES = 5


@pytest.fixture(scope="module")
def counting_api():
    api = CountingAPI(delay=0.05).start()
    yield api
    api.stop()


async def test_200_runs_at_once_on_one_worker_all_complete_correctly(stack, counting_api, tmp_path):
    task_queue = f"load-{uuid.uuid4().hex[:8]}"
    stack.start_worker(
        {
            "TASK_QUEUE": task_queue,
            "WORKER_MAX_CONCURRENT_ACTIVITIES": str(MAX_ACTIVITIES),
            "HTTP_ALLOW_HOSTS": f"127.0.0.1:{counting_api.port}",
        },
        log_path=tmp_path / "load-worker.log",
    )
    client = await AgentClient.connect(address=stack.address, task_queue=task_queue)

    report = await run_load(client, counting_api.url, RUNS, prefix=task_queue)

    print(report.figures(counting_api))
    assert report.wrong == []
    assert counting_api.requests == RUNS * 2, "each call once: none repeated"
    assert len(set(counting_api.idempotency_keys)) == RUNS, "one idempotency key per order"
    # The GETs run as local activities, the POSTs as regular ones: each kind is capped.
    assert 1 < counting_api.peak_in_flight <= 2 * MAX_ACTIVITIES
