"""What the worker shares between action runs: one HTTP client, the workspace, database pools."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ActionContext:
    """Resources the worker shares between activities (one HTTP client, one pool per database).

    A custom action's `run(config, ctx)` receives it too: `ctx.http` is an `httpx.AsyncClient`.
    """

    http: Any
    workspace_dir: Path
    database_url: str | None = None
    db_row_limit: int = 10_000
    db_pools: dict[str, Any] = field(default_factory=dict)
    db_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
