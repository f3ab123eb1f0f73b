"""The engine's Python API: one import for clients, workers and custom actions.

    from agentic import AgentClient, RunOptions

    client = await AgentClient.connect()
    result = await client.run(goal="...", options=RunOptions(approval="none"))

See the README's "From Python" section. Errors are `AgenticError`s (agentic.errors).
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

# Public name -> the module that defines it. Loaded on first use, so that `import agentic` (and
# the CLI) does not pay for the worker's imports (openai, asyncpg, ...) until they are needed.
_EXPORTS = {
    "Action": "core.actions.base",
    "ActionConfig": "core.actions.base",
    "ActionContext": "activities.base",
    "ActionError": "core.errors",
    "ActionSpec": "core.actions.base",
    "AgentClient": "agentic.client",
    "AgenticError": "agentic.errors",
    "BlobRef": "core.blobs",
    "BlobStoreError": "agentic.errors",
    "CleanupReport": "agentic.client",
    "NoOutput": "agentic.errors",
    "RunReport": "core.metrics",
    "SecretsError": "agentic.errors",
    "DecisionRecord": "core.messages",
    "EditRefused": "agentic.errors",
    "EditResult": "core.messages",
    "ErrorType": "core.errors",
    "Execution": "core.actions.base",
    "InvalidPlan": "agentic.errors",
    "InvalidQuery": "agentic.errors",
    "NotWaiting": "agentic.errors",
    "Plan": "core.plan",
    "PluginError": "agentic.errors",
    "RiskCheck": "core.actions.base",
    "RunEnded": "agentic.errors",
    "register_actions": "agentic.plugins",
    "RunHandle": "agentic.client",
    "RunInput": "core.messages",
    "RunNotFound": "agentic.errors",
    "RunOptions": "core.messages",
    "RunResult": "core.messages",
    "RunResultUnavailable": "agentic.errors",
    "RunState": "core.messages",
    "RunStatus": "core.messages",
    "RunSummary": "agentic.client",
    "ServerUnreachable": "agentic.errors",
    "Settings": "agentic.settings",
    "Task": "core.plan",
    "TaskResult": "core.messages",
    "TaskStatus": "core.messages",
    "TokenUsage": "core.messages",
    "WorkerUnavailable": "agentic.errors",
    "get_settings": "agentic.settings",
    "non_retryable": "core.errors",
    "retryable": "core.errors",
    "run_worker": "agentic.worker",
}

if TYPE_CHECKING:
    from activities.base import ActionContext
    from agentic.client import AgentClient, CleanupReport, RunHandle, RunSummary
    from agentic.errors import (
        AgenticError,
        BlobStoreError,
        EditRefused,
        InvalidPlan,
        InvalidQuery,
        NoOutput,
        NotWaiting,
        PluginError,
        RunEnded,
        RunNotFound,
        RunResultUnavailable,
        SecretsError,
        ServerUnreachable,
        WorkerUnavailable,
    )
    from agentic.plugins import register_actions
    from agentic.settings import Settings, get_settings
    from agentic.worker import run_worker
    from core.actions.base import Action, ActionConfig, ActionSpec, Execution, RiskCheck
    from core.blobs import BlobRef
    from core.errors import ActionError, ErrorType, non_retryable, retryable
    from core.messages import (
        DecisionRecord,
        EditResult,
        RunInput,
        RunOptions,
        RunResult,
        RunState,
        RunStatus,
        TaskResult,
        TaskStatus,
        TokenUsage,
    )
    from core.metrics import RunReport
    from core.plan import Plan, Task


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agentic' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = [
    "Action",
    "ActionConfig",
    "ActionContext",
    "ActionError",
    "ActionSpec",
    "AgentClient",
    "AgenticError",
    "BlobRef",
    "BlobStoreError",
    "CleanupReport",
    "DecisionRecord",
    "EditRefused",
    "EditResult",
    "ErrorType",
    "Execution",
    "InvalidPlan",
    "InvalidQuery",
    "NoOutput",
    "NotWaiting",
    "Plan",
    "PluginError",
    "RiskCheck",
    "RunEnded",
    "RunHandle",
    "RunInput",
    "RunNotFound",
    "RunOptions",
    "RunReport",
    "RunResult",
    "RunResultUnavailable",
    "RunState",
    "RunStatus",
    "RunSummary",
    "SecretsError",
    "ServerUnreachable",
    "Settings",
    "Task",
    "TaskResult",
    "TaskStatus",
    "TokenUsage",
    "WorkerUnavailable",
    "get_settings",
    "non_retryable",
    "register_actions",
    "retryable",
    "run_worker",
]
