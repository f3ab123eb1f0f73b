"""The web console (`cli.py ui`, issue 23), driven in a real browser: Playwright's async API on
Debian's Chromium, found with shutil.which("chromium") and given as `executable_path` (no
browser download). Without Chromium these tests skip, saying how to get it.

Not pytest-playwright's `page` fixture: its sync API leaves an event loop running in the test
process, and every later test there that calls asyncio.run fails."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import datetime

import httpx
import pytest
from playwright.async_api import Page, async_playwright

from agentic.devstack import free_port, port_open, stop_process
from tests.conftest import REPO, wait_until
from tests.fakes.api_server import Reply
from tests.helpers import task, tasks_by_id
from tests.test_long_runs import histories_of

CHROMIUM = shutil.which("chromium")
TOKEN = "console-token-for-tests"
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium: install Debian's chromium package (apt install chromium)"
)


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    """A page of a headless Chromium of its own, closed after the test."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = await browser.new_context()
            context.set_default_timeout(20_000)
            yield await context.new_page()
        finally:
            await browser.close()


def start_console(stack, host: str, extra_env: dict[str, str] | None = None):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "cli.py", "ui", "--host", host, "--port", str(port)],
        cwd=REPO, env={**stack.env, **(extra_env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    wait_until(lambda: port_open("127.0.0.1", port), 30, "the console to listen")
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def console(stack) -> Iterator[str]:
    """The console on loopback (no token), stopped after the module."""
    process, url = start_console(stack, "127.0.0.1")
    yield url
    stop_process(process)


@pytest.fixture(scope="module")
def open_console(stack) -> Iterator[str]:
    """The console on every address: it needs its token (UI_TOKEN)."""
    process, url = start_console(stack, "0.0.0.0", {"UI_TOKEN": TOKEN})
    yield url
    stop_process(process)


def start(stack, run_id, plan):
    started = stack.cli("start", "--plan", str(stack.write_plan(plan)), "--id", run_id)
    assert started.returncode == 0, started.stderr


async def test_the_run_page_follows_the_run_and_a_waiting_task_is_approved_there(
    page, console, stack, api, run_id
):
    api.route("POST", f"/console/{run_id}", Reply(201, json={"saved": True}))
    start(stack, run_id, {"tasks": [
        task("first", "wait", {"seconds": 1}),
        task("save", "api_call", {"method": "POST", "url": f"{api.url}/console/{run_id}"},
             "first"),
    ]})  # fmt: skip

    await page.goto(f"{console}/runs/{run_id}")
    await page.fill("#who", "ana")
    await page.dispatch_event("#who", "change")
    # The graph follows the run's events: first completes, save waits for approval.
    await page.wait_for_selector(
        'g.task[data-task="first"][data-status="completed"]', timeout=20_000
    )
    await page.wait_for_selector('g.task[data-task="save"][data-status="waiting_approval"]')
    assert api.calls("POST", f"/console/{run_id}") == []
    await page.fill("#waiting-save form[data-action=approve] input[name=reason]", "checked")
    await page.click("#waiting-save form[data-action=approve] button")

    await page.wait_for_selector(
        'g.task[data-task="save"][data-status="completed"]', timeout=20_000
    )
    await page.wait_for_selector(".facts .status.s-completed")
    assert "save approved by ana" in await page.text_content("#events")
    await page.click('g.task[data-task="save"]')
    await page.wait_for_selector("#details h2")
    assert "api_call" in await page.text_content("#details")
    result = stack.cli_json("result", run_id, "--wait")
    assert tasks_by_id(result)["save"]["approved_by"] == "ana"
    assert len(api.calls("POST", f"/console/{run_id}")) == 1


async def test_the_graph_follows_the_run_while_a_person_types_in_a_control(
    page, console, stack, api, run_id
):
    """What a person types in a control stays while the graph goes on following the run; the
    edit form starts from the task's config, and a config that is not JSON is one line above
    the controls."""
    start(stack, run_id, {"tasks": [
        task("pick", "ask", {"question": "Which region?", "choices": ["eu", "us"]}),
        task("save", "api_call", {"method": "POST", "url": f"{api.url}/typing/{run_id}"}),
    ]})  # fmt: skip
    await page.goto(f"{console}/runs/{run_id}")
    await page.wait_for_selector("#waiting-save")
    await page.click("#waiting-save summary")
    edit = "#waiting-save form[data-action=edit]"
    assert f"/typing/{run_id}" in await page.input_value(f"{edit} textarea")
    await page.fill(f"{edit} textarea", '{"method": "POST", "url": ')
    await page.click(f"{edit} button")
    await page.wait_for_selector("#message.bad")
    refused = await page.text_content("#message")
    assert "the config is not JSON (Expecting value at line 1" in refused
    assert await page.eval_on_selector("#events li", "item => item.value") == 0, "by offset"

    reason = "form[data-action=cancel] input[name=reason]"
    await page.fill(reason, "half typed")  # the focus stays in it
    answered = stack.cli("answer", run_id, "pick", "--value", '"eu"')
    assert answered.returncode == 0, answered.stderr
    await page.wait_for_selector('g.task[data-task="pick"][data-status="completed"]')
    assert await page.input_value(reason) == "half typed"
    assert await page.is_visible("#question-pick"), "the controls stay while typed in"
    await page.click("h1")  # leaving them shows what changed in them
    await page.wait_for_selector("#question-pick", state="detached")
    assert "not JSON" in await page.text_content("#message")
    stack.cli("cancel", run_id)


async def test_a_question_is_answered_through_the_form_its_schema_makes(
    page, console, stack, run_id
):
    schema = {"type": "integer", "minimum": 1}
    start(stack, run_id, {"tasks": [
        task("copies", "ask", {"question": "How many copies?", "answer_schema": schema}),
    ]})  # fmt: skip

    await page.goto(f"{console}/runs/{run_id}")
    await page.wait_for_selector("#question-copies input[type=number]")
    await page.fill("#question-copies input[name=value]", "0")
    await page.click("#question-copies button")
    await page.wait_for_selector("#message.bad")
    assert "0 is less than the minimum of 1" in await page.text_content("#message")
    await page.fill("#question-copies input[name=value]", "3")
    await page.click("#question-copies button")

    await page.wait_for_selector(".facts .status.s-completed")
    result = stack.cli_json("result", run_id, "--wait")
    assert tasks_by_id(result)["copies"]["output"] == 3


async def test_the_runs_page_lists_and_filters_runs(page, console, stack, client, run_id):
    """A run that continued as new is one row, as it is one page."""
    stack.run_plan({"goal": f"count the herd {run_id}",
                    "tasks": [task("n", "data_transform", {"input": 3, "expression": "@"})]},
                   run_id, "--approval", "none")  # fmt: skip
    chain = [task(f"n{i}", "data_transform", {"input": i, "expression": "@"}) for i in range(3)]
    for before, after in itertools.pairwise(chain):
        after["depends_on"] = [before["id"]]
    continued = f"{run_id}-continued"
    stack.run_plan({"goal": f"count the herd again {run_id}", "tasks": chain}, continued,
                   "--approval", "none", env={"CONTINUE_AS_NEW_AFTER_TASKS": "1"})  # fmt: skip

    assert len(await histories_of(client, continued)) > 1, "it did continue as new"
    last = await client.get_workflow_handle(continued).describe()

    def listed_completed() -> dict | None:  # the list is eventually consistent
        lines = stack.cli("list", "--goal", run_id, "--json").stdout.splitlines()
        row = {row["workflow_id"]: row for row in map(json.loads, lines)}.get(continued)
        return row if row and row["status"] == "completed" else None

    started = datetime.fromisoformat(wait_until(listed_completed, 30, "the run listed")["started"])
    result = stack.cli_json("result", continued)
    assert started == datetime.fromisoformat(result["started_at"]) < last.start_time, (
        "its start is the run's, not its last history's"
    )

    links = [page.locator(f'a[href="/runs/{run}"]') for run in (run_id, continued)]
    for _ in range(60):  # the list is eventually consistent
        await page.goto(f"{console}/?goal={run_id}")
        if all([await link.count() >= 1 for link in links]):
            break
        await asyncio.sleep(0.5)
    else:
        raise AssertionError("the runs never showed in the list")
    assert [await link.count() for link in links] == [1, 1]
    assert "completed" in await page.text_content("table.runs tbody")
    await page.goto(f"{console}/?status=failed&goal={run_id}")
    assert "No runs match these filters" in await page.text_content("table.runs")


async def test_a_console_on_another_address_needs_its_token(page, open_console):
    refused = httpx.get(f"{open_console}/", headers={"accept": "application/json"})
    assert refused.status_code == 401
    bearer = httpx.get(f"{open_console}/", headers={"authorization": f"Bearer {TOKEN}"})
    assert bearer.status_code == 200

    await page.goto(f"{open_console}/?token=wrong")
    assert page.url.startswith(f"{open_console}/login")
    assert "wrong token" in await page.text_content("main"), "a wrong link says so"
    await page.goto(f"{open_console}/")
    assert page.url.startswith(f"{open_console}/login")
    await page.fill("input[name=token]", "wrong")
    await page.click("form button")
    assert "wrong token" in await page.text_content("main")
    await page.fill("input[name=token]", TOKEN)
    await page.click("form button")
    await page.wait_for_selector("table.runs")


def test_a_post_without_the_csrf_token_is_refused(console, stack, run_id):
    start(stack, run_id, {"tasks": [task("w", "wait", {"seconds": 30})]})

    refused = httpx.post(f"{console}/runs/{run_id}/pause", data={"by": "mallory"})

    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]
    assert stack.cli_json("status", run_id)["paused"] is False
    rebound = httpx.get(f"{console}/", headers={"host": "attacker.example"})
    assert rebound.status_code == 403, "a DNS-rebound page is refused on loopback"
    stack.cli("cancel", run_id)


async def test_a_run_is_started_from_the_runs_page(page, console, stack):
    await page.goto(f"{console}/")
    await page.locator("details.start").evaluate("details => { details.open = true }")
    await page.fill("#start textarea[name=goal]", "a goal")
    await page.locator("#start details").evaluate("details => { details.open = true }")
    await page.fill("#start textarea[name=plan]", '{"tasks": [')
    await page.click("#start button")
    await page.wait_for_selector("#start-message:not(:empty)")
    assert "give a goal, or a plan as JSON (not both)" in await page.text_content("#start-message")

    await page.fill("#start textarea[name=goal]", "")
    plan = {
        "goal": "count from the console",
        "tasks": [task("n", "data_transform", {"input": [1, 2], "expression": "length(@)"})],
    }
    await page.fill("#start textarea[name=plan]", json.dumps(plan))
    await page.select_option("#start select[name=approval]", "none")
    await page.click("#start button")

    await page.wait_for_url(f"{console}/runs/**")
    await page.wait_for_selector(".facts .status.s-completed")
    run_id = page.url.rsplit("/", 1)[1]
    assert stack.cli_json("result", run_id)["tasks"][0]["output"] == 2
