"""Every error type the engine raises, in one enum, and the errors that carry them.

The types name failures in results, logs, Temporal's history and the README; the workflow and
the failure analyst branch on them. A custom action may add types of its own; an action that
crashes (an exception it did not classify) reports the exception's class name.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorType(StrEnum):
    """Why a task, an LLM call or a run failed."""

    # any action
    INVALID_CONFIG = "InvalidConfig"
    INVALID_INPUT = "InvalidInput"
    UNRESOLVED_REFERENCE = "UnresolvedReference"
    NOT_CONFIGURED = "NotConfigured"
    TIMEOUT = "Timeout"
    OUTPUT_TOO_LARGE = "OutputTooLarge"
    # the blob store (outputs too large for the history)
    BLOB_MISSING = "BlobMissing"
    BLOB_CORRUPT = "BlobCorrupt"
    BLOB_STORE_UNAVAILABLE = "BlobStoreUnavailable"
    # api_call, poll
    HTTP_CLIENT_ERROR = "HttpClientError"
    HTTP_RETRYABLE_STATUS = "HttpRetryableStatus"
    HTTP_SERVER_ERROR = "HttpServerError"
    HTTP_TIMEOUT = "HttpTimeout"
    HTTP_CONNECTION_ERROR = "HttpConnectionError"
    POLL_TIMEOUT = "PollTimeout"
    POLL_LIMIT = "PollLimit"
    LOOP_LIMIT = "LoopLimit"
    ITEMS_FAILED = "ItemsFailed"
    # sub_plan
    SUB_PLAN_FAILED = "SubPlanFailed"
    TOO_DEEP = "TooDeep"
    NETWORK_POLICY = "NetworkPolicy"
    RESPONSE_TOO_LARGE = "ResponseTooLarge"
    # ask
    NO_ANSWER = "NoAnswer"
    # secrets
    SECRET_NOT_FOUND = "SecretNotFound"
    SECRET_NOT_ALLOWED = "SecretNotAllowed"
    # file_operation
    FILE_NOT_FOUND = "FileNotFound"
    PATH_OUTSIDE_WORKSPACE = "PathOutsideWorkspace"
    PERMISSION_DENIED = "PermissionDenied"
    # data_transform
    REQUIREMENT_FAILED = "RequirementFailed"
    # db_query
    DB_QUERY_ERROR = "DbQueryError"
    DB_UNAVAILABLE = "DbUnavailable"
    DB_TIMEOUT = "DbTimeout"
    WRITE_NOT_ALLOWED = "WriteNotAllowed"
    TOO_MANY_ROWS = "TooManyRows"
    # MCP tools (mcp.<server>.<tool>)
    MCP_TOOL_ERROR = "McpToolError"
    MCP_UNAVAILABLE = "McpUnavailable"
    # the planner and the analyst
    LLM_NOT_CONFIGURED = "LLMNotConfigured"
    LLM_TIMEOUT = "LLMTimeout"
    LLM_UNREACHABLE = "LLMUnreachable"
    LLM_UNAVAILABLE = "LLMUnavailable"
    LLM_SERVER_ERROR = "LLMServerError"
    LLM_RATE_LIMITED = "LLMRateLimited"
    LLM_QUOTA_EXCEEDED = "LLMQuotaExceeded"
    LLM_AUTH_ERROR = "LLMAuthError"
    LLM_MODEL_NOT_FOUND = "LLMModelNotFound"
    LLM_BAD_REQUEST = "LLMBadRequest"
    INVALID_ANALYST_REPLY = "InvalidAnalystReply"
    INVALID_JOINER_REPLY = "InvalidJoinerReply"
    INVALID_PATCH = "InvalidPatch"
    # how a run ended, when it did not complete
    RUN_FAILED = "RunFailed"
    RUN_REJECTED = "RunRejected"
    RUN_CANCELLED = "RunCancelled"


class EngineError(Exception):
    """A failure with its type and whether trying again may help."""

    def __init__(self, message: str, error_type: ErrorType | str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = str(error_type)
        self.retryable = retryable


class ActionError(EngineError):
    """An action's failure. Runners (built-in or custom) raise it; the worker turns it into
    Temporal's error, retried by the task's retry policy only when `retryable`."""


def retryable(message: str, error_type: ErrorType | str) -> ActionError:
    """An error that may pass on its own (a timeout, a 5xx, a refused connection)."""
    return ActionError(message, error_type, retryable=True)


def non_retryable(message: str, error_type: ErrorType | str) -> ActionError:
    """An error that retrying cannot fix (a 4xx, a bad config, a missing file)."""
    return ActionError(message, error_type, retryable=False)
