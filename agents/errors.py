"""The errors of the LLM layer. It knows nothing of Temporal: the activities map these to
Temporal errors (retryable or not) in one place."""

from __future__ import annotations

from workflows.results import TokenUsage


class LLMError(Exception):
    """An LLM call that failed: what happened, whether waiting may help, and what it cost.

    `error_type` names the failure for people and for the workflow (LLMTimeout,
    LLMUnreachable, LLMServerError, LLMRateLimited, LLMAuthError, LLMModelNotFound,
    LLMBadRequest, LLMQuotaExceeded, LLMNotConfigured, InvalidPlannerReply,
    InvalidAnalystReply). `retryable` says whether the same request may succeed later;
    `try_next_endpoint` that this endpoint will not serve it (the next one is tried). `usage` holds
    the tokens the failed call (or the calls before it) already spent.
    """

    def __init__(
        self,
        message: str,
        error_type: str,
        *,
        retryable: bool,
        try_next_endpoint: bool = False,
        usage: TokenUsage | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.retryable = retryable
        self.try_next_endpoint = try_next_endpoint
        self.usage = usage or TokenUsage()
