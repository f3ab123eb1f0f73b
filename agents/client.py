"""The one place that talks to OpenAI-compatible chat completions APIs.

- Endpoints are tried in order: one that cannot serve (refused connection, bad key, unknown
  model) is skipped at once and remembered as down for a while; a transient failure (timeout,
  5xx, 429) is left to Temporal to retry, and after `attempts_per_endpoint` attempts the next
  endpoint takes over. Temporal is the only retry layer: the openai client's own retries are off.
- Each endpoint asks for JSON in the most constrained output mode it accepts (see modes.py),
  recognising a refused format from the error body whatever its status code, and remembers
  the mode that worked for the worker's life.
- Every request is bounded: `max_tokens` (or `max_completion_tokens` where the server wants
  that name) and a request timeout shorter than the activity's (for a streamed reply, the
  whole stream's).
- `stream_json` asks for the reply as a stream (`stream: true`, with the usage in its last
  chunk), handing the text so far to a callback as it grows. A server that refuses
  `stream_options` is asked without them (its usage then counts 0); one that refuses `stream`
  is asked without streaming from then on, and one that ignores it answers a plain body: the
  callback then sees the whole text at once.
- Every request is an OpenTelemetry span (`chat MODEL`, GenAI semantic conventions: model,
  tokens, output mode, purpose), a no-op unless the process installed a tracer provider
  (agentic/tracing.py). Never the prompt, the reply or a key.

Errors are `LLMError`s; this module knows nothing of Temporal.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import openai
import structlog
from openai import AsyncStream
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from opentelemetry import trace
from opentelemetry.util.types import AttributeValue
from pydantic import BaseModel

from agentic.agents.endpoints import LLMEndpoint
from agentic.agents.errors import LLMError
from agentic.agents.modes import (
    OutputMode,
    is_format_rejection,
    modes_for,
    request_fields,
    system_prompt_for,
)
from agentic.agents.prices import call_cost
from agentic.core.errors import ErrorType
from agentic.core.messages import LLMCall, TokenUsage
from agentic.core.metrics import ModelPrice

logger = structlog.get_logger("agentic.agents.client")
# A proxy until a tracer provider is installed, and a no-op without one.
tracer = trace.get_tracer("agentic.agents.client")

MAX_ERROR_CHARS = 500
# Endpoints that failed this way are skipped for DOWN_SECONDS by every call of this worker.
DOWN_ERROR_TYPES = {
    ErrorType.LLM_UNREACHABLE,
    ErrorType.LLM_AUTH_ERROR,
    ErrorType.LLM_MODEL_NOT_FOUND,
    ErrorType.LLM_QUOTA_EXCEEDED,
}
DOWN_SECONDS = 60.0
RETRYABLE_STATUSES = {408, 409, 425}
TOKEN_PARAM_REJECTION = re.compile(r"max_tokens.*max_completion_tokens", re.IGNORECASE | re.DOTALL)
# A 400 or 422 naming these refuses them: the request is sent again without them.
STREAM_REJECTION_STATUSES = {400, 422}
STREAM_OPTIONS_REJECTION = re.compile(r"stream_options", re.IGNORECASE)
STREAM_REJECTION = re.compile(r"\bstream\b", re.IGNORECASE)

# Called with the reply's text so far, each time it grows.
TextCallback = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class JSONRequest:
    """One request for a JSON answer: the prompt, its schema, and how long the answer may be.

    `schema` is what constrained decoding follows; `prompt_schema` (default: the same) what the
    prompt shows where decoding follows none."""

    purpose: str
    system: str
    messages: list[dict[str, Any]]
    schema_name: str
    schema: dict[str, Any]
    max_tokens: int
    prompt_schema: dict[str, Any] | None = None

    @property
    def prompt_version(self) -> str:
        """A short hash of the system prompt: which version of the prompt asked."""
        return hashlib.sha256(self.system.encode()).hexdigest()[:12]


class LLMReply(BaseModel):
    """The text of one completion, what it cost, and who answered in which mode."""

    text: str
    usage: TokenUsage
    call: LLMCall


class LLMClient:
    """OpenAI-compatible chat completions over a list of endpoints (see the module doc)."""

    def __init__(
        self,
        endpoints: list[LLMEndpoint],
        *,
        timeout_seconds: float,
        output_mode: str = "auto",
        attempts_per_endpoint: int = 2,
        api_keys: list[str | None] | None = None,
        prices: Mapping[str, ModelPrice] | None = None,
    ) -> None:
        """`api_keys` gives each endpoint's key (default: read from the environment variable
        each endpoint names); `prices` (LLM_PRICES) overrides genai-prices per model."""
        if not endpoints:
            raise ValueError("an LLM client needs at least one endpoint")
        modes = modes_for(output_mode)
        keys = api_keys or [endpoint.api_key() for endpoint in endpoints]
        self._endpoints = [
            _Endpoint(spec, modes, timeout_seconds, key, prices=dict(prices or {}))
            for spec, key in zip(endpoints, keys, strict=True)
        ]
        self._attempts_per_endpoint = max(1, attempts_per_endpoint)

    @classmethod
    def from_settings(cls, settings: Any) -> LLMClient | None:
        """A client for the configured endpoints, or None when no LLM is configured."""
        if not settings.llm_configured:
            return None
        return cls(
            settings.endpoints,
            timeout_seconds=settings.llm_timeout_seconds,
            output_mode=settings.llm_output_mode,
            attempts_per_endpoint=settings.llm_endpoint_attempts,
            api_keys=[settings.api_key_of(endpoint) for endpoint in settings.endpoints],
            prices=settings.llm_prices,
        )

    @property
    def endpoints(self) -> list[LLMEndpoint]:
        """The endpoints, in the order they are tried."""
        return [endpoint.spec for endpoint in self._endpoints]

    async def complete_json(self, request: JSONRequest, attempt: int = 1) -> LLMReply:
        """One completion whose text should be JSON following the request's schema (it is not
        checked here). `attempt` is Temporal's attempt number: it chooses the endpoint."""
        return await self._answer(request, attempt, None)

    async def stream_json(
        self, request: JSONRequest, attempt: int = 1, *, on_text: TextCallback
    ) -> LLMReply:
        """`complete_json`, streamed where the server can: `on_text` gets the text so far each
        time it grows (once, with the whole text, where the server does not stream). A stream
        that has begun is not started again at another endpoint: its caller has seen part of
        it; its failure is raised."""
        return await self._answer(request, attempt, on_text)

    async def _answer(
        self, request: JSONRequest, attempt: int, on_text: TextCallback | None
    ) -> LLMReply:
        """The reply of the first endpoint that can serve, from the one whose turn it is (the
        next ones only until a stream has begun)."""
        watched = _WatchedCallback(on_text) if on_text else None
        failures: list[LLMError] = []
        for endpoint in self._candidates(attempt):
            try:
                return await endpoint.complete(request, watched)
            except LLMError as error:
                if error.error_type in DOWN_ERROR_TYPES:
                    endpoint.mark_down()
                if not error.try_next_endpoint or (watched and watched.called):
                    raise
                failures.append(error)
        raise _all_failed(failures)

    async def check(self, request: JSONRequest) -> list[tuple[LLMEndpoint, LLMReply | LLMError]]:
        """Send `request` to every endpoint: each one's reply (with its mode), or its error."""
        answers: list[tuple[LLMEndpoint, LLMReply | LLMError]] = []
        for endpoint in self._endpoints:
            try:
                answers.append((endpoint.spec, await endpoint.complete(request)))
            except LLMError as error:
                answers.append((endpoint.spec, error))
        return answers

    async def close(self) -> None:
        """Close every endpoint's connections."""
        for endpoint in self._endpoints:
            await endpoint.close()

    def _candidates(self, attempt: int) -> list[_Endpoint]:
        """The endpoints this attempt may use: from the one whose turn it is (each gets
        `attempts_per_endpoint` attempts), skipping those known to be down, unless all are."""
        start = min((max(attempt, 1) - 1) // self._attempts_per_endpoint, len(self._endpoints) - 1)
        remaining = self._endpoints[start:]
        healthy = [endpoint for endpoint in remaining if not endpoint.is_down()]
        # When every endpoint from this turn on is down, an earlier one may be back.
        return healthy or [e for e in self._endpoints if not e.is_down()] or remaining


class _WatchedCallback:
    """A text callback that remembers whether it was called."""

    def __init__(self, on_text: TextCallback) -> None:
        self.on_text = on_text
        self.called = False

    async def __call__(self, text: str) -> None:
        self.called = True
        await self.on_text(text)


def _all_failed(failures: list[LLMError]) -> LLMError:
    if len(failures) == 1:
        return failures[0]
    reasons = "; ".join(failure.message for failure in failures)
    return LLMError(
        f"no LLM endpoint could answer: {reasons}",
        ErrorType.LLM_UNAVAILABLE,
        retryable=any(failure.retryable for failure in failures),
    )


@dataclass
class _Endpoint:
    """One endpoint and model: its client, and what it was found to accept."""

    spec: LLMEndpoint
    modes: tuple[OutputMode, ...]
    timeout_seconds: float
    api_key: str | None = None
    token_param: str = "max_tokens"
    first_mode: int = 0
    streams: bool = True  # False once the server refused `stream`
    streams_usage: bool = True  # False once it refused `stream_options`
    down_until: float = 0.0
    prices: dict[str, ModelPrice] = field(default_factory=dict)
    _client: openai.AsyncOpenAI = field(init=False)

    def __post_init__(self) -> None:
        self._client = openai.AsyncOpenAI(
            api_key=self.api_key or "not-needed",
            base_url=self.spec.base_url,
            timeout=self.timeout_seconds,
            max_retries=0,
        )
        self._log = logger.bind(endpoint=self.spec.name, model=self.spec.model)

    def is_down(self) -> bool:
        return time.monotonic() < self.down_until

    def mark_down(self) -> None:
        self.down_until = time.monotonic() + DOWN_SECONDS

    async def close(self) -> None:
        await self._client.close()

    async def complete(self, request: JSONRequest, on_text: TextCallback | None = None) -> LLMReply:
        """One completion in the best mode this endpoint accepts; streamed when `on_text` is
        given (see `LLMClient.stream_json`)."""
        index = self.first_mode
        while True:
            mode = self.modes[index]
            started = time.monotonic()
            try:
                completion = await self._traced_create(mode, request, on_text)
            except openai.APIStatusError as error:
                if self._adapts_to(error, streaming=on_text is not None):
                    continue
                if index + 1 < len(self.modes) and is_format_rejection(
                    error.status_code, error_text(error)
                ):
                    self._log.info(
                        "llm_output_mode_rejected",
                        mode=mode.value,
                        next_mode=self.modes[index + 1].value,
                        status=error.status_code,
                        error=error_text(error),
                    )
                    index += 1
                    continue
                raise self._error(error, mode) from error
            except openai.APIError as error:
                raise self._error(error, mode) from error
            self.first_mode = index
            return self._reply(completion, request, mode, time.monotonic() - started)

    def _adapts_to(self, error: openai.APIStatusError, streaming: bool) -> bool:
        """True when the error asks for another name of the token limit (newer OpenAI
        models want max_completion_tokens), or refuses `stream_options` or `stream`; the
        request is then sent again, as the server wants it from now on."""
        text = error_text(error)
        if self.token_param == "max_tokens" and TOKEN_PARAM_REJECTION.search(text):
            self.token_param = "max_completion_tokens"
            return True
        if not (streaming and self.streams and error.status_code in STREAM_REJECTION_STATUSES):
            return False
        if self.streams_usage and STREAM_OPTIONS_REJECTION.search(text):
            self.streams_usage = False
        elif STREAM_REJECTION.search(text):
            self.streams = False
        else:
            return False
        self._log.info("llm_stream_option_rejected", error=text, streams=self.streams)
        return True

    async def _traced_create(
        self, mode: OutputMode, request: JSONRequest, on_text: TextCallback | None
    ) -> ChatCompletion:
        """One request as one span: what was asked of whom, and what it cost. Its attributes
        never hold the prompt, the reply or the key; a failure is its error type alone."""
        with tracer.start_as_current_span(
            f"chat {self.spec.model}",
            kind=trace.SpanKind.CLIENT,
            attributes=self._span_attributes(mode, request),
            record_exception=False,  # an error's message may quote the request
            set_status_on_exception=False,
        ) as span:
            try:
                completion = await self._create(mode, request, on_text)
            except openai.APIError as error:
                status = getattr(error, "status_code", None)
                span.set_attribute("error.type", str(status or type(error).__name__))
                span.set_status(trace.StatusCode.ERROR)
                raise
            span.set_attributes(completion_attributes(completion))
            return completion

    def _span_attributes(self, mode: OutputMode, request: JSONRequest) -> dict[str, AttributeValue]:
        address = urlsplit(self.spec.base_url)
        default_port = 443 if address.scheme == "https" else 80
        # The default name is the URL's netloc: a user:password@ in it stays out.
        name = self.spec.name
        if name == address.netloc:
            name = name.rpartition("@")[2]
        return {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",  # the API spoken, whoever serves it
            "gen_ai.system": "openai",  # the older name of the same, still read by backends
            "gen_ai.request.model": self.spec.model,
            "gen_ai.request.max_tokens": request.max_tokens,
            "gen_ai.output.type": "json",
            "server.address": address.hostname or "",
            "server.port": address.port or default_port,
            "agentic.llm.purpose": request.purpose,
            "agentic.llm.endpoint": name,
            "agentic.llm.output_mode": mode.value,
            "agentic.llm.prompt_version": request.prompt_version,
        }

    async def _create(
        self, mode: OutputMode, request: JSONRequest, on_text: TextCallback | None
    ) -> ChatCompletion:
        """The completion, streamed when `on_text` is given and the server streams."""
        arguments = self._arguments(mode, request)
        if on_text is not None and self.streams:
            return await self._streamed(arguments, on_text)
        completion: ChatCompletion = await self._client.chat.completions.create(**arguments)
        if on_text is not None:
            await on_text(_text_of(completion))
        return completion

    async def _streamed(self, arguments: dict[str, Any], on_text: TextCallback) -> ChatCompletion:
        """The completion asked for as a stream, read within the request timeout."""
        if self.streams_usage:
            arguments["extra_body"]["stream_options"] = {"include_usage": True}
        started = time.monotonic()
        stream: AsyncStream[ChatCompletionChunk] = await self._client.chat.completions.create(
            **arguments, stream=True
        )
        remaining = self.timeout_seconds - (time.monotonic() - started)
        return await _read_stream(stream, on_text, remaining)

    def _arguments(self, mode: OutputMode, request: JSONRequest) -> dict[str, Any]:
        """The openai client's arguments asking for `request` in `mode`."""
        fields = request_fields(mode, request.schema_name, request.schema)
        extra_body = {**fields.pop("extra_body", {}), self.token_param: request.max_tokens}
        prompt_schema = request.prompt_schema or request.schema
        system = {
            "role": "system",
            "content": system_prompt_for(mode, request.system, prompt_schema),
        }
        return {
            "model": self.spec.model,
            "messages": [system, *request.messages],
            "extra_body": extra_body,
            **fields,
        }

    def _reply(
        self, completion: ChatCompletion, request: JSONRequest, mode: OutputMode, seconds: float
    ) -> LLMReply:
        text = _text_of(completion)
        usage = usage_of(completion)
        cost = call_cost(self.spec.model, self.spec.base_url, usage.prompt_tokens,
                         usage.completion_tokens, self.prices)  # fmt: skip
        usage.cost_usd = cost or 0.0
        call = LLMCall(
            purpose=request.purpose,
            endpoint=self.spec.name,
            model=self.spec.model,
            mode=mode.value,
            prompt_version=request.prompt_version,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            seconds=round(seconds, 3),
            cost_usd=cost,
        )
        return LLMReply(text=text, usage=usage, call=call)

    def _error(self, error: openai.APIError, mode: OutputMode) -> LLMError:
        for error_class, mapper in ERROR_MAPPERS:
            if isinstance(error, error_class):
                return mapper(error, self, mode)
        return _server_error(error, self, mode)


def _text_of(completion: ChatCompletion) -> str:
    message = completion.choices[0].message if completion.choices else None
    return (message.content or "") if message else ""


async def _read_stream(
    stream: AsyncStream[ChatCompletionChunk], on_text: TextCallback, seconds: float
) -> ChatCompletion:
    """The streamed completion, read within `seconds`, `on_text` called as its text grows;
    a plain body where the server ignored `stream` (`on_text` then called once)."""
    response = stream.response
    async with stream:  # closed however reading ends: the server sees a client that left
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            completion = await _plain_completion(stream)
            await on_text(_text_of(completion))
            return completion
        streamed = _StreamedCompletion()
        try:
            async with asyncio.timeout(seconds):
                async for chunk in stream:
                    if streamed.add(chunk):
                        await on_text(streamed.text)
        except TimeoutError:
            raise openai.APITimeoutError(request=response.request) from None
        return streamed.completion()


async def _plain_completion(stream: AsyncStream[ChatCompletionChunk]) -> ChatCompletion:
    """The completion in the plain body a server that ignored `stream` answered."""
    response = stream.response
    await response.aread()
    try:
        return ChatCompletion.construct(**response.json())
    except (ValueError, TypeError):  # not JSON, or not an object
        raise openai.APIResponseValidationError(
            response=response, body=response.text, message="the reply is not a chat completion"
        ) from None


@dataclass
class _StreamedCompletion:
    """A completion put together from its stream's chunks (the first choice's)."""

    text: str = ""
    id: str = ""
    model: str = ""
    created: int = 0
    finish_reason: str | None = None
    # None where the server sent no usage (it ignored stream_options): the call counts 0 tokens.
    usage: CompletionUsage | None = None

    def add(self, chunk: ChatCompletionChunk) -> bool:
        """Take in one chunk; True when the text grew."""
        self.id, self.model = self.id or chunk.id, self.model or chunk.model
        self.created = self.created or chunk.created
        self.usage = chunk.usage or self.usage
        grew = False
        for choice in chunk.choices or []:
            if choice.index != 0:
                continue
            if choice.delta is not None and choice.delta.content:
                self.text += choice.delta.content
                grew = True
            self.finish_reason = choice.finish_reason or self.finish_reason
        return grew

    def completion(self) -> ChatCompletion:
        """The completion as a non-streamed reply would have carried it."""
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": self.text},
            "finish_reason": self.finish_reason,
        }
        return ChatCompletion.construct(
            id=self.id,
            object="chat.completion",
            created=self.created,
            model=self.model,
            choices=[choice],
            usage=self.usage,
        )


def usage_of(completion: ChatCompletion) -> TokenUsage:
    """The tokens a completion cost, as the server counted them."""
    usage = completion.usage
    if usage is None:
        return TokenUsage(calls=1)
    return TokenUsage(
        prompt_tokens=usage.prompt_tokens or 0,
        completion_tokens=usage.completion_tokens or 0,
        total_tokens=usage.total_tokens or 0,
        calls=1,
    )


def completion_attributes(completion: ChatCompletion) -> dict[str, AttributeValue]:
    """A completion's span attributes: who answered, why it stopped, the tokens it cost."""
    attributes: dict[str, AttributeValue] = {
        "gen_ai.response.model": completion.model or "",
        "gen_ai.response.finish_reasons": [
            choice.finish_reason for choice in completion.choices or [] if choice.finish_reason
        ],
    }
    if completion.usage is not None:
        attributes["gen_ai.usage.input_tokens"] = completion.usage.prompt_tokens or 0
        attributes["gen_ai.usage.output_tokens"] = completion.usage.completion_tokens or 0
    return attributes


def error_text(error: openai.APIError) -> str:
    """The server's own message, without stack trace lines, in one line."""
    body = error.body
    message = body.get("message") if isinstance(body, dict) else None
    if not message and error.__cause__ is not None:
        message = f"{error.message} ({error.__cause__!r})"
    return _without_traceback(str(message or error.message))[:MAX_ERROR_CHARS]


def _without_traceback(text: str) -> str:
    """The text minus the stack trace some servers put in error messages (llama-cpp-python
    appends `File "...", line N, in f` lines, each followed by its indented source line)."""
    kept: list[str] = []
    skip_source_line = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("Traceback (most recent call last)", 'File "')):
            skip_source_line = True
            continue
        if skip_source_line and line[:1].isspace():
            skip_source_line = False
            continue
        skip_source_line = False
        if stripped:
            kept.append(stripped)
    return " ".join(kept)


# ----- errors for people ----------------------------------------------------------------------

ErrorMapper = Callable[[openai.APIError, _Endpoint, OutputMode], LLMError]


def _where(endpoint: _Endpoint) -> str:
    return f"the LLM at {endpoint.spec.base_url} ({endpoint.spec.model})"


def _timed_out(error: openai.APIError, endpoint: _Endpoint, mode: OutputMode) -> LLMError:
    return LLMError(
        f"{_where(endpoint)} did not answer within {endpoint.timeout_seconds:g} s "
        "(LLM_TIMEOUT_SECONDS)",
        ErrorType.LLM_TIMEOUT,
        retryable=True,
    )


def _unreachable(error: openai.APIError, endpoint: _Endpoint, mode: OutputMode) -> LLMError:
    return LLMError(
        f"cannot reach {_where(endpoint)}: {error_text(error)}; check the endpoint's base URL "
        "(OPENAI_BASE_URL or LLM_ENDPOINTS) and that the server is running",
        ErrorType.LLM_UNREACHABLE,
        retryable=True,
        try_next_endpoint=True,
    )


def _server_error(error: openai.APIError, endpoint: _Endpoint, mode: OutputMode) -> LLMError:
    status = getattr(error, "status_code", None)
    return LLMError(
        f"{_where(endpoint)} failed (HTTP {status}): {error_text(error)}",
        ErrorType.LLM_SERVER_ERROR,
        retryable=True,
    )


def _rate_limited(error: openai.APIError, endpoint: _Endpoint, mode: OutputMode) -> LLMError:
    if error.code == "insufficient_quota":
        return LLMError(
            f"{_where(endpoint)}: the account has no quota left: {error_text(error)}",
            ErrorType.LLM_QUOTA_EXCEEDED,
            retryable=False,
            try_next_endpoint=True,
        )
    return LLMError(
        f"{_where(endpoint)} is rate limiting (HTTP 429): {error_text(error)}",
        ErrorType.LLM_RATE_LIMITED,
        retryable=True,
    )


def _auth_error(error: openai.APIError, endpoint: _Endpoint, mode: OutputMode) -> LLMError:
    key = endpoint.spec.api_key_env or "its api_key_env"
    return LLMError(
        f"{_where(endpoint)} refused the credentials (HTTP {getattr(error, 'status_code', '?')}): "
        f"{error_text(error)}; check {key}",
        ErrorType.LLM_AUTH_ERROR,
        retryable=False,
        try_next_endpoint=True,
    )


def _model_not_found(error: openai.APIError, endpoint: _Endpoint, mode: OutputMode) -> LLMError:
    return LLMError(
        f"model {endpoint.spec.model!r} not found at {endpoint.spec.base_url} (HTTP 404): "
        f"{error_text(error)}; check the model name (OPENAI_MODEL or LLM_ENDPOINTS) and the base "
        "URL (compatible servers usually end in /v1)",
        ErrorType.LLM_MODEL_NOT_FOUND,
        retryable=False,
        try_next_endpoint=True,
    )


def _bad_request(error: openai.APIError, endpoint: _Endpoint, mode: OutputMode) -> LLMError:
    hint = ""
    if is_format_rejection(getattr(error, "status_code", None), error_text(error)):
        hint = f"; it refused output mode {mode.value}: set LLM_OUTPUT_MODE=auto to fall back"
    return LLMError(
        f"{_where(endpoint)} rejected the request (HTTP {getattr(error, 'status_code', '?')}): "
        f"{error_text(error)}{hint}",
        ErrorType.LLM_BAD_REQUEST,
        retryable=False,
        try_next_endpoint=True,
    )


def _other_status(error: openai.APIError, endpoint: _Endpoint, mode: OutputMode) -> LLMError:
    status_code = getattr(error, "status_code", 0)
    if status_code >= 500 or status_code in RETRYABLE_STATUSES:
        return _server_error(error, endpoint, mode)
    return _bad_request(error, endpoint, mode)


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
