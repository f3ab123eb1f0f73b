"""The engine's Python API: one import for clients, workers and custom actions.

    from agentic import AgentClient, RunOptions

    client = await AgentClient.connect()
    result = await client.run(goal="...", options=RunOptions(approval="none"))

See the README's "From Python" section. Errors are `AgenticError`s (agentic.errors).
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

# The one place the version is written (pyproject.toml reads it; `agentic --version` prints it).
__version__ = "0.2.0"

# Public name -> the module that defines it. Loaded on first use, so that `import agentic` (and
# the CLI) does not pay for the worker's imports (openai, asyncpg, ...) until they are needed.
_EXPORTS = {
    "Action": "agentic.core.actions.base",
    "ActionConfig": "agentic.core.actions.base",
    "ActionContext": "agentic.activities.base",
    "ActionError": "agentic.core.errors",
    "ActionSpec": "agentic.core.actions.base",
    "AgentClient": "agentic.client",
    "AgenticError": "agentic.errors",
    "AnswerRecord": "agentic.core.messages",
    "AnswerRefused": "agentic.errors",
    "BlobRef": "agentic.core.blobs",
    "BlobStoreError": "agentic.errors",
    "CleanupReport": "agentic.client",
    "NoOutput": "agentic.errors",
    "RunReport": "agentic.core.metrics",
    "SecretsError": "agentic.errors",
    "TracingUnavailable": "agentic.errors",
    "DecisionRecord": "agentic.core.messages",
    "EditRefused": "agentic.errors",
    "EditResult": "agentic.core.messages",
    "ErrorType": "agentic.core.errors",
    "Execution": "agentic.core.actions.base",
    "InvalidHistory": "agentic.errors",
    "InvalidPlan": "agentic.errors",
    "InvalidQuery": "agentic.errors",
    "NotWaiting": "agentic.errors",
    "NoChildRun": "agentic.errors",
    "OpenApiSpecError": "agentic.errors",
    "Plan": "agentic.core.plan",
    "PluginError": "agentic.errors",
    "ReplanRecord": "agentic.core.messages",
    "ReplanRefused": "agentic.errors",
    "RerunRefused": "agentic.errors",
    "RiskCheck": "agentic.core.actions.base",
    "RunAlreadyStarted": "agentic.errors",
    "RunEnded": "agentic.errors",
    "register_actions": "agentic.plugins",
    "RunHandle": "agentic.client",
    "RunInput": "agentic.core.messages",
    "RunNotFound": "agentic.errors",
    "RunOptions": "agentic.core.messages",
    "RunResult": "agentic.core.messages",
    "RunResultUnavailable": "agentic.errors",
    "RunState": "agentic.core.messages",
    "RunStatus": "agentic.core.messages",
    "RunSummary": "agentic.client",
    "ServerUnreachable": "agentic.errors",
    "Settings": "agentic.settings",
    "Task": "agentic.core.plan",
    "TaskResult": "agentic.core.messages",
    "TaskStatus": "agentic.core.messages",
    "TokenUsage": "agentic.core.messages",
    "WorkerUnavailable": "agentic.errors",
    "get_settings": "agentic.settings",
    "non_retryable": "agentic.core.errors",
    "retryable": "agentic.core.errors",
    "run_worker": "agentic.worker",
}

if TYPE_CHECKING:
    from agentic.activities.base import ActionContext
    from agentic.client import AgentClient, CleanupReport, RunHandle, RunSummary
    from agentic.core.actions.base import Action, ActionConfig, ActionSpec, Execution, RiskCheck
    from agentic.core.blobs import BlobRef
    from agentic.core.errors import ActionError, ErrorType, non_retryable, retryable
    from agentic.core.messages import (
        AnswerRecord,
        DecisionRecord,
        EditResult,
        ReplanRecord,
        RunInput,
        RunOptions,
        RunResult,
        RunState,
        RunStatus,
        TaskResult,
        TaskStatus,
        TokenUsage,
    )
    from agentic.core.metrics import RunReport
    from agentic.core.plan import Plan, Task
    from agentic.errors import (
        AgenticError,
        AnswerRefused,
        BlobStoreError,
        EditRefused,
        InvalidHistory,
        InvalidPlan,
        InvalidQuery,
        NoChildRun,
        NoOutput,
        NotWaiting,
        OpenApiSpecError,
        PluginError,
        ReplanRefused,
        RerunRefused,
        RunAlreadyStarted,
        RunEnded,
        RunNotFound,
        RunResultUnavailable,
        SecretsError,
        ServerUnreachable,
        TracingUnavailable,
        WorkerUnavailable,
    )
    from agentic.plugins import register_actions
    from agentic.settings import Settings, get_settings
    from agentic.worker import run_worker


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
    "AnswerRecord",
    "AnswerRefused",
    "BlobRef",
    "BlobStoreError",
    "CleanupReport",
    "DecisionRecord",
    "EditRefused",
    "EditResult",
    "ErrorType",
    "Execution",
    "InvalidHistory",
    "InvalidPlan",
    "InvalidQuery",
    "NoChildRun",
    "NoOutput",
    "NotWaiting",
    "OpenApiSpecError",
    "Plan",
    "PluginError",
    "ReplanRecord",
    "ReplanRefused",
    "RerunRefused",
    "RiskCheck",
    "RunAlreadyStarted",
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
    "TracingUnavailable",
    "WorkerUnavailable",
    "__version__",
    "get_settings",
    "non_retryable",
    "register_actions",
    "retryable",
    "run_worker",
]
