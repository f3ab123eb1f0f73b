"""Take the web console's screenshots of the docs.

Makes, in docs/images/:
- console-runs.png: the runs page, with a finished run and a 30-task run still going;
- console-run.png: that run's page: its plan as a graph (a for-each, a failed task, a task
  waiting for approval, tasks not started yet), the controls, a task's details, the events.

It starts its own Temporal dev server on a free port, a worker and the console in this
process, starts the runs, photographs the console with headless Chromium (Debian's
`chromium`, driven by Playwright; no browser is downloaded), then stops everything it started.
From the repository's root:

    python docs/console_screenshots.py
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import uvicorn
from playwright.async_api import async_playwright

from agentic import AgentClient, Plan, RunOptions, Settings, run_worker
from agentic.console import build_app
from agentic.console.security import Guard
from agentic.devstack import TemporalDevServer, free_port, port_open

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
RUN_ID = "regional-report"
TIMEOUT_SECONDS = 180


def task(task_id: str, action_type: str, config: dict[str, Any], *deps: str, **extra: Any) -> Any:
    return {"id": task_id, "action_type": action_type, "action_config": config,
            "depends_on": list(deps), **extra}  # fmt: skip


def thirty_tasks() -> Plan:
    """A report over eight regions: a for-each, stages that fan in, a check that fails (not
    critical), and a publication that waits for approval."""
    regions = ["eu-west", "eu-north", "us-east", "us-west", "apac", "latam", "mea", "anz"]
    tasks = [
        task("regions", "data_transform", {"input": regions, "expression": "@"}),
        task("per_region", "wait", {"seconds": 0.3}, "regions",
             for_each="{{ tasks.regions.output }}"),
        task("count", "data_transform", {"input": "{{ tasks.per_region.output }}",
                                         "expression": "length(@)"}, "per_region"),
    ]  # fmt: skip
    for n in range(1, 22):  # three layers of seven stages
        deps = ["count"] if n <= 7 else [f"stage_{n - 7}"]
        if n % 7 == 0 and n > 7:
            deps.append(f"stage_{n - 8}")
        tasks.append(task(f"stage_{n}", "wait", {"seconds": 0.2 + (n % 4) * 0.4}, *deps))
    tasks += [
        task("check_totals", "data_transform", {"input": {"total": 7}, "expression": "total",
             "require": "@ == `8`"}, "stage_21", critical=False),
        task("summary", "data_transform", {"input": "{{ tasks.count.output }}",
                                           "expression": "@"}, "stage_20", "stage_21"),
        task("publish", "api_call", {"method": "POST", "url": "https://reports.example.com/v1",
                                     "json": {"regions": "{{ tasks.count.output }}"}},
             "summary"),
        task("notify", "data_transform", {"input": "done", "expression": "@"}, "publish"),
        task("archive", "wait", {"seconds": 0.1}, "notify"),
        task("close", "data_transform", {"input": "closed", "expression": "@"}, "archive"),
    ]  # fmt: skip
    return Plan.model_validate({"goal": "Build the regional sales report and publish it",
                                "tasks": tasks})  # fmt: skip


async def start_runs(settings: Settings) -> None:
    client = await AgentClient.connect(settings)
    small = Plan.model_validate(
        {
            "goal": "Count the adult users",
            "tasks": [
                task("count", "data_transform", {"input": [36, 17, 52], "expression": "length(@)"})
            ],
        }
    )
    await client.run(plan=small, options=RunOptions(approval="none"), workflow_id="count-adults")
    options = RunOptions(approval="risky", analyze_failures=False)
    handle = await client.start(plan=thirty_tasks(), options=options, workflow_id=RUN_ID)
    while not any(t.status == "waiting_approval" for t in (await handle.status()).tasks):
        await asyncio.sleep(0.3)


async def take_screenshots(chromium: str, console: str) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 420})
            await page.goto(f"{console}/")
            await page.wait_for_selector(f'a[href="/runs/{RUN_ID}"]')
            await page.screenshot(path=IMAGES / "console-runs.png")
            await page.goto(f"{console}/runs/{RUN_ID}")
            await page.wait_for_selector('g.task[data-status="waiting_approval"]')
            graph_width = await page.eval_on_selector("#graph", "svg => svg.width.baseVal.value")
            # The whole graph, beside the details (26em) and the margins.
            await page.set_viewport_size({"width": int(graph_width) + 520, "height": 1100})
            await page.click('g.task[data-task="check_totals"]')
            await page.wait_for_selector("#details h2")
            await page.wait_for_timeout(1500)  # the events list fills
            await page.screenshot(path=IMAGES / "console-run.png", full_page=True)
            print("wrote docs/images/console-runs.png, docs/images/console-run.png")
        finally:
            await browser.close()


async def main() -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("no chromium on PATH: apt-get install chromium")
    server = TemporalDevServer(free_port(), free_port(), headless=True)
    await asyncio.to_thread(server.start)
    try:
        with tempfile.TemporaryDirectory(prefix="agentic-console-shots-") as scratch:
            settings = Settings(
                _env_file=None, temporal_address=server.address, task_queue="console-shots",
                workspace_dir=Path(scratch) / "workspace", data_dir=Path(scratch) / "data",
                log_level="WARNING",
            )  # fmt: skip
            stop, ready = asyncio.Event(), asyncio.Event()
            worker = asyncio.create_task(run_worker(settings, stop=stop, ready=ready))
            port = free_port()
            app = build_app(settings, Guard("127.0.0.1", None))
            console = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
            serving = asyncio.create_task(console.serve())
            try:
                async with asyncio.timeout(TIMEOUT_SECONDS):
                    await ready.wait()
                    while not port_open("127.0.0.1", port):
                        await asyncio.sleep(0.1)
                    await start_runs(settings)
                    await take_screenshots(chromium, f"http://127.0.0.1:{port}")
            finally:
                console.should_exit = True
                await serving
                client = await AgentClient.connect(settings)
                await (await client.get(RUN_ID)).cancel(reason="screenshots taken")
                stop.set()
                await worker
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
