"""The web console: `cli.py ui` (see app.py)."""

from __future__ import annotations

import uvicorn

from agentic.client import AgentClient
from agentic.console.app import build_app
from agentic.console.security import Guard, is_loopback
from agentic.settings import Settings


async def serve_console(settings: Settings, host: str, port: int) -> None:
    """Serve the console on host:port until Ctrl-C, saying where (with the token made for it,
    once, when the bind is not loopback and UI_TOKEN is not set)."""
    token = settings.ui_token.get_secret_value() if settings.ui_token else None
    guard, made = Guard.for_bind(host, token)
    client = await AgentClient.connect(settings)  # an unreachable server is one line, first
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}/"
    print(f"console: {url}" + (f"?token={guard.token}" if made else ""), flush=True)
    if made:
        print("(a token made for this console, shown once; set UI_TOKEN to choose it)", flush=True)
    elif not is_loopback(host):
        print("(UI_TOKEN is required: as a bearer header, or once through the login form)")
    app = build_app(settings, guard, client)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
    await uvicorn.Server(config).serve()


__all__ = ["build_app", "serve_console"]
