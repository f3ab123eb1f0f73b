"""An OpenAI-compatible chat completions server that replays scripted answers.

Tests register replies with `ScriptedLLM.script(match, *replies)`; a request gets the next reply
of the most recently registered script whose `match` occurs in its message contents.
"""

import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from devstack import BackgroundHTTPServer

MODEL_ID = "scripted-model"
COMPLETION_PATHS = ("/v1/chat/completions", "/chat/completions")
MODELS_PATHS = ("/v1/models", "/models")


@dataclass(frozen=True)
class ScriptedError:
    """A scripted reply that answers with an HTTP error instead of a completion."""

    status: int
    message: str


ScriptedReply = str | dict | ScriptedError


@dataclass
class _Script:
    match: str
    replies: deque[ScriptedReply] = field(default_factory=deque)


class ScriptedLLM(BackgroundHTTPServer):
    """A local OpenAI-compatible server answering chat completions from scripted replies.

    Use it as a context manager, or call `start()` and `stop()`; point a client at `base_url`.
    Set `supports_json_schema` / `supports_json_object` to False to imitate a server that
    rejects those `response_format` types with a 400.
    """

    def __init__(self) -> None:
        super().__init__(_Handler)
        self.supports_json_schema = True
        self.supports_json_object = True
        self._scripts: list[_Script] = []
        self._requests: list[dict] = []
        self._lock = threading.Lock()

    @staticmethod
    def error(status: int, message: str) -> ScriptedError:
        """A reply that makes its request answer with `status` and an OpenAI error body."""
        return ScriptedError(status, message)

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

    def clear(self) -> None:
        """Forget every script and every recorded request."""
        with self._lock:
            self._scripts.clear()
            self._requests.clear()

    @property
    def base_url(self) -> str:
        """The URL to give an OpenAI client, e.g. "http://127.0.0.1:PORT/v1"."""
        return f"{self.url}/v1"

    def _answer(self, body: dict) -> tuple[int, dict]:
        """The HTTP status and JSON body answering one chat completion request."""
        with self._lock:
            self._requests.append(body)
        refused_format = self._refused_format(body)
        if refused_format is not None:
            message = f"response_format '{refused_format}' is not supported by this server"
            return 400, _error_body(message, "invalid_request_error")
        reply = self._next_reply(_messages_text(body))
        if reply is None:
            # A client error, so that no test waits on retries of a request nobody scripted.
            message = "ScriptedLLM: no scripted reply for request containing: "
            return 400, _error_body(message + _last_user_text(body)[:200])
        if isinstance(reply, ScriptedError):
            return reply.status, _error_body(reply.message, "invalid_request_error")
        text = reply if isinstance(reply, str) else json.dumps(reply)
        return 200, _completion_body(body, text)

    def _refused_format(self, body: dict) -> str | None:
        """The response_format type this server is set to reject, if the request uses one."""
        response_format = body.get("response_format") or {}
        format_type = response_format.get("type")
        supported = {
            "json_schema": self.supports_json_schema,
            "json_object": self.supports_json_object,
        }
        return format_type if supported.get(format_type, True) is False else None

    def _next_reply(self, request_text: str) -> ScriptedReply | None:
        """Consume the next reply of the newest non-exhausted script matching the request."""
        with self._lock:
            for scripted in reversed(self._scripts):
                if scripted.replies and scripted.match in request_text:
                    return scripted.replies.popleft()
        return None


class _Handler(BaseHTTPRequestHandler):
    @property
    def llm(self) -> ScriptedLLM:
        return self.server.owner  # set by BackgroundHTTPServer

    def do_GET(self) -> None:
        if self.path.split("?")[0] in MODELS_PATHS:
            model = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "scripted"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._send_json(404, _error_body(f"ScriptedLLM: no route GET {self.path}"))

    def do_POST(self) -> None:
        if self.path.split("?")[0] not in COMPLETION_PATHS:
            self._send_json(404, _error_body(f"ScriptedLLM: no route POST {self.path}"))
            return
        raw_body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw_body)
        except json.JSONDecodeError as exc:
            self._send_json(400, _error_body(f"ScriptedLLM: request body is not JSON: {exc}"))
            return
        if not isinstance(body, dict):
            self._send_json(400, _error_body("ScriptedLLM: request body must be a JSON object"))
            return
        self._send_json(*self.llm._answer(body))

    def _send_json(self, status: int, payload: dict) -> None:
        encoded = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; the fake's `requests` is the record."""


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
