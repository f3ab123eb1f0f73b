"""A pipeline over real data sizes: fetch 5 pages of 10 MB, transform them, write the result.

    python bench/large_pages.py [--pages 5] [--page-mb 10]

Starts a tuned Temporal dev server, a local API serving the pages, and a worker process
(`python worker.py`, so its memory is its own). Then runs one plan: every page fetched in
parallel, each filtered by a data_transform, the filtered pages merged, the merge written to
the workspace. Prints the wall time, the size of the run's history (every history of it, as
Temporal JSON), the worker's peak RSS, and what went to the blob store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agentic.client import AgentClient
from agentic.core.messages import RunOptions
from agentic.devstack import (
    BackgroundHTTPServer,
    JSONHandler,
    TemporalDevServer,
    free_port,
    server_owner,
)
from agentic.logging import configure_logging
from agentic.settings import Settings

REPO = Path(__file__).resolve().parent.parent
RECORD_BYTES = 100  # about, as JSON


class PagesAPI(BackgroundHTTPServer):
    """`GET /page/N`: a JSON list of records, about `page_bytes` long (made once per page)."""

    def __init__(self, page_bytes: int) -> None:
        super().__init__(_PagesHandler, name="PagesAPI")
        self.records = page_bytes // RECORD_BYTES
        self.pages: dict[int, bytes] = {}

    def page(self, number: int) -> bytes:
        if number not in self.pages:
            first = number * self.records
            records = [
                {"id": i, "name": f"item-{i}", "active": i % 2 == 0, "score": i % 97,
                 "tags": ["alpha", "beta"], "note": "x" * 24}
                for i in range(first, first + self.records)
            ]  # fmt: skip
            self.pages[number] = json.dumps(records).encode()
        return self.pages[number]


class _PagesHandler(JSONHandler):
    def do_GET(self) -> None:
        self.send_json(200, server_owner(self).page(int(self.path.rsplit("/", 1)[-1])))


def pages_plan(api_url: str, pages: int) -> dict[str, Any]:
    """Fetch every page, keep the active records' id and score, merge, write the merge."""
    tasks: list[dict[str, Any]] = []
    for page in range(pages):
        tasks.append(
            {
                "id": f"fetch{page}",
                "action_type": "api_call",
                "action_config": {"url": f"{api_url}/page/{page}", "timeout": 120},
            }
        )
        tasks.append(
            {
                "id": f"active{page}",
                "action_type": "data_transform",
                "depends_on": [f"fetch{page}"],
                "action_config": {
                    "input": f"{{{{ tasks.fetch{page}.output.body }}}}",
                    "expression": "[?active].{id: id, score: score}",
                },
            }
        )
    merged = [f"{{{{ tasks.active{page}.output }}}}" for page in range(pages)]
    tasks.append(
        {
            "id": "merge",
            "action_type": "data_transform",
            "depends_on": [f"active{page}" for page in range(pages)],
            "action_config": {"input": merged, "expression": "[]"},
        }
    )
    tasks.append(
        {
            "id": "write",
            "action_type": "file_operation",
            "depends_on": ["merge"],
            "action_config": {
                "operation": "write",
                "path": "bench/merged.json",
                "content": "{{ tasks.merge.output }}",
            },
        }
    )
    return {"goal": f"merge the active records of {pages} large pages", "tasks": tasks}  # fmt: skip


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("w")
    worker = subprocess.Popen(
        [sys.executable, "worker.py"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while "worker_ready" not in log_path.read_text():
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker did not start:\n{log_path.read_text()[-2000:]}")
        time.sleep(0.1)
    return worker


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def history_bytes(client: AgentClient, workflow_id: str) -> tuple[int, int, int]:
    """(histories, events, bytes as Temporal JSON) over every run of the workflow id."""
    histories = events = size = 0
    async for execution in client.temporal.list_workflows(f"WorkflowId = '{workflow_id}'"):
        handle = client.temporal.get_workflow_handle(workflow_id, run_id=execution.run_id)
        history = await handle.fetch_history()
        histories, events, size = (
            histories + 1,
            events + len(history.events),
            size + len(history.to_json()),
        )
    return histories, events, size


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--page-mb", type=float, default=10.0)
    arguments = parser.parse_args()
    configure_logging("WARNING")
    root = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    server = TemporalDevServer(free_port(), free_port(), headless=True, tuned=True).start()
    api = PagesAPI(int(arguments.page_mb * 1_000_000)).start()
    for page in range(arguments.pages):
        api.page(page)  # made before the clock starts
    settings = Settings(temporal_address=server.address, task_queue="pages")
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": server.address,
        "TASK_QUEUE": "pages",
        "WORKSPACE_DIR": str(root / "workspace"),
        "BLOB_STORE": str(root / "blobs"),
        "HTTP_ALLOW_HOSTS": f"127.0.0.1:{api.port}",
        "LOG_LEVEL": "INFO",  # worker_ready is an INFO line
    }
    worker = start_worker(env, root / "worker.log")
    try:
        client = await AgentClient.connect(settings)
        started = time.perf_counter()
        handle = await client.start(
            plan=pages_plan(api.url, arguments.pages), options=RunOptions(approval="none")
        )
        result = await handle.result()
        seconds = time.perf_counter() - started
        if result.status.value != "completed":
            raise SystemExit(f"the run ended {result.status.value}: {result.error}")
        histories, events, size = await history_bytes(client, handle.workflow_id)
        retried = [task.task_id for task in result.tasks if task.attempts > 1]
        written = root / "workspace" / "bench" / "merged.json"
        blobs = [path for path in (root / "blobs").rglob("*") if path.is_file()]
        print(
            f"{arguments.pages} pages x {arguments.page_mb:g} MB: fetched, filtered, merged and "
            f"written in {seconds:.1f} s\n"
            f"  history: {size / 1_000_000:.3f} MB in {histories} history, {events} events\n"
            f"  worker peak RSS: {peak_rss_mb(worker.pid):.0f} MB\n"
            f"  blob store: {len(blobs)} values, "
            f"{sum(path.stat().st_size for path in blobs) / 1_000_000:.1f} MB; "
            f"written file: {written.stat().st_size / 1_000_000:.1f} MB\n"
            f"  tasks retried: {', '.join(retried) or 'none'}"
        )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        api.stop()
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
