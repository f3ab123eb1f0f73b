"""What the worker shares between action runs: one HTTP client, the workspace, database pools."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentic.activities.blobs import Blobs, DirectoryBlobStore
from agentic.activities.secrets import Masker, SecretStore

if TYPE_CHECKING:
    from agentic.activities.network import HttpClients, NetworkPolicy


@dataclass
class ActionContext:
    """Resources the worker shares between activities (one HTTP client, one pool per database).

    A custom action's `run(config, ctx)` receives it too: `ctx.http` is an `httpx.AsyncClient`
    that obeys the network policy (activities/network.py).
    """

    http: Any
    workspace_dir: Path
    database_url: str | None = None
    db_row_limit: int = 10_000
    db_statement_timeout_seconds: float = 300.0
    file_max_read_bytes: int = 50_000_000
    max_response_bytes: int = 50_000_000
    http_clients: HttpClients | None = None
    network: NetworkPolicy | None = None
    secrets: SecretStore = field(default_factory=SecretStore)
    blobs: Blobs = field(default_factory=lambda: Blobs(DirectoryBlobStore(Path(".data/blobs"))))
    workflow_id: str = ""
    run_id: str = ""
    task_id: str = ""
    activity_id: str = ""
    masker: Masker | None = None
    # Headers dropped, besides Authorization and Cookie, on a redirect to another origin (an
    # OpenAPI operation's API keys), lowercase.
    private_headers: frozenset[str] = frozenset()
    db_pools: dict[str, Any] = field(default_factory=dict)
    db_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def for_run(
        self,
        allow_hosts: Iterable[str],
        *,
        workflow_id: str = "",
        run_id: str = "",
        task_id: str = "",
        activity_id: str = "",
        masker: Masker | None = None,
    ) -> ActionContext:
        """The context of one action of a run: `http` obeys the worker's network policy,
        widened by what the run allows (`ActionError` when the worker refuses that); the ids
        of the run, the task and the activity; the masker of the secrets the action uses."""
        task_ctx = replace(
            self, workflow_id=workflow_id, run_id=run_id, task_id=task_id,
            activity_id=activity_id or task_id, masker=masker,
        )  # fmt: skip
        if self.http_clients is None:
            return task_ctx
        hosts = list(allow_hosts)
        task_ctx.http = self.http_clients.for_run(hosts)
        task_ctx.network = self.http_clients.policy_for(hosts)
        return task_ctx
