"""MCP tools as action types, as pure data: the MCP_SERVERS setting's entries, and the spec of
one tool (`mcp.<server>.<tool>`) built from what the server says about it (its description,
input schema and annotations). Connecting and calling live in activities/mcp.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agentic.core.actions.base import ActionSpec
from agentic.core.schema_configs import SchemaConfig, schema_config_model

PREFIX = "mcp."
NAME_PATTERN = r"^[A-Za-z0-9_-]+$"


class McpServerSetting(BaseModel):
    """One entry of MCP_SERVERS: a command the worker starts (stdio) or a URL (streamable
    HTTP), never both."""

    model_config = ConfigDict(extra="forbid")

    command: list[str] | None = Field(None, min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    url: str | None = Field(None, pattern=r"^https?://")
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, value: Any) -> Any:
        unknown = sorted(set(value) - set(cls.model_fields)) if isinstance(value, dict) else []
        if unknown:
            raise ValueError(
                f'unknown field "{unknown[0]}": a server takes "command" (and "env") to start it '
                'over stdio, or "url" (and "headers") for streamable HTTP'
            )
        return value

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSetting:
        if (self.command is None) == (self.url is None):
            raise ValueError('give either "command" (stdio) or "url" (streamable HTTP)')
        if self.command is None and self.env:
            raise ValueError('"env" is for a stdio server ("command")')
        if self.url is None and self.headers:
            raise ValueError('"headers" is for an HTTP server ("url")')
        return self

    def destination(self) -> tuple[str, int] | None:
        """The (host, port) of an HTTP server; None for a stdio one."""
        if self.url is None:
            return None
        parts = urlsplit(self.url)
        return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def action_type(server: str, tool: str) -> str:
    """The action type of a server's tool."""
    return f"{PREFIX}{server}.{tool}"


def split_action_type(action_type: str) -> tuple[str, str] | None:
    """(server, tool) of an `mcp.<server>.<tool>` action type, else None."""
    if not action_type.startswith(PREFIX) or action_type.count(".") < 2:
        return None
    server, _, tool = action_type.removeprefix(PREFIX).partition(".")
    return server, tool


class McpToolConfig(SchemaConfig):
    """A tool's arguments: any fields, checked against the tool's input schema."""


def config_model(action_type: str, input_schema: dict[str, Any]) -> type[SchemaConfig]:
    """The config model of a tool."""
    return schema_config_model(McpToolConfig, action_type, input_schema)


@dataclass(frozen=True)
class ToolRisk:
    """The risk rule of a tool: "" for a read-only one, else why it waits for approval."""

    reason: str

    def __call__(self, config: Any) -> str:
        return self.reason


@dataclass(frozen=True)
class ToolDestination:
    """Where an HTTP server's tool sends its arguments (where a bound secret may go)."""

    host: str
    port: int

    def __call__(self, config: Any) -> list[tuple[str, int]]:
        return [(self.host, self.port)]


def tool_risk(server: str, tool: str, annotations: dict[str, Any] | None) -> str:
    """The approval reason from the tool's annotations: readOnlyHint -> none; destructiveHint
    or no hint -> the tool may change things."""
    hints = annotations or {}
    if hints.get("readOnlyHint") is True:
        return ""
    if hints.get("destructiveHint") is True:
        return f"MCP tool {tool} of {server} is destructive (destructiveHint)"
    return f"MCP tool {tool} of {server} is not declared read-only (no readOnlyHint)"


def tool_spec(
    server: str, setting: McpServerSetting, tool: str, description: str,
    input_schema: dict[str, Any], annotations: dict[str, Any] | None,
) -> ActionSpec:  # fmt: skip
    """The spec of one tool of one server; one with readOnlyHint may run as a local activity."""
    kind = f"MCP server {server} ({'stdio' if setting.command else setting.url})"
    destination = setting.destination()
    text = " ".join((description or f"The tool {tool}.").split())
    text = text if text.endswith((".", "!", "?")) else text + "."
    full_type = action_type(server, tool)
    return ActionSpec(
        action_type=full_type,
        config_model=config_model(full_type, input_schema),
        description=f"[{kind}] {text} Config: the tool's arguments. Output: its structured "
        "content, else its text.",
        risk=ToolRisk(tool_risk(server, tool, annotations)),
        destinations=ToolDestination(*destination) if destination else None,
        idempotent=(annotations or {}).get("readOnlyHint") is True,
    )
