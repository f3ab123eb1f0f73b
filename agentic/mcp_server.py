"""The engine as an MCP server (`python cli.py mcp-server`): IDE and desktop assistants start,
follow and steer runs through MCP tools, and read a run's plan and result as resources.

It is a client of the public Python API (agentic.client) like any user's code, on the official
`mcp` SDK's `MCPServer`: over stdio by default (stdout is the protocol; logs go to stderr), or
over the streamable HTTP transport, where a bearer token (MCP_SERVER_TOKEN) is required unless
the server is bound to a loopback address.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
import uvicorn
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from pydantic import AnyHttpUrl, ValidationError

from agentic import __version__
from agentic.client import AgentClient, RunHandle
from agentic.core.messages import RunOptions, RunResult
from agentic.core.plan import format_validation_error
from agentic.errors import AgenticError, RunResultUnavailable
from agentic.examples.sample_api import DEFAULT_PORT as SAMPLE_API_PORT
from agentic.settings import DOTENV, Settings
from agentic.workflows.visibility import AgentStatus

logger = structlog.get_logger("mcp_server")
TOKEN_VARIABLE = "MCP_SERVER_TOKEN"
HTTP_PATH = "/mcp"
DEFAULT_BY = "mcp"
NO_LLM = (
    "no LLM is configured on this server, so a goal cannot be planned (set OPENAI_API_KEY or "
    "OPENAI_BASE_URL); give a plan"
)
MAX_WAIT_SECONDS = 600.0
INSTRUCTIONS = (
    "Durable agentic runs on Temporal. start_run runs a goal (planned by the LLM) or a plan; "
    "run_status shows its phase and tasks; a run in approval mode plan waits in phase "
    "awaiting_approval until approve (or reject); run_result gives how it ended. Resources "
    "run://{run_id}/plan and run://{run_id}/result hold a run's plan and result as JSON."
)


class EngineTools:
    """The tools and resources, each a few lines over `AgentClient` and `RunHandle`. The client
    connects on the first call, so a server started before Temporal still lists its tools."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: AgentClient | None = None

    async def client(self) -> AgentClient:
        if self._client is None:
            self._client = await AgentClient.connect(self.settings)
        return self._client

    async def run(self, run_id: str) -> RunHandle:
        return await (await self.client()).get(run_id)

    async def start_run(
        self,
        goal: str | None = None,
        plan: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> dict[str, Any]:
        """Start a run of a goal in plain language (planned by the LLM) or of a plan (JSON:
        {goal, tasks: [{id, action_type, action_config, depends_on}]}); give exactly one.
        `options` are RunOptions, e.g. {"approval": "plan"} (none, plan or risky: the default);
        `run_id` the workflow id (default: random). Returns the run's id and Web UI link."""
        with api_errors():
            if bool(goal) == (plan is not None):
                raise ToolError("give exactly one of goal or plan")
            if goal and not self.settings.llm_configured:
                raise ToolError(NO_LLM)
            run_options = RunOptions.model_validate(options or {})
            client = await self.client()
            handle = await client.start(goal=goal, plan=plan, options=run_options,
                                        workflow_id=run_id)  # fmt: skip
        return {"workflow_id": handle.workflow_id, "web_ui_link": handle.web_ui_link,
                "approval": run_options.approval}  # fmt: skip

    async def run_status(self, run_id: str) -> dict[str, Any]:
        """A run as it is now: phase (planning, awaiting_approval, running, finished), plan,
        tasks with their status, output summary and errors, decisions, usage."""
        with api_errors():
            return (await (await self.run(run_id)).status()).model_dump(mode="json")

    async def run_result(self, run_id: str, wait_seconds: float = 0) -> dict[str, Any]:
        """How a run ended: status (completed, failed, cancelled, rejected), each task's output
        and error, the answer to the goal. A run still going is an error unless it ends within
        `wait_seconds` (at most 600)."""
        with api_errors():
            handle = await self.run(run_id)
            result = await _ended_result(handle, min(max(wait_seconds, 0), MAX_WAIT_SECONDS))
            return result.model_dump(mode="json")

    async def list_runs(
        self, status: AgentStatus | None = None, goal: str | None = None, limit: int = 20
    ) -> dict[str, Any]:
        """The latest runs, newest first, by status and by words of the goal."""
        with api_errors():
            client = await self.client()
            runs = await client.list(status=status, goal=goal, limit=limit)
        return {"runs": [run.model_dump(mode="json") for run in runs]}

    async def approve(
        self, run_id: str, task: str | None = None, by: str = DEFAULT_BY, reason: str = ""
    ) -> dict[str, Any]:
        """Approve a run's plan (approval mode plan), or with `task` one risky task waiting."""
        with api_errors():
            await (await self.run(run_id)).approve(task=task, by=by, reason=reason)
        return _sent("approve", run_id, task)

    async def reject(
        self, run_id: str, reason: str, task: str | None = None, by: str = DEFAULT_BY
    ) -> dict[str, Any]:
        """Reject a run's plan (the run ends as rejected), or with `task` skip one risky task."""
        with api_errors():
            await (await self.run(run_id)).reject(reason=reason, task=task, by=by)
        return _sent("reject", run_id, task)

    async def answer(
        self, run_id: str, task: str, value: Any, by: str = DEFAULT_BY
    ) -> dict[str, Any]:
        """Answer the question an `ask` task of a run waits on (run_status lists them under
        `questions`): `value` (JSON, matching the question's schema) becomes its output."""
        with api_errors():
            record = await (await self.run(run_id)).answer(task, value, by=by)
        return record.model_dump(mode="json")

    async def cancel(self, run_id: str, reason: str = "", by: str = DEFAULT_BY) -> dict[str, Any]:
        """Cancel a run: no new task starts, running ones are cancelled; it ends as cancelled."""
        with api_errors():
            await (await self.run(run_id)).cancel(reason=reason, by=by)
        return _sent("cancel", run_id, None)

    async def plan_resource(self, run_id: str) -> dict[str, Any]:
        """The run's plan (for a goal, once the planner wrote it), as JSON."""
        with resource_errors():
            state = await (await self.run(run_id)).status()
        if state.plan is None:
            raise ResourceError(f"run {run_id} has no plan yet (phase: {state.phase.value})")
        return state.plan.model_dump(mode="json", by_alias=True)

    async def result_resource(self, run_id: str) -> dict[str, Any]:
        """The run's result once it ended, as JSON."""
        with resource_errors():
            return (await _ended_result(await self.run(run_id), 0)).model_dump(mode="json")


async def _ended_result(handle: RunHandle, wait_seconds: float) -> RunResult:
    """The run's result; `RunResultUnavailable` when it has not ended within `wait_seconds`."""
    if await handle.is_running():
        try:
            async with asyncio.timeout(wait_seconds):
                return await handle.result()
        except TimeoutError:
            state = await handle.status()
            raise RunResultUnavailable(
                f"run {handle.workflow_id} is still going (phase: {state.phase.value}); see "
                "run_status, or give wait_seconds"
            ) from None
    return await handle.result()


def _sent(verb: str, run_id: str, task: str | None) -> dict[str, Any]:
    return {"workflow_id": run_id, "sent": verb, "target": f"task {task}" if task else "run"}


def one_line(text: str) -> str:
    """A message that may span lines (a parser's caret display), on one line."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


@contextmanager
def api_errors() -> Iterator[None]:
    """The API's errors as MCP tool errors: the one-line message the CLI would print."""
    try:
        yield
    except AgenticError as error:
        raise ToolError(one_line(str(error))) from None
    except ValidationError as error:
        raise ToolError(f"invalid options: {format_validation_error(error)}") from None


@contextmanager
def resource_errors() -> Iterator[None]:
    """The API's errors as MCP resource errors, in one line."""
    try:
        yield
    except AgenticError as error:
        raise ResourceError(one_line(str(error))) from None


TOOLS = ["start_run", "run_status", "run_result", "list_runs", "approve", "reject", "answer",
         "cancel"]  # fmt: skip
RESOURCES = {"run://{run_id}/plan": "plan_resource", "run://{run_id}/result": "result_resource"}


class StaticTokenVerifier:
    """The SDK's bearer check against one shared token (MCP_SERVER_TOKEN)."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def verify_token(self, token: str) -> AccessToken | None:
        if not hmac.compare_digest(token.encode(), self._token):
            return None
        return AccessToken(token=token, client_id="mcp-server-token", scopes=[])


def build_server(settings: Settings, *, token: str | None = None, url: str = "") -> MCPServer:
    """The MCP server over the engine; with `token`, HTTP requests must bear it."""
    server: MCPServer = MCPServer(
        "agentic",
        version=__version__,
        instructions=INSTRUCTIONS,
        # The SDK's bearer middleware, with our one token: no OAuth server behind it.
        token_verifier=StaticTokenVerifier(token) if token else None,
        auth=AuthSettings(issuer_url=AnyHttpUrl(url), resource_server_url=None) if token else None,
    )
    tools = EngineTools(settings)
    for name in TOOLS:
        server.add_tool(getattr(tools, name), name=name, structured_output=False)
    for uri, method in RESOURCES.items():
        server.resource(uri, mime_type="application/json")(getattr(tools, method))
    return server


def server_token(settings: Settings) -> str | None:
    """MCP_SERVER_TOKEN (a setting: the environment or .env)."""
    token = settings.mcp_server_token
    return token.get_secret_value() or None if token is not None else None


def http_address(address: str) -> tuple[str, int]:
    """`--http HOST:PORT` as its parts; a ValueError says what is wrong."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--http takes HOST:PORT (127.0.0.1:8765), not {address!r}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach `host`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def serve_stdio(settings: Settings) -> None:
    """Serve over stdin and stdout until the client closes them."""
    # Desktop clients start servers in a directory of their own (often /): say which
    # settings were found, in the client's log of the server's stderr.
    dotenv = DOTENV.absolute()
    found = f"and {dotenv}" if dotenv.is_file() else f"only (no .env in {dotenv.parent})"
    target = f"Temporal at {settings.temporal_address}, task queue {settings.task_queue}"
    print(f"serving MCP on stdio for {target}; settings from the environment {found}",
          file=sys.stderr)  # fmt: skip
    await build_server(settings).run_stdio_async()


async def serve_http(settings: Settings, address: str) -> None:
    """Serve the streamable HTTP transport on `address` (HOST:PORT), at /mcp, until SIGINT or
    SIGTERM. A ValueError when the address is wrong, or not loopback and no token is set."""
    host, port = http_address(address)
    token = server_token(settings)
    if not token and not is_loopback(host):
        raise ValueError(f"--http {address} is reachable from other machines: set "
                         f"{TOKEN_VARIABLE}, the bearer token clients must send")  # fmt: skip
    url = f"http://{address}"
    check_free(host, port, address)
    app = build_server(settings, token=token, url=url).streamable_http_app(
        streamable_http_path=HTTP_PATH, host=host
    )
    # log_config=None: uvicorn's loggers go through ours, to stderr.
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
    logger.info("mcp_server_listening", url=f"{url}{HTTP_PATH}", token_required=bool(token))
    access = "clients send the bearer token" if token else "loopback only, no token"
    print(f"serving MCP at {url}{HTTP_PATH} ({access}); Ctrl-C stops", file=sys.stderr)
    await uvicorn.Server(config).serve()


def check_free(host: str, port: int, address: str) -> None:
    """A ValueError naming the address when nothing can listen there (in use, or not ours)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            also = f" ({port} is also the sample API's)" if port == SAMPLE_API_PORT else ""
            raise ValueError(
                f"cannot listen on {address}: {error.strerror or error}; choose another port{also}"
            ) from None
