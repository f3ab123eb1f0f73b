"""The errors of the LLM layer. It knows nothing of Temporal: the activities map these to
Temporal errors (retryable or not) in one place."""

from __future__ import annotations

from agentic.core.errors import EngineError, ErrorType
from agentic.core.messages import LLMCall, TokenUsage


class LLMError(EngineError):
    """An LLM call that failed: what happened, whether waiting may help, and what it cost.

    `error_type` is one of the LLM types of `ErrorType`. `retryable` says whether the same
    request may succeed later; `try_next_endpoint` that this endpoint will not serve it (the
    next one is tried). `usage` holds the tokens the failed call (or the calls before it)
    already spent.
    """

    def __init__(
        self,
        message: str,
        error_type: ErrorType,
        *,
        retryable: bool,
        try_next_endpoint: bool = False,
        usage: TokenUsage | None = None,
        calls: list[LLMCall] | None = None,
    ) -> None:
        super().__init__(message, error_type, retryable=retryable)
        self.try_next_endpoint = try_next_endpoint
        self.usage = usage or TokenUsage()
        self.calls = calls or []

    def spent(self, usage: TokenUsage, calls: list[LLMCall]) -> LLMError:
        """This error, also carrying what the calls before it spent and who answered them."""
        self.usage = usage.plus(self.usage)
        self.calls = [*calls, *self.calls]
        return self
