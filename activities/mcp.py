"""MCP servers' tools as actions: the worker connects to each server of MCP_SERVERS at start
(a stdio server is started as the worker's child process), lists its tools, and registers one
action type per tool (`mcp.<server>.<tool>`, core/mcp.py) whose runner calls the tool.

A connection is held by a task of its own (the SDK's transports must be closed by the task
that opened them); a transport error closes it, and the next call opens it again (a stdio
server that died is started again). A tool's own error (`isError`) is not retried."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import httpx2
import structlog

from agentic.activities.network import (
    NetworkPolicy,
    NetworkRefused,
    guarded_client2,
    refusal_error,
)
from agentic.activities.secrets import SecretStore
from agentic.core.actions.base import Action
from agentic.core.errors import ActionError, ErrorType, non_retryable, retryable
from agentic.core.mcp import McpServerSetting, action_type, tool_spec
from agentic.core.registry import ACTIONS

logger = structlog.get_logger("mcp")
CONNECT_TIMEOUT_SECONDS = 30.0

if TYPE_CHECKING:  # the SDK loads when a server is configured: half a second of every start
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters
    from mcp_types import Tool


class McpUnavailable(Exception):
    """A server that cannot be reached (or started), with the reason in one line."""


class McpConnection:
    """One server's connection, opened on first use and again after a transport error."""

    def __init__(
        self,
        name: str,
        setting: McpServerSetting,
        secrets: SecretStore,
        policy: NetworkPolicy,
        errlog: TextIO = sys.stderr,
    ) -> None:
        self.name = name
        self._errlog = errlog  # where a stdio server's own stderr goes
        self.setting = setting
        self._secrets = secrets
        self._policy = policy
        self._client: Client | None = None
        self._closing = asyncio.Event()
        self._holder: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._http_error: str | None = None  # the last HTTP error an HTTP server answered

    async def client(self) -> Client:
        """The open client, opening the connection if needed; McpUnavailable says why not."""
        async with self._lock:
            if self._client is None:
                await self._open()
            assert self._client is not None
            return self._client

    async def _open(self) -> None:
        await self._check_network()
        self._http_error = None
        ready, failure = asyncio.Event(), list[str]()
        self._closing = asyncio.Event()
        self._holder = asyncio.create_task(self._hold(ready, failure, self._closing))
        try:
            await asyncio.wait_for(ready.wait(), CONNECT_TIMEOUT_SECONDS)
        except TimeoutError:
            await self.close()
            raise McpUnavailable(f"no answer within {CONNECT_TIMEOUT_SECONDS:g} s") from None
        if failure:
            raise McpUnavailable(failure[0])

    async def _hold(self, ready: asyncio.Event, failure: list[str], closing: asyncio.Event) -> None:
        from mcp import Client

        try:
            async with Client(self._server(), mode="legacy") as client:
                self._client = client
                ready.set()
                await closing.wait()
        except Exception as error:
            # The SDK says only "Server returned an error response": say what it answered.
            failure.append(self._http_error or self._reason_to_open(_innermost(error)))
        finally:
            self._client = None
            ready.set()

    def _reason_to_open(self, error: BaseException) -> str:
        """Why the server could not be started or connected to, saying what to check."""
        if isinstance(error, FileNotFoundError) and self.setting.command is not None:
            return (f"command {self.setting.command[0]!r} not found: give its full path, or "
                    "install it on the PATH")  # fmt: skip
        if isinstance(error, httpx2.ConnectError | httpx2.ConnectTimeout):
            return f"cannot connect to {self.setting.url} ({error or 'failed'}): is it up?"
        return _reason(error)

    def _server(self) -> AbstractAsyncContextManager[Any]:
        from mcp.client.stdio import stdio_client
        from mcp.client.streamable_http import streamable_http_client

        if self.setting.command is not None:
            return stdio_client(self.stdio_parameters(), errlog=self._errlog)
        assert self.setting.url is not None
        headers = self._filled_headers()
        # The policy is checked where each connection is made, on the address it connects to.
        http = guarded_client2(self._policy, headers, httpx2.Timeout(30, read=300))
        http.event_hooks = {"response": [self._note_http_error]}
        return streamable_http_client(self.setting.url, http_client=http)

    async def _note_http_error(self, response: httpx2.Response) -> None:
        status = response.status_code
        if status >= 400:
            refused = " (its headers, or the secrets they name, were refused)"
            self._http_error = f"{self.setting.url} answered {status} {response.reason_phrase}"
            self._http_error += refused if status in (401, 403) else ""

    def stdio_parameters(self) -> StdioServerParameters:
        """How a stdio server is started: its command, and its env with secrets filled."""
        from mcp.client.stdio import StdioServerParameters

        assert self.setting.command is not None
        command, *args = self.setting.command
        env = self._filled(self.setting.env, [], f"MCP server {self.name} (stdio)")
        return StdioServerParameters(command=command, args=args, env=env)

    def _filled_headers(self) -> dict[str, str]:
        destination = self.setting.destination()
        where = [destination] if destination is not None else []
        return self._filled(self.setting.headers, where, f"MCP server {self.name}")

    def _filled(
        self, values: dict[str, str], where: list[tuple[str, int]], what: str
    ) -> dict[str, str]:
        """`values` with their `{{ secrets.NAME }}` filled in; a secret bound to hosts goes
        only to those (to a stdio server's environment, never)."""
        try:
            filled, masker = self._secrets.fill(dict(values))
            if masker.used:
                masker.check(where, what)
        except ActionError as error:
            raise McpUnavailable(error.message) from None
        return {key: str(value) for key, value in filled.items()}

    async def _check_network(self) -> None:
        destination = self.setting.destination()
        if destination is not None:
            await self._policy.checked_address(*destination)

    async def reset(self, client: Client) -> None:
        """Close the connection `client` belongs to (a transport error): the next call opens
        a new one."""
        async with self._lock:
            if self._client is client:
                await self.close()

    async def close(self) -> None:
        """Close the connection (stop a stdio server)."""
        self._closing.set()
        if self._holder is not None:
            await asyncio.gather(self._holder, return_exceptions=True)
            self._holder = None

    async def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        """Call `tool`: its structured content, else its text; ActionError otherwise."""
        try:
            client = await self.client()
        except (McpUnavailable, OSError) as error:
            raise retryable(f"MCP server {self.name}: {error}", ErrorType.MCP_UNAVAILABLE) from None
        try:
            result = await client.call_tool(tool, arguments)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            await self.reset(client)
            raise retryable(
                f"MCP server {self.name}, tool {tool}: {_reason(error)}", ErrorType.MCP_UNAVAILABLE
            ) from None
        return tool_output(self.name, tool, result)


def tool_output(server: str, tool: str, result: Any) -> Any:
    """The output of a call: structured content, else the text; a tool's error is an
    ActionError that retrying does not fix."""
    from mcp_types import CallToolResult, TextContent

    if not isinstance(result, CallToolResult):
        raise non_retryable(f"MCP tool {tool} of {server} gave no result", ErrorType.MCP_TOOL_ERROR)
    text = "\n".join(item.text for item in result.content if isinstance(item, TextContent))
    if result.is_error:
        raise non_retryable(
            f"MCP tool {tool} of {server} failed: {text or 'no message'}", ErrorType.MCP_TOOL_ERROR
        )
    if result.structured_content is not None:
        return result.structured_content
    return text


@dataclass(frozen=True)
class ToolRunner:
    """Runs one tool of one server (the `run` of its action)."""

    connection: McpConnection
    tool: str

    async def __call__(self, config: Any, ctx: Any) -> Any:
        destination = self.connection.setting.destination()
        if ctx.network is not None and destination is not None:
            try:
                await ctx.network.checked_address(*destination)
            except NetworkRefused as error:
                raise refusal_error(error, f"MCP server {self.connection.name}") from None
        arguments = config.model_dump(by_alias=True, mode="json")
        return await self.connection.call(self.tool, arguments)


class McpServers:
    """The connections to MCP_SERVERS' servers, and the actions of their tools."""

    def __init__(
        self,
        settings: Mapping[str, McpServerSetting],
        secrets: SecretStore,
        policy: NetworkPolicy,
        errlog: TextIO = sys.stderr,
        *,
        log_unreachable: bool = True,
    ) -> None:
        self.log_unreachable = log_unreachable
        self.connections = {
            name: McpConnection(name, setting, secrets, policy, errlog)
            for name, setting in settings.items()
        }

    async def discover(self) -> list[Action]:
        """Connect to every server and list its tools: one action per tool. A server that
        cannot be reached is one line in the log, and its tools are left out."""
        listed = await asyncio.gather(*map(self._actions_of, self.connections.values()))
        return [action for actions in listed for action in actions]

    async def _actions_of(self, connection: McpConnection) -> list[Action]:
        try:
            client = await connection.client()
            tools = await asyncio.wait_for(_all_tools(client), CONNECT_TIMEOUT_SECONDS)
        except Exception as error:
            await connection.close()
            reason = _reason(error)
            ACTIONS.mark_unavailable(action_type(connection.name, ""), reason)
            if self.log_unreachable:
                logger.error("mcp_server_unavailable", server=connection.name, error=reason,
                             hint="its tools are left out")  # fmt: skip
            return []
        logger.info("mcp_server_ready", server=connection.name, tools=[t.name for t in tools])
        return [_action(connection, tool) for tool in tools]

    async def aclose(self) -> None:
        """Close every connection (stop the stdio servers)."""
        await asyncio.gather(*(connection.close() for connection in self.connections.values()))


async def _all_tools(client: Client) -> list[Tool]:
    """Every tool, page after page."""
    listed = await client.list_tools()
    tools = list(listed.tools)
    while listed.next_cursor:
        listed = await client.list_tools(cursor=listed.next_cursor)
        tools.extend(listed.tools)
    return tools


def _action(connection: McpConnection, tool: Tool) -> Action:
    annotations = tool.annotations.model_dump(by_alias=True) if tool.annotations else None
    spec = tool_spec(connection.name, connection.setting, tool.name, tool.description or "",
                     tool.input_schema, annotations)  # fmt: skip
    return Action.of(spec, ToolRunner(connection, tool.name))


def _innermost(error: BaseException) -> BaseException:
    """The error itself, out of task groups of one."""
    if isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        return _innermost(error.exceptions[0])
    return error


def _reason(error: BaseException) -> str:
    error = _innermost(error)
    if isinstance(error, NetworkRefused | McpUnavailable):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


async def discover_tools(
    settings: Mapping[str, McpServerSetting], secrets: SecretStore, policy: NetworkPolicy
) -> list[Action]:
    """The actions of the servers' tools, with the connections closed again (for the CLI,
    which validates plans and lists actions but calls no tool: the servers' own stderr is not
    its output, and a server that cannot be reached is said by the command, in one line, not
    logged)."""
    with open(os.devnull, "w") as quiet:
        servers = McpServers(settings, secrets, policy, quiet, log_unreachable=False)
        return await _discovered(servers)


async def _discovered(servers: McpServers) -> list[Action]:
    try:
        return await servers.discover()
    finally:
        await servers.aclose()
