"""An OpenAI-compatible chat completions server that replays scripted answers, with the quirks
of the servers people run.

Tests register replies with `ScriptedLLM.script(match, *replies)`; a request gets the next reply
of the most recently registered script whose `match` occurs in its message contents.

A `profile` makes it answer requests the way a real server does (from their documentation and
observed behaviour):

- `generic`: accepts every response_format (`supports_json_schema` / `supports_json_object`
  set to False refuse those with a 400).
- `llama_cpp` (llama-cpp-python 0.3's server, seen here): `response_format` json_schema is a
  500 whose message is a pydantic validation error with stack lines ("Input should be 'text'
  or 'json_object'"); json_object with a `schema` is accepted (and constrains decoding).
- `vllm`: json_schema, json_object and the `guided_json` field are accepted; errors are a flat
  `{"object": "error", "message": ...}`.
- `ollama`: json_schema (structured outputs) and json_object are accepted.
- `openai`: json_schema with `strict: true` must be a closed schema (every object has
  `additionalProperties: false` and requires all its properties) or it is a 400; json_object
  needs the word "json" in the messages; reasoning models (names starting with "o") refuse
  `max_tokens` and want `max_completion_tokens`.

A request with `stream: true` is answered with Server-Sent Events as OpenAI's chat completions
stream them: `data: {chunk}` lines (`chat.completion.chunk` objects: a first one with the role,
one per piece of the text, a last one with `finish_reason: "stop"`), a chunk with the usage and
no choices when `stream_options.include_usage` asks for it, then `data: [DONE]`. Every profile
streams (llama-cpp-python's server never sends the usage chunk); `supports_streaming = False`
makes it answer a stream request with a plain JSON body, as a server that ignores `stream`.
`ScriptedLLM.streamed(reply, seconds, first_at, hold=)` spreads a reply's pieces over `seconds`;
a plain reply to a stream request comes in pieces at once, a `Slow` one in pieces after its
delay.

It counts the tokens of every completion it delivered (`usage_total`; a stream only when it
sent its usage), and notices requests whose client gave up while it was still "thinking" or
streaming (`abandoned`).
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from agentic.devstack import BackgroundHTTPServer, JSONHandler, server_owner

MODEL_ID = "scripted-model"
COMPLETION_PATHS = ("/v1/chat/completions", "/chat/completions")
MODELS_PATHS = ("/v1/models", "/models")
PROFILES = ("generic", "llama_cpp", "vllm", "ollama", "openai")
# llama-cpp-python's server ignores stream_options: no usage chunk (its issues #1082, #1640).
NO_STREAM_USAGE = {"llama_cpp"}
PIECE_CHARS = 16  # the text of one streamed chunk, about four tokens


@dataclass(frozen=True)
class ScriptedError:
    """A scripted reply that answers with an HTTP error instead of a completion."""

    status: int
    message: str


@dataclass(frozen=True)
class Slow:
    """A scripted reply sent only after `seconds` (unless the client gives up first)."""

    seconds: float
    reply: str | dict


@dataclass(frozen=True)
class Streamed:
    """A scripted reply streamed in pieces spread over `seconds` (or, to a request that does
    not stream, sent whole after `seconds`). With `first_at`, the reply is a plan whose first
    task is complete at `first_at`: the text up to the start of the second task (the whole
    reply, for a plan of one task) is sent by then, the rest after; with `hold` too, the rest
    only once `hold` is set (a test's way to act while the reply is certainly unfinished)."""

    reply: str | dict
    seconds: float
    first_at: float | None = None
    hold: threading.Event | None = None

    def schedule(self) -> tuple[list[tuple[float, str]], int]:
        """The pieces of the text, each with when to send it (seconds from the request), and
        how many are sent before the rest waits for `hold`."""
        text = _text(self.reply)
        if self.first_at is None:
            return _spread(text, 0.0, self.seconds), 0
        cut = _first_task_end(text)
        if cut is None:
            raise ValueError("first_at needs a reply holding a plan with tasks")
        first = _spread(text[:cut], 0.0, self.first_at)
        return first + _spread(text[cut:], self.first_at, self.seconds), len(first)


ScriptedReply = str | dict | ScriptedError | Slow | Streamed


@dataclass(frozen=True)
class _Answer:
    """How to answer one request: `status` and `body` after `delay` seconds, or (`pieces`) a
    stream of the text's pieces, each at its time from the request, the piece numbered
    `hold[0]` and those after it only once `hold[1]` is set."""

    status: int
    body: dict
    delay: float = 0.0
    pieces: list[tuple[float, str]] | None = None
    hold: tuple[int, threading.Event] | None = None


@dataclass
class _Script:
    match: str
    replies: deque[ScriptedReply] = field(default_factory=deque)


class ScriptedLLM(BackgroundHTTPServer):
    """A local OpenAI-compatible server answering chat completions from scripted replies.

    Use it as a context manager, or call `start()` and `stop()`; point a client at `base_url`.
    """

    def __init__(self, profile: str = "generic") -> None:
        super().__init__(_Handler)
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; use one of {PROFILES}")
        self.profile = profile
        self.supports_json_schema = True
        self.supports_json_object = True
        self.supports_streaming = True
        self._scripts: list[_Script] = []
        self._requests: list[dict] = []
        self._usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "calls": 0}
        self._abandoned: list[dict] = []
        self._authorizations: list[str] = []
        self._lock = threading.Lock()

    @staticmethod
    def error(status: int, message: str) -> ScriptedError:
        """A reply that makes its request answer with `status` and an OpenAI error body."""
        return ScriptedError(status, message)

    @staticmethod
    def slow(seconds: float, reply: str | dict) -> Slow:
        """A reply sent after `seconds`."""
        return Slow(seconds, reply)

    @staticmethod
    def streamed(
        reply: str | dict,
        seconds: float,
        first_at: float | None = None,
        *,
        hold: threading.Event | None = None,
    ) -> Streamed:
        """A reply streamed over `seconds`; with `first_at`, a plan whose first task is
        complete at `first_at`, the rest held back until `hold` is set (see `Streamed`)."""
        if first_at is None and hold is not None:
            raise ValueError("hold needs first_at: it holds back what comes after it")
        if first_at is not None and not 0 <= first_at <= seconds:
            raise ValueError(f"first_at {first_at} is not within the {seconds} s of the reply")
        streamed = Streamed(reply, seconds, first_at, hold)
        streamed.schedule()  # a reply first_at cannot cut fails here, not in the server
        return streamed

    def script(self, match: str, *replies: ScriptedReply) -> None:
        """Register replies, consumed in order, for requests whose messages contain `match`.

        A dict reply is sent as its JSON text. An exhausted script is skipped, never repeated.
        """
        with self._lock:
            self._scripts.append(_Script(match, deque(replies)))

    @property
    def requests(self) -> list[dict]:
        """A snapshot of every request body received, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests_matching(self, match: str) -> list[dict]:
        """The received request bodies whose message contents contain `match`."""
        return [body for body in self.requests if match in _messages_text(body)]

    @property
    def usage_total(self) -> dict[str, int]:
        """The tokens of every completion this server delivered, as its usage reported them."""
        with self._lock:
            return dict(self._usage)

    @property
    def authorizations(self) -> list[str]:
        """The Authorization header of every completion request, in arrival order."""
        with self._lock:
            return list(self._authorizations)

    @property
    def abandoned(self) -> list[dict]:
        """Requests whose client closed the connection before the (slow) reply was sent."""
        with self._lock:
            return list(self._abandoned)

    def clear(self) -> None:
        """Forget every script, every recorded request and the token count."""
        with self._lock:
            self._scripts.clear()
            self._requests.clear()
            self._abandoned.clear()
            self._usage = dict.fromkeys(self._usage, 0)

    @property
    def base_url(self) -> str:
        """The URL to give an OpenAI client, e.g. "http://127.0.0.1:PORT/v1"."""
        return f"{self.url}/v1"

    def _answer(self, body: dict) -> _Answer:
        """How to answer one chat completion request."""
        with self._lock:
            self._requests.append(body)
        refusal = PROFILE_CHECKS[self.profile](self, body)
        if refusal is not None:
            return _Answer(*refusal)
        reply = self._next_reply(_messages_text(body))
        if reply is None:
            # A client error, so that no test waits on retries of a request nobody scripted.
            message = "ScriptedLLM: no scripted reply for request containing: "
            return _Answer(400, _error_body(message + _last_user_text(body)[:200]))
        if isinstance(reply, ScriptedError):
            return _Answer(reply.status, _error_body(reply.message, "invalid_request_error"))
        if body.get("stream") and self.supports_streaming:
            return _stream_answer(reply)
        delay = reply.seconds if isinstance(reply, Slow | Streamed) else 0.0
        content = reply.reply if isinstance(reply, Slow | Streamed) else reply
        return _Answer(200, _completion_body(body, _text(content)), delay)

    def _streams_usage(self, body: dict) -> bool:
        """Whether a stream request gets a usage chunk."""
        asked = (body.get("stream_options") or {}).get("include_usage")
        return bool(asked) and self.profile not in NO_STREAM_USAGE

    def _delivered(self, payload: dict) -> None:
        usage = payload.get("usage")
        if usage:
            with self._lock:
                for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
                    self._usage[key] += usage[key]
                self._usage["calls"] += 1

    def _gave_up(self, body: dict) -> None:
        with self._lock:
            self._abandoned.append(body)

    def _next_reply(self, request_text: str) -> ScriptedReply | None:
        """Consume the next reply of the newest non-exhausted script matching the request."""
        with self._lock:
            for scripted in reversed(self._scripts):
                if scripted.replies and scripted.match in request_text:
                    return scripted.replies.popleft()
        return None


# ----- the quirks of real servers -------------------------------------------------------------

Refusal = tuple[int, dict] | None


def _generic(llm: ScriptedLLM, body: dict) -> Refusal:
    format_type = (body.get("response_format") or {}).get("type")
    supported = {"json_schema": llm.supports_json_schema, "json_object": llm.supports_json_object}
    if supported.get(format_type, True) is False:
        message = f"response_format '{format_type}' is not supported by this server"
        return 400, _error_body(message, "invalid_request_error")
    return None


def _llama_cpp(llm: ScriptedLLM, body: dict) -> Refusal:
    format_type = (body.get("response_format") or {}).get("type", "text")
    if format_type in ("text", "json_object"):
        return None
    message = (
        "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', "
        f"'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': '{format_type}', "
        "'ctx': {'expected': \"'text' or 'json_object'\"}}\n\n  File \"/srv/llama_cpp/server/"
        'app.py", line 376, in create_chat_completion\n    POST /v1/chat/completions'
    )
    return 500, {"error": {"message": message, "type": "internal_server_error", "param": None}}


def _vllm(llm: ScriptedLLM, body: dict) -> Refusal:
    format_type = (body.get("response_format") or {}).get("type", "text")
    if format_type in ("text", "json_object", "json_schema"):
        return None
    message = f"response_format type {format_type!r} is not supported"
    return 400, {"object": "error", "message": message, "type": "BadRequestError", "code": 400}


def _ollama(llm: ScriptedLLM, body: dict) -> Refusal:
    format_type = (body.get("response_format") or {}).get("type", "text")
    if format_type in ("text", "json_object", "json_schema"):
        return None
    return 400, _error_body(f"invalid response_format type: {format_type}")


def _openai(llm: ScriptedLLM, body: dict) -> Refusal:
    if "stream_options" in body and not body.get("stream"):
        message = "The 'stream_options' parameter is only allowed when 'stream' is enabled."
        return 400, _error_body(message, "invalid_request_error")
    if str(body.get("model", "")).startswith("o") and "max_tokens" in body:
        message = (
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead."
        )
        return 400, _error_body(message, "invalid_request_error")
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_object" and "json" not in _messages_text(body).lower():
        message = (
            "'messages' must contain the word 'json' in some form, to use 'response_format' of "
            "type 'json_object'."
        )
        return 400, _error_body(message)
    spec = response_format.get("json_schema") or {}
    if response_format.get("type") == "json_schema" and spec.get("strict"):
        problem = _strict_problem(spec.get("schema"), "()")
        if problem:
            message = f"Invalid schema for response_format '{spec.get('name')}': {problem}"
            return 400, _error_body(message)
    return None


def _strict_problem(schema: Any, context: str) -> str | None:
    """What OpenAI's strict mode says of a schema it refuses, or None."""
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "object":
        if schema.get("additionalProperties") is not False:
            return (
                f"In context={context}, 'additionalProperties' is required to be supplied and "
                "to be false."
            )
        properties = schema.get("properties") or {}
        missing = sorted(set(properties) - set(schema.get("required") or []))
        if missing:
            return (
                f"In context={context}, 'required' is required to be supplied and to be an "
                f"array including every key in properties. Missing '{missing[0]}'."
            )
        for name, value in properties.items():
            problem = _strict_problem(value, f"('properties', '{name}')")
            if problem:
                return problem
    if schema.get("type") == "array":
        return _strict_problem(schema.get("items"), f"{context}, 'items'")
    return None


PROFILE_CHECKS = {
    "generic": _generic,
    "llama_cpp": _llama_cpp,
    "vllm": _vllm,
    "ollama": _ollama,
    "openai": _openai,
}


# ----- HTTP -----------------------------------------------------------------------------------


class _Handler(JSONHandler):  # requests are not logged: the fake's `requests` is the record
    @property
    def llm(self) -> ScriptedLLM:
        return server_owner(self)

    def do_GET(self) -> None:
        if self.path.split("?")[0] in MODELS_PATHS:
            model = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "scripted"}
            self.send_json(200, {"object": "list", "data": [model]})
        else:
            self.send_json(404, _error_body(f"ScriptedLLM: no route GET {self.path}"))

    def do_POST(self) -> None:
        if self.path.split("?")[0] not in COMPLETION_PATHS:
            self.send_json(404, _error_body(f"ScriptedLLM: no route POST {self.path}"))
            return
        raw_body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw_body)
        except json.JSONDecodeError as exc:
            self.send_json(400, _error_body(f"ScriptedLLM: request body is not JSON: {exc}"))
            return
        if not isinstance(body, dict):
            self.send_json(400, _error_body("ScriptedLLM: request body must be a JSON object"))
            return
        with self.llm._lock:
            self.llm._authorizations.append(self.headers.get("Authorization", ""))
        answer = self.llm._answer(body)
        if answer.pieces is not None:
            self._stream(body, answer)
            return
        if answer.delay and self._client_left_within(answer.delay):
            self.llm._gave_up(body)
            return
        try:
            self.send_json(answer.status, answer.body)
        except OSError:
            self.llm._gave_up(body)
            return
        if answer.status == 200:
            self.llm._delivered(answer.body)

    def _stream(self, body: dict, answer: _Answer) -> None:
        """Answer with Server-Sent Events: each piece at its time, then the end of the stream."""
        started = time.monotonic()
        chunks = _Chunks(body, with_usage=self.llm._streams_usage(body))
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()  # HTTP/1.0: the stream ends when the connection closes
            self._send_event(chunks.delta({"role": "assistant", "content": ""}))
            for number, (at, piece) in enumerate(answer.pieces or []):
                if self._client_left_before(answer, number, started + at):
                    self.llm._gave_up(body)
                    return
                self._send_event(chunks.delta({"content": piece}))
            for chunk in chunks.ending():
                self._send_event(chunk)
            if chunks.with_usage:  # counted before [DONE], which the client reads to the end
                self.llm._delivered({"usage": chunks.usage})
            self.wfile.write(b"data: [DONE]\n\n")
        except OSError:
            self.llm._gave_up(body)

    def _send_event(self, chunk: dict) -> None:
        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())

    def _client_left_before(self, answer: _Answer, number: int, due: float) -> bool:
        """Wait until piece `number` is due (at `due`, and released if held), watching the
        connection: True as soon as the client closes it."""
        if answer.hold is not None and number == answer.hold[0]:
            while not answer.hold[1].is_set():
                if self._client_left_within(0.05):
                    return True
        return self._client_left_within(due - time.monotonic())

    def _client_left_within(self, seconds: float) -> bool:
        """Wait `seconds`, watching the connection: True as soon as the client closes it."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], min(remaining, 0.05))
            if readable and not self.connection.recv(1, socket.MSG_PEEK):  # EOF: closed
                return True
        return False


def _error_body(message: str, error_type: str = "invalid_request_error") -> dict:
    return {"error": {"message": message, "type": error_type}}


def _content_text(content: Any) -> str:
    """The text of a message content: a string, or a list of parts with "text" fields."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _messages_text(body: dict) -> str:
    return "\n".join(_content_text(message.get("content")) for message in body.get("messages", []))


def _last_user_text(body: dict) -> str:
    user_messages = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return _content_text(user_messages[-1].get("content")) if user_messages else ""


def _text(reply: str | dict) -> str:
    return reply if isinstance(reply, str) else json.dumps(reply)


def _usage(request_body: dict, text: str) -> dict[str, int]:
    """Rough token counts of a request and its reply."""
    prompt_tokens = len(_messages_text(request_body)) // 4 + 1
    completion_tokens = len(text) // 4 + 1
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _completion_body(request_body: dict, text: str) -> dict:
    """An OpenAI chat.completion response carrying `text`, with rough token counts."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request_body.get("model", MODEL_ID),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(request_body, text),
    }


# ----- streams --------------------------------------------------------------------------------


def _stream_answer(reply: str | dict | Slow | Streamed) -> _Answer:
    """The answer to a stream request: the reply's pieces, each with when to send it."""
    if isinstance(reply, Streamed):
        pieces, held_from = reply.schedule()
        hold = (held_from, reply.hold) if reply.hold is not None else None
        return _Answer(200, {}, pieces=pieces, hold=hold)
    if isinstance(reply, Slow):
        return _Answer(200, {}, pieces=[(reply.seconds, p) for p in _pieces(_text(reply.reply))])
    return _Answer(200, {}, pieces=[(0.0, piece) for piece in _pieces(_text(reply))])


def _pieces(text: str) -> list[str]:
    return [text[start : start + PIECE_CHARS] for start in range(0, len(text), PIECE_CHARS)]


def _spread(text: str, start: float, end: float) -> list[tuple[float, str]]:
    """The text's pieces, evenly spread after `start`, the last one at `end`."""
    pieces = _pieces(text)
    step = (end - start) / max(len(pieces), 1)
    return [(start + step * (number + 1), piece) for number, piece in enumerate(pieces)]


def _first_task_end(text: str) -> int | None:
    """Where a plan's first task is complete for a client parsing the text as it comes: just
    past the `{` that begins the second task, or the end of a plan of one task. None when the
    text holds no plan."""
    tasks_key = text.find('"tasks"')
    start = text.find("{", tasks_key)
    if tasks_key < 0 or start < 0:
        return None
    try:
        _, end = json.JSONDecoder(strict=False).raw_decode(text, start)
    except json.JSONDecodeError:
        return None
    rest = text[end:].lstrip().removeprefix(",").lstrip()
    if rest.startswith("{"):
        return len(text) - len(rest) + 1
    return len(text)


class _Chunks:
    """The `chat.completion.chunk` objects of one streamed reply."""

    def __init__(self, request_body: dict, with_usage: bool) -> None:
        self.request_body = request_body
        self.with_usage = with_usage
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.text = ""

    def delta(self, delta: dict, finish_reason: str | None = None) -> dict:
        """A chunk carrying `delta` (its content is part of the reply's text)."""
        self.text += delta.get("content", "")
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return self._chunk([choice])

    def ending(self) -> list[dict]:
        """The last chunks: the finish reason, then the usage where it was asked for."""
        ending = [self.delta({}, finish_reason="stop")]
        if self.with_usage:
            ending.append({**self._chunk([]), "usage": self.usage})
        return ending

    @property
    def usage(self) -> dict[str, int]:
        return _usage(self.request_body, self.text)

    def _chunk(self, choices: list[dict]) -> dict:
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.request_body.get("model", MODEL_ID),
            "choices": choices,
        }
        # With include_usage, every chunk but the last says "usage": null.
        return {**chunk, "usage": None} if self.with_usage else chunk
