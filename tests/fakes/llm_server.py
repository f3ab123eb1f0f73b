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

It counts the tokens of every completion it delivered (`usage_total`), and notices requests
whose client gave up while it was still "thinking" (`abandoned`).
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


ScriptedReply = str | dict | ScriptedError | Slow


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

    def _answer(self, body: dict) -> tuple[int, dict, float]:
        """The HTTP status, the JSON body and a delay answering one chat completion request."""
        with self._lock:
            self._requests.append(body)
        refusal = PROFILE_CHECKS[self.profile](self, body)
        if refusal is not None:
            return (*refusal, 0.0)
        reply = self._next_reply(_messages_text(body))
        if reply is None:
            # A client error, so that no test waits on retries of a request nobody scripted.
            message = "ScriptedLLM: no scripted reply for request containing: "
            return 400, _error_body(message + _last_user_text(body)[:200]), 0.0
        if isinstance(reply, ScriptedError):
            return reply.status, _error_body(reply.message, "invalid_request_error"), 0.0
        delay = reply.seconds if isinstance(reply, Slow) else 0.0
        content = reply.reply if isinstance(reply, Slow) else reply
        text = content if isinstance(content, str) else json.dumps(content)
        return 200, _completion_body(body, text), delay

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
        status, payload, delay = self.llm._answer(body)
        if delay and self._client_left_within(delay):
            self.llm._gave_up(body)
            return
        try:
            self.send_json(status, payload)
        except OSError:
            self.llm._gave_up(body)
            return
        if status == 200:
            self.llm._delivered(payload)

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


def _completion_body(request_body: dict, text: str) -> dict:
    """An OpenAI chat.completion response carrying `text`, with rough token counts."""
    prompt_tokens = len(_messages_text(request_body)) // 4 + 1
    completion_tokens = len(text) // 4 + 1
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
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
