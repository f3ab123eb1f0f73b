"""A programmable local HTTP API for the engine's api_call actions.

Tests register routes with `FakeAPI.route(method, path, *responses)`; each request records a
`RecordedRequest`, with timestamps that show whether parallel calls overlapped.
"""

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from agentic.devstack import BackgroundHTTPServer, server_owner


@dataclass
class Reply:
    """One scripted HTTP response; `delay` seconds pass before it is sent."""

    status: int = 200
    json: Any = None
    text: str | None = None
    headers: dict[str, str] | None = None
    delay: float = 0.0


@dataclass
class RecordedRequest:
    """One request the fake received; `finished_at` is set once its response is written."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    received_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


Responder = Reply | Callable[[RecordedRequest], Reply]


class FakeAPI(BackgroundHTTPServer):
    """A local HTTP server answering registered routes with scripted replies.

    Use it as a context manager, or call `start()` and `stop()`; send requests to `url`.
    Requests are served concurrently, one thread each.
    """

    def __init__(self) -> None:
        super().__init__(_Handler)
        self._routes: dict[tuple[str, str], list[Responder]] = {}
        self._requests: list[RecordedRequest] = []
        self._changed = threading.Condition()

    def route(self, method: str, path: str, *responses: Responder) -> None:
        """Answer `method path` with `responses` in order; the last one repeats forever.

        A response is a `Reply` or a callable taking the `RecordedRequest` and returning one.
        Registering the same method and path again replaces the route.
        """
        if not responses:
            raise ValueError(f"route {method} {path} needs at least one response")
        with self._changed:
            self._routes[(method.upper(), path)] = list(responses)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received, in arrival order."""
        with self._changed:
            return list(self._requests)

    def calls(self, method: str, path: str) -> list[RecordedRequest]:
        """The received requests for `method path`, in arrival order."""
        method = method.upper()
        return [r for r in self.requests if r.method == method and r.path == path]

    def wait_calls(
        self, method: str, path: str, count: int, timeout: float = 5.0
    ) -> list[RecordedRequest]:
        """Wait until `count` requests for `method path` have been answered; return them all.

        Clients can see a response before `finished_at` is recorded, so read timestamps after
        this rather than straight after the client returns.
        """

        def answered() -> bool:
            finished = [r for r in self._requests if r.finished_at is not None]
            return sum(r.method == method.upper() and r.path == path for r in finished) >= count

        with self._changed:
            if not self._changed.wait_for(answered, timeout=timeout):
                raise TimeoutError(f"fewer than {count} answered calls to {method} {path}")
        return self.calls(method, path)

    def reset(self) -> None:
        """Forget every route and every recorded request."""
        with self._changed:
            self._routes.clear()
            self._requests.clear()

    def _record(self, request: RecordedRequest) -> None:
        with self._changed:
            self._requests.append(request)

    def _mark_finished(self, request: RecordedRequest) -> None:
        with self._changed:
            request.finished_at = time.monotonic()
            self._changed.notify_all()

    def _reply_for(self, request: RecordedRequest) -> Reply:
        """Consume the route's next response (keeping the last) and resolve it to a Reply."""
        with self._changed:
            responses = self._routes.get((request.method, request.path))
            if responses is None:
                return Reply(404, json={"error": f"no route {request.method} {request.path}"})
            responder = responses.pop(0) if len(responses) > 1 else responses[0]
        if isinstance(responder, Reply):
            return responder
        try:
            return responder(request)
        except Exception as exc:
            return Reply(500, json={"error": f"FakeAPI responder raised {exc!r}"})


class _Handler(BaseHTTPRequestHandler):
    @property
    def api(self) -> FakeAPI:
        return server_owner(self)

    def _handle(self) -> None:
        request = self._read_request()
        self.api._record(request)
        reply = self.api._reply_for(request)
        if reply.delay:
            time.sleep(reply.delay)
        # A client that gave up (a cancelled or timed-out call) needs no answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._write_reply(reply)
        self.api._mark_finished(request)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    def _read_request(self) -> RecordedRequest:
        url = urlsplit(self.path)
        return RecordedRequest(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(int(self.headers.get("Content-Length") or 0)),
        )

    def _write_reply(self, reply: Reply) -> None:
        headers = {}
        if reply.json is not None:
            body = json.dumps(reply.json).encode()
            headers["content-type"] = "application/json"
        elif reply.text is not None:
            body = reply.text.encode()
            headers["content-type"] = "text/plain; charset=utf-8"
        else:
            body = b""
        headers.update({name.lower(): value for name, value in (reply.headers or {}).items()})
        headers["content-length"] = str(len(body))
        self.send_response(reply.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; the fake's `requests` is the record."""
