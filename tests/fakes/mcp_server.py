"""An MCP server for the tests, written with the `mcp` SDK: `python -m tests.fakes.mcp_server`
serves it over stdio, `python -m tests.fakes.mcp_server http PORT TOKEN` over streamable HTTP at
http://127.0.0.1:PORT/mcp, for requests with the header `Authorization: Bearer TOKEN`.

Its tools, text-only but for `stats`: `lookup` (read-only), `delete_thing` (destructive),
`broken` (always answers with isError), `stats` (structured output), `crash_once` (the process
exits mid-call the first time for a marker file, CRASH_MARKER_DIR/<marker>, then answers)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel

server = MCPServer("test-tools")
THINGS = {"ada": "Ada Lovelace", "alan": "Alan Turing"}


class Stats(BaseModel):
    """What `stats` returns."""

    count: int
    total: int


@server.tool(annotations=ToolAnnotations(read_only_hint=True), structured_output=False)
def lookup(key: str) -> str:
    """Look a person up by key. Output: their full name."""
    return THINGS.get(key, "unknown")


@server.tool(annotations=ToolAnnotations(destructive_hint=True), structured_output=False)
def delete_thing(name: str) -> str:
    """Delete a thing by name."""
    return f"deleted {name}"


@server.tool(annotations=ToolAnnotations(read_only_hint=True), structured_output=False)
def broken(reason: str = "no reason") -> str:
    """Always fails (isError), counting its calls in CRASH_MARKER_DIR/broken-calls."""
    calls = Path(os.environ["CRASH_MARKER_DIR"]) / "broken-calls"
    calls.write_text(str(int(calls.read_text() if calls.exists() else "0") + 1))
    raise ToolError(f"the tool failed: {reason}")


@server.tool(annotations=ToolAnnotations(read_only_hint=True), structured_output=True)
def stats(numbers: list[int]) -> Stats:
    """Count and sum numbers."""
    return Stats(count=len(numbers), total=sum(numbers))


@server.tool(annotations=ToolAnnotations(read_only_hint=True), structured_output=False)
def crash_once(marker: str) -> str:
    """Exit the process mid-call the first time for `marker`; answer "survived" after."""
    path = Path(os.environ["CRASH_MARKER_DIR"]) / marker
    if not path.exists():
        path.write_text("crashed")
        os._exit(3)
    return "survived"


def serve_http(port: int, token: str) -> None:
    """Serve over streamable HTTP, answering 401 to a request without `Bearer <token>`."""
    import uvicorn
    from starlette.responses import PlainTextResponse

    app = server.streamable_http_app()

    async def checked(scope: Any, receive: Any, send: Any) -> None:
        authorization = dict(scope.get("headers", [])).get(b"authorization", b"")
        if scope["type"] == "http" and authorization != f"Bearer {token}".encode():
            await PlainTextResponse("unauthorized", 401)(scope, receive, send)
            return
        await app(scope, receive, send)

    uvicorn.run(checked, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        serve_http(int(sys.argv[2]), sys.argv[3])
    else:
        server.run()
