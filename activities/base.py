"""What every action shares: its spec in the registry, the worker's resources, error helpers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio.exceptions import ApplicationError


class ActionConfig(BaseModel):
    """Base of every action's config: unknown fields are errors, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    def attempt_timeout_seconds(self) -> float | None:
        """How long one attempt may take (start-to-close); None: the action's default."""
        return None


class TimedActionConfig(ActionConfig):
    """A config with its own `timeout` in seconds (a request, a query)."""

    timeout: float = Field(30.0, gt=0, le=3600)

    def attempt_timeout_seconds(self) -> float | None:
        """The action's own timeout, plus a margin for the worker."""
        return self.timeout + 30


@dataclass
class ActionContext:
    """Resources the worker shares between activities (one HTTP client, one pool per database)."""

    http: Any
    workspace_dir: Path
    database_url: str | None = None
    db_row_limit: int = 10_000
    db_pools: dict[str, Any] = field(default_factory=dict)
    db_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


ActionRunner = Callable[[Any, ActionContext], Awaitable[Any]]
PREVIEW_CHARS = 80


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """A value as one short line of text (JSON unless it is text), cut with "...";
    a list says how many items it holds."""
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    text = " ".join(text.split())
    if isinstance(value, list):
        text = f"{len(value)} item{'' if len(value) == 1 else 's'}: {text}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class ActionSpec:
    """One action type: its config model, how it runs, and how the planner should use it.

    `run` is None for actions the workflow carries out itself with durable timers (`wait`).
    `describe_output` says in one line what an output holds, for people (status, watch).
    """

    action_type: str
    config_model: type[ActionConfig]
    description: str
    run: ActionRunner | None = None
    default_timeout_seconds: float = 300.0
    describe_output: Callable[[Any], str] = preview


def non_retryable(message: str, error_type: str) -> ApplicationError:
    """An error that retrying cannot fix; the workflow branches on `error_type`."""
    return ApplicationError(message, type=error_type, non_retryable=True)


def retryable(message: str, error_type: str) -> ApplicationError:
    """An error that may pass on its own (a timeout, a 5xx, a refused connection)."""
    return ApplicationError(message, type=error_type)
