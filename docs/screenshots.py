"""Take the Temporal Web UI screenshots of the docs.

Makes, in docs/images/:
- web-ui-runs.png: the namespace's workflow list, one completed run and one failed run;
- web-ui-run.png: the completed run's page, its summary (the goal) and details (the plan);
- web-ui-run-history.png: the same run's event history, oldest event first.

It starts its own Temporal dev server (with its Web UI) on free ports and a worker in this
process, runs examples/hello.json to completion and a plan whose check fails, photographs the
Web UI with headless Chromium (Debian's `chromium`, driven by Playwright; no browser is
downloaded), then stops everything it started. From the repository's root:

    python docs/screenshots.py
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

from playwright.async_api import Page, async_playwright

from agentic import AgentClient, Plan, RunOptions, Settings, run_worker
from agentic.devstack import TemporalDevServer, free_port, port_open

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
COMPLETED_ID = "hello-adults-report"
FAILED_ID = "check-enough-adults"
TIMEOUT_SECONDS = 180  # for the runs and the screenshots: a hang becomes an error

# A validation step that cannot hold: `require` is false, so the task fails without retries.
FAILING_PLAN = Plan.model_validate(
    {
        "goal": "Check that there are at least five adult users",
        "tasks": [
            {
                "id": "check",
                "name": "Check the adults",
                "action_type": "data_transform",
                "action_config": {
                    "input": [{"name": "ada", "age": 36}, {"name": "bob", "age": 17}],
                    "expression": "[?age >= `18`].name",
                    "require": "length(@) >= `5`",
                },
            }
        ],
    }
)


async def wait_for_port(port: int) -> None:
    """Wait until something listens on 127.0.0.1:port (the Web UI starts after gRPC)."""
    while not port_open("127.0.0.1", port):
        await asyncio.sleep(0.2)


async def run_examples(settings: Settings, hello: Plan) -> str:
    """Run the plan that completes and the one that fails; the completed run's Web UI link."""
    client = await AgentClient.connect(settings)
    handle = await client.start(
        plan=hello, options=RunOptions(approval="none"), workflow_id=COMPLETED_ID
    )
    print(COMPLETED_ID, (await handle.result()).status)
    # No LLM here: the run fails at once instead of asking the failure analyst.
    options = RunOptions(approval="none", analyze_failures=False)
    failed = await client.run(plan=FAILING_PLAN, options=options, workflow_id=FAILED_ID)
    print(FAILED_ID, failed.status)
    return handle.web_ui_link


async def save(page: Page, name: str) -> None:
    """The viewport as docs/images/<name>, once the page stopped loading."""
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=IMAGES / name)
    print("wrote", (IMAGES / name).relative_to(ROOT))


async def take_screenshots(chromium: str, ui_url: str, run_link: str, goal: str) -> None:
    """The run list, the completed run's summary and details, and its event history."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            await page.goto(f"{ui_url}/namespaces/default/workflows")
            await page.get_by_role("link", name=FAILED_ID).wait_for()
            await page.get_by_role("link", name=COMPLETED_ID).wait_for()
            await save(page, "web-ui-runs.png")

            await page.goto(run_link)  # the Web UI adds the run id and opens its timeline
            await page.get_by_test_id("user-metadata-tab").click()
            # Summary and details are markdown, each rendered in its own frame.
            await page.frame_locator("#user-metadata-summary").get_by_text(goal).wait_for()
            await page.frame_locator("#user-metadata-details").get_by_role("table").wait_for()
            await save(page, "web-ui-run.png")

            await page.get_by_test_id("history-tab").click()
            await page.get_by_role("button", name="Descending").click()  # oldest event first
            await page.get_by_text("Workflow Execution Completed").wait_for()
            heading = page.get_by_role("heading", name="Event History")
            # Scroll the history to the top of the view, a little below the sticky header.
            await heading.evaluate("e => { e.style.scrollMarginTop = '24px'; e.scrollIntoView(); }")
            await save(page, "web-ui-run-history.png")
        finally:
            await browser.close()


async def main() -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("no chromium on PATH: apt-get install chromium")
    hello = Plan.model_validate_json((ROOT / "examples" / "hello.json").read_text())
    server = TemporalDevServer(free_port(), free_port(), headless=False)
    await asyncio.to_thread(server.start)
    try:
        with tempfile.TemporaryDirectory(prefix="agentic-screenshots-") as scratch:
            settings = Settings(
                _env_file=None,  # not the checkout's .env: the same pictures everywhere
                temporal_address=server.address,
                temporal_ui_url=server.ui_url,
                task_queue="docs-screenshots",
                workspace_dir=Path(scratch) / "workspace",
                data_dir=Path(scratch) / "data",
                log_level="WARNING",
            )
            stop, ready = asyncio.Event(), asyncio.Event()
            worker = asyncio.create_task(run_worker(settings, stop=stop, ready=ready))
            try:
                async with asyncio.timeout(TIMEOUT_SECONDS):
                    await ready.wait()
                    run_link = await run_examples(settings, hello)
                    await wait_for_port(server.ui_port)
                    await take_screenshots(chromium, server.ui_url, run_link, hello.goal)
            finally:
                stop.set()
                await worker
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
