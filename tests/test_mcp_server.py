"""`python cli.py mcp-server`: an MCP client (the `mcp` SDK's own) starts, follows and steers
runs through its tools and reads their plans and results as resources, over stdio and over
streamable HTTP (a bearer token unless bound to loopback)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from agentic.devstack import free_port, port_open, stop_process
from tests.conftest import REPO, Stack, wait_until

TOOLS = {"start_run", "run_status", "run_result", "list_runs", "approve", "reject", "answer",
         "cancel"}  # fmt: skip
PLAN = {
    "goal": "keep the adult users",
    "tasks": [
        {
            "id": "adults",
            "action_type": "data_transform",
            "action_config": {
                "input": [{"name": "ada", "age": 36}, {"name": "bob", "age": 17}],
                "expression": "[?age >= `18`].name",
            },
        }
    ],
}
TIMEOUT_SECONDS = 60


@asynccontextmanager
async def stdio_session(stack: Stack, log: Path) -> AsyncIterator[Client]:
    """`python cli.py mcp-server` as a subprocess with the stack's environment, its stderr
    (the logs) in `log`: stdout carries nothing but the protocol."""
    params = StdioServerParameters(
        command=sys.executable, args=["cli.py", "mcp-server"], env=stack.env, cwd=REPO
    )
    with log.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            yield client


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    """A tool's JSON answer; the test fails with the tool's message if it is an error."""
    result = await client.call_tool(tool, arguments)
    text = result.content[0].text  # type: ignore[union-attr]
    assert not result.is_error, text
    return json.loads(text)


async def tool_error(client: Client, tool: str, **arguments: Any) -> str:
    """The one line of a tool call that must fail."""
    result = await client.call_tool(tool, arguments)
    text: str = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error, text
    assert "\n" not in text
    return text


async def until_phase(client: Client, run_id: str, phase: str) -> dict[str, Any]:
    """Poll run_status until the run is in `phase` (bounded)."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        state = await call(client, "run_status", run_id=run_id)
        if state["phase"] == phase:
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} never reached phase {phase}")


async def start_waiting(client: Client, run_id: str) -> None:
    started = await call(client, "start_run", plan=PLAN, options={"approval": "plan"},
                         run_id=run_id)  # fmt: skip
    assert started["workflow_id"] == run_id
    assert started["approval"] == "plan"
    await until_phase(client, run_id, "awaiting_approval")


async def test_a_client_over_stdio_starts_approves_and_reads_a_run(stack, run_id, tmp_path):
    async with stdio_session(stack, tmp_path / "server.log") as client:
        assert {tool.name for tool in (await client.list_tools()).tools} == TOOLS
        templates = (await client.list_resource_templates()).resource_templates
        assert {t.uri_template for t in templates} == {"run://{run_id}/plan",
                                                       "run://{run_id}/result"}  # fmt: skip
        await start_waiting(client, run_id)
        still_going = await tool_error(client, "run_result", run_id=run_id)
        assert "still going (phase: awaiting_approval)" in still_going

        plan = await client.read_resource(f"run://{run_id}/plan")
        assert json.loads(plan.contents[0].text)["tasks"][0]["id"] == "adults"  # type: ignore[union-attr]

        sent = await call(client, "approve", run_id=run_id, by="ada", reason="looks fine")
        assert sent == {"workflow_id": run_id, "sent": "approve", "target": "run"}
        result = await call(client, "run_result", run_id=run_id, wait_seconds=TIMEOUT_SECONDS)
        assert result["status"] == "completed"
        assert result["tasks"][0]["output"] == ["ada"]

        resource = await client.read_resource(f"run://{run_id}/result")
        assert json.loads(resource.contents[0].text)["status"] == "completed"  # type: ignore[union-attr]
        listed = await call(client, "list_runs", status="completed", limit=50)
        assert run_id in [run["workflow_id"] for run in listed["runs"]]


async def test_a_desktop_config_starts_it_from_any_directory(stack, run_id, tmp_path):
    """As a claude_desktop_config.json entry starts it: absolute paths, the settings in its
    env, in a directory of the client's with no .env; it says on stderr (the client's log)
    which settings it found."""
    params = StdioServerParameters(command=sys.executable, env=stack.env, cwd=tmp_path,
                                   args=[str(REPO / "cli.py"), "mcp-server"])  # fmt: skip
    log = tmp_path / "server.log"
    with log.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            await start_waiting(client, run_id)
            await call(client, "approve", run_id=run_id)
            result = await call(client, "run_result", run_id=run_id, wait_seconds=TIMEOUT_SECONDS)
    assert result["status"] == "completed"
    target = f"Temporal at {stack.env['TEMPORAL_ADDRESS']}, task queue {stack.env['TASK_QUEUE']}"
    said = f"serving MCP on stdio for {target}; settings from the environment only (no .env in "
    assert f"{said}{tmp_path})" in log.read_text()


async def test_a_client_over_stdio_rejects_and_cancels_runs(stack, run_id, tmp_path):
    rejected, cancelled = f"{run_id}-rejected", f"{run_id}-cancelled"
    async with stdio_session(stack, tmp_path / "server.log") as client:
        await start_waiting(client, rejected)
        await call(client, "reject", run_id=rejected, reason="not today")
        result = await call(client, "run_result", run_id=rejected, wait_seconds=TIMEOUT_SECONDS)
        assert result["status"] == "rejected"

        await start_waiting(client, cancelled)
        await call(client, "cancel", run_id=cancelled, reason="changed my mind")
        result = await call(client, "run_result", run_id=cancelled, wait_seconds=TIMEOUT_SECONDS)
        assert result["status"] == "cancelled"
        ended = await tool_error(client, "approve", run_id=cancelled)
        assert f"run {cancelled} has already ended" in ended


async def test_the_api_s_errors_are_tool_errors_in_one_line(stack, tmp_path):
    unknown = f"no-such-run-{uuid.uuid4().hex[:6]}"
    log = tmp_path / "server.log"
    async with stdio_session(stack, log) as client:
        message = await tool_error(client, "run_status", run_id=unknown)
        assert f"no run with id '{unknown}'" in message
        assert "give exactly one of goal or plan" in await tool_error(client, "start_run")
        invalid = await tool_error(client, "start_run", plan={"goal": "nothing", "tasks": []})
        assert "plan.tasks" in invalid
        assert unknown in await tool_error(client, "answer", run_id=unknown, task="a", value=1)
        with pytest.raises(MCPError, match=f"no run with id '{unknown}'"):
            await client.read_resource(f"run://{unknown}/result")
    assert log.read_text().strip(), "the server logs on stderr"


async def test_a_client_over_stdio_answers_a_question(stack, run_id, tmp_path):
    plan = {"goal": "ask then use the answer", "tasks": [
        {"id": "pick", "action_type": "ask", "action_config": {"question": "How many copies?"}},
        {"id": "copies", "action_type": "data_transform", "depends_on": ["pick"],
         "action_config": {"input": "{{ tasks.pick.output }}", "expression": "@"}},
    ]}  # fmt: skip
    async with stdio_session(stack, tmp_path / "server.log") as client:
        await call(client, "start_run", plan=plan, options={"approval": "none"}, run_id=run_id)
        state = await until_phase(client, run_id, "running")
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while not state.get("questions") and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            state = await call(client, "run_status", run_id=run_id)
        assert [question["task_id"] for question in state["questions"]] == ["pick"]
        not_asking = await tool_error(client, "answer", run_id=run_id, task="copies", value=1)
        assert "copies" in not_asking
        taken = await call(client, "answer", run_id=run_id, task="pick", value="two", by="ana")
        assert taken == {"task": "pick", "value": "two", "by": "ana"}
        result = await call(client, "run_result", run_id=run_id, wait_seconds=TIMEOUT_SECONDS)
        assert result["status"] == "completed"
        assert result["tasks"][1]["output"] == "two"


@asynccontextmanager
async def http_server(
    stack: Stack, bind: str, log: Path, env: dict[str, str] | None = None
) -> AsyncIterator[int]:
    """`mcp-server --http BIND:PORT` until the block ends; its port."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "cli.py", "mcp-server", "--http", f"{bind}:{port}"],
        cwd=REPO,
        env={**stack.env, **(env or {})},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )

    def listening() -> bool:
        assert process.poll() is None, f"the server exited: {log.read_text()[-2000:]}"
        return port_open("127.0.0.1", port)

    try:
        wait_until(listening, TIMEOUT_SECONDS, "the MCP server")
        yield port
    finally:
        stop_process(process)


async def test_over_http_on_loopback_no_token_is_needed(stack, run_id, tmp_path):
    log = tmp_path / "http.log"
    async with (
        http_server(stack, "127.0.0.1", log) as port,
        Client(f"http://127.0.0.1:{port}/mcp") as client,
    ):
        assert {tool.name for tool in (await client.list_tools()).tools} == TOOLS
        await call(client, "start_run", plan=PLAN, options={"approval": "none"}, run_id=run_id)
        result = await call(client, "run_result", run_id=run_id, wait_seconds=TIMEOUT_SECONDS)
        assert result["tasks"][0]["output"] == ["ada"]


async def test_over_http_beyond_loopback_the_token_is_required(stack, tmp_path):
    refused = stack.cli("mcp-server", "--http", f"0.0.0.0:{free_port()}",
                        env={"MCP_SERVER_TOKEN": ""})  # fmt: skip
    assert refused.returncode == 1
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "set MCP_SERVER_TOKEN" in refused.stderr

    token = uuid.uuid4().hex
    env = {"MCP_SERVER_TOKEN": token}
    async with http_server(stack, "0.0.0.0", tmp_path / "http.log", env) as port:
        url = f"http://127.0.0.1:{port}/mcp"
        initialize = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        headers = {"Accept": "application/json, text/event-stream"}
        async with httpx.AsyncClient() as raw:
            assert (await raw.post(url, json=initialize, headers=headers)).status_code == 401
            wrong = {**headers, "Authorization": "Bearer not-the-token"}
            assert (await raw.post(url, json=initialize, headers=wrong)).status_code == 401
        bearer = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with bearer, Client(streamable_http_client(url, http_client=bearer)) as client:
            assert {tool.name for tool in (await client.list_tools()).tools} == TOOLS
            assert "runs" in await call(client, "list_runs", limit=1)
