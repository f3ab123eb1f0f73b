"""The one place that talks to an OpenAI-compatible chat completions API.

Temporal is the only retry layer: the openai client's own retries are off, and every failure is
mapped to an `ApplicationError` whose type says whether retrying can help.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import openai
import structlog
from openai.types.chat import ChatCompletion
from pydantic import BaseModel
from temporalio.exceptions import ApplicationError

from activities.base import non_retryable, retryable
from workflows.results import TokenUsage

logger = structlog.get_logger("agents.client")

OutputMode = Literal["json_schema", "json_object", "text"]
OUTPUT_MODES: tuple[OutputMode, ...] = ("json_schema", "json_object", "text")
FORMAT_REJECTION_HINTS = ("response_format", "json_schema", "json_object", "not supported")
RETRYABLE_STATUSES = {408, 409, 425}
MAX_ERROR_CHARS = 500
JSON_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


class LLMReply(BaseModel):
    """The text of one completion and the tokens it cost."""

    text: str
    usage: TokenUsage


@dataclass(frozen=True)
class _Target:
    """Where requests go, for error messages."""

    model: str
    base_url: str
    timeout_seconds: float


class LLMClient:
    """An OpenAI-compatible chat client that asks for JSON in the best way the server supports.

    It tries `response_format` json_schema, then json_object, then plain text with an instruction,
    and remembers the first mode that worked so later calls skip the ones the server rejected.
    """

    def __init__(
        self, api_key: str | None, base_url: str | None, model: str, timeout_seconds: float
    ) -> None:
        self.model = model
        self._openai = openai.AsyncOpenAI(
            api_key=api_key or "not-needed",
            base_url=base_url,
            timeout=timeout_seconds,
            max_retries=0,
        )
        self._target = _Target(model, str(self._openai.base_url), timeout_seconds)
        self._first_mode_index = 0
        self._log = logger.bind(model=model, base_url=self._target.base_url)

    @classmethod
    def from_settings(cls, settings: Any) -> LLMClient | None:
        """A client for the configured LLM, or None when no LLM is configured."""
        if not settings.llm_configured:
            return None
        return cls(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            model=settings.openai_model,
            timeout_seconds=settings.llm_timeout_seconds,
        )

    @property
    def output_mode(self) -> OutputMode:
        """The output mode the next call tries first."""
        return OUTPUT_MODES[self._first_mode_index]

    async def complete_json(
        self, system: str, messages: list[dict], schema_name: str, json_schema: dict
    ) -> LLMReply:
        """One completion whose text should be JSON following `json_schema` (not checked here)."""
        for index in range(self._first_mode_index, len(OUTPUT_MODES)):
            mode = OUTPUT_MODES[index]
            try:
                completion = await self._create(mode, system, messages, schema_name, json_schema)
            except (openai.BadRequestError, openai.UnprocessableEntityError) as error:
                if mode == OUTPUT_MODES[-1]:
                    raise llm_error(error, self._target) from error
                self._log_fallback(mode, OUTPUT_MODES[index + 1], error)
                continue
            except openai.APIError as error:
                raise llm_error(error, self._target) from error
            self._first_mode_index = index
            return _reply_from(completion)
        raise AssertionError("unreachable: the last output mode raises or returns")

    async def _create(
        self,
        mode: OutputMode,
        system: str,
        messages: list[dict],
        schema_name: str,
        json_schema: dict,
    ) -> ChatCompletion:
        extra: dict[str, Any] = {}
        if mode == "json_schema":
            extra["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": json_schema, "strict": False},
            }
        elif mode == "json_object":
            extra["response_format"] = {"type": "json_object"}
        system_message = {"role": "system", "content": _system_for(mode, system, json_schema)}
        return await self._openai.chat.completions.create(
            model=self.model, messages=[system_message, *messages], **extra
        )

    def _log_fallback(
        self, mode: OutputMode, next_mode: OutputMode, error: openai.APIError
    ) -> None:
        message = _error_text(error)
        self._log.warning(
            "llm_output_mode_rejected",
            mode=mode,
            next_mode=next_mode,
            status=getattr(error, "status_code", None),
            mentions_format=any(hint in message.lower() for hint in FORMAT_REJECTION_HINTS),
            error=message,
        )


def _system_for(mode: OutputMode, system: str, json_schema: dict) -> str:
    """The system prompt; without json_schema mode the schema travels in the prompt instead."""
    if mode == "json_schema":
        return system
    schema_text = json.dumps(json_schema, separators=(",", ":"))
    return (
        f"{system}\n\nAnswer with only one JSON object, no prose and no Markdown fences. "
        f"It must follow this JSON schema: {schema_text}"
    )


def _reply_from(completion: ChatCompletion) -> LLMReply:
    """The reply text and usage; an empty reply is worth another try."""
    message = completion.choices[0].message if completion.choices else None
    text = (message.content or "") if message else ""
    if not text.strip():
        refusal = getattr(message, "refusal", None)
        detail = f" (refusal: {refusal})" if refusal else ""
        raise retryable(f"the LLM answered with an empty message{detail}", "LLMEmptyReply")
    return LLMReply(text=text, usage=_usage_from(completion))


def _usage_from(completion: ChatCompletion) -> TokenUsage:
    usage = completion.usage
    if usage is None:
        return TokenUsage(calls=1)
    return TokenUsage(
        prompt_tokens=usage.prompt_tokens or 0,
        completion_tokens=usage.completion_tokens or 0,
        total_tokens=usage.total_tokens or 0,
        calls=1,
    )


def _error_text(error: openai.APIError) -> str:
    """The server's own error message when it sent one, else the SDK's and its cause."""
    body = error.body
    message = body.get("message") if isinstance(body, dict) else None
    if not message and error.__cause__ is not None:
        message = f"{error.message} ({error.__cause__!r})"
    return str(message or error.message)[:MAX_ERROR_CHARS]


def _status(error: openai.APIError) -> str:
    return f"HTTP {error.status_code}" if isinstance(error, openai.APIStatusError) else "no status"


def _timed_out(error: openai.APIError, target: _Target) -> ApplicationError:
    return retryable(
        f"the LLM at {target.base_url} did not answer within {target.timeout_seconds:g}s "
        "(LLM_TIMEOUT_SECONDS); Temporal will retry",
        "LLMUnavailable",
    )


def _unreachable(error: openai.APIError, target: _Target) -> ApplicationError:
    return retryable(
        f"cannot reach the LLM at {target.base_url}: {_error_text(error)}; check OPENAI_BASE_URL "
        "and that the server is running; Temporal will retry",
        "LLMUnavailable",
    )


def _server_error(error: openai.APIError, target: _Target) -> ApplicationError:
    return retryable(
        f"the LLM at {target.base_url} failed ({_status(error)}): {_error_text(error)}",
        "LLMUnavailable",
    )


def _rate_limited(error: openai.APIError, target: _Target) -> ApplicationError:
    if error.code == "insufficient_quota":
        return non_retryable(
            f"the LLM account at {target.base_url} has no quota left: {_error_text(error)}",
            "LLMQuotaExceeded",
        )
    return retryable(
        f"the LLM at {target.base_url} is rate limiting (HTTP 429): {_error_text(error)}",
        "LLMRateLimited",
    )


def _auth_error(error: openai.APIError, target: _Target) -> ApplicationError:
    return non_retryable(
        f"the LLM at {target.base_url} refused the credentials ({_status(error)}): "
        f"{_error_text(error)}; check OPENAI_API_KEY",
        "LLMAuthError",
    )


def _model_not_found(error: openai.APIError, target: _Target) -> ApplicationError:
    return non_retryable(
        f"model {target.model!r} not found at {target.base_url} (HTTP 404): {_error_text(error)}; "
        "check OPENAI_MODEL, and OPENAI_BASE_URL (compatible servers usually end in /v1)",
        "LLMModelNotFound",
    )


def _bad_request(error: openai.APIError, target: _Target) -> ApplicationError:
    return non_retryable(
        f"the LLM at {target.base_url} rejected the request ({_status(error)}): "
        f"{_error_text(error)}",
        "LLMBadRequest",
    )


def _other_status(error: openai.APIError, target: _Target) -> ApplicationError:
    status_code = getattr(error, "status_code", 0)
    if status_code >= 500 or status_code in RETRYABLE_STATUSES:
        return _server_error(error, target)
    return _bad_request(error, target)


ErrorMapper = Callable[[openai.APIError, _Target], ApplicationError]

# First match wins: subclasses come before their bases.
ERROR_MAPPERS: tuple[tuple[type[openai.APIError], ErrorMapper], ...] = (
    (openai.APITimeoutError, _timed_out),
    (openai.APIConnectionError, _unreachable),
    (openai.RateLimitError, _rate_limited),
    (openai.InternalServerError, _server_error),
    (openai.AuthenticationError, _auth_error),
    (openai.PermissionDeniedError, _auth_error),
    (openai.NotFoundError, _model_not_found),
    (openai.BadRequestError, _bad_request),
    (openai.UnprocessableEntityError, _bad_request),
    (openai.APIStatusError, _other_status),
    (openai.APIError, _server_error),
)


def llm_error(error: openai.APIError, target: _Target) -> ApplicationError:
    """The Temporal error for an openai error: retryable only when waiting can help."""
    for error_class, mapper in ERROR_MAPPERS:
        if isinstance(error, error_class):
            return mapper(error, target)
    return _server_error(error, target)


def extract_json(text: str) -> Any:
    """The JSON value in an LLM reply: bare, in ```json fences, or as an object inside prose."""
    stripped = text.strip()
    candidates = [stripped, *(block.strip() for block in JSON_FENCE.findall(text))]
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            pass
    return _first_object(stripped)


def _first_object(text: str) -> dict:
    """The object from the first `{` on (prose after it ignored), else the outermost `{...}`."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0:
        raise ValueError(f"the reply holds no JSON object; it began: {_preview(text)!r}")
    try:
        return json.JSONDecoder().raw_decode(text, start)[0]
    except json.JSONDecodeError as error:
        problem = f"{error.msg} at character {error.pos}"
    try:
        return json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        raise ValueError(
            f"the reply's JSON object is not valid JSON ({problem}); it began: {_preview(text)!r}"
        ) from None


def _preview(text: str, limit: int = 200) -> str:
    return text[:limit] + ("..." if len(text) > limit else "")
