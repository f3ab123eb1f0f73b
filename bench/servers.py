"""The local HTTP backend of `bench/run.py`: answers after a delay the request names, and keeps a
log of what it was asked, so a bench can tell when a task is running (or first ran: a local
activity's start is in no history) and whether it ran twice.

- `GET /work?id=ID&delay=SECONDS`: `{"id": ID}` after SECONDS (default 0);
- `GET /users?count=N`: N user records (the pipeline's input), at once.

(`bench/load.py`'s `CountingAPI` serves the load shape, whose plan is reused as it is.)

Both listen with a backlog for a thousand connections at once: socketserver's is 5, and the
bare workers and LangGraph open up to 100 connections each at once (httpx's default pool).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from agentic.devstack import BackgroundHTTPServer, JSONHandler, server_owner

LISTEN_BACKLOG = 1024


def with_backlog(server: BackgroundHTTPServer) -> None:
    """Let `server` (started) queue LISTEN_BACKLOG connections: calling listen() again on a
    listening socket sets its backlog."""
    server._server.socket.listen(LISTEN_BACKLOG)  # type: ignore[union-attr]


class BenchAPI(BackgroundHTTPServer):
    """The benches' backend; `log` holds the `id` of every `/work` request, in arrival order."""

    def __init__(self) -> None:
        super().__init__(_BenchHandler, name="BenchAPI")
        self._log: list[str] = []
        self._first_arrivals: dict[str, datetime] = {}
        self._arrived = threading.Condition()

    def start(self) -> Self:
        super().start()
        with_backlog(self)
        return self

    def work_url(self, request_id: str, delay: float = 0.0) -> str:
        """The URL of one `/work` request."""
        return f"{self.url}/work?id={request_id}&delay={delay:g}"

    def users_url(self, count: int) -> str:
        """The URL of `count` user records."""
        return f"{self.url}/users?count={count}"

    @property
    def log(self) -> list[str]:
        """A snapshot of the ids requested so far."""
        with self._arrived:
            return list(self._log)

    def repeated(self, prefix: str) -> dict[str, int]:
        """The ids starting with `prefix` that were requested more than once, with their count."""
        counts = Counter(request_id for request_id in self.log if request_id.startswith(prefix))
        return {request_id: count for request_id, count in counts.items() if count > 1}

    def wait_for(self, request_id: str, timeout: float) -> bool:
        """Block until `request_id` has been requested (True) or `timeout` passed (False)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: request_id in self._log, timeout)

    def first_arrival(self, request_id: str) -> datetime | None:
        """When `request_id` was first requested (this machine's clock, as the dev server's
        history times are), or None."""
        with self._arrived:
            return self._first_arrivals.get(request_id)

    def record(self, request_id: str) -> None:
        with self._arrived:
            self._log.append(request_id)
            self._first_arrivals.setdefault(request_id, datetime.now(UTC))
            self._arrived.notify_all()


def users(count: int) -> list[dict[str, Any]]:
    """`count` user records, the same for every caller."""
    return [
        {"id": number, "name": f"user{number}", "age": 18 + number * 7 % 60,
         "email": f"user{number}@example.com"}
        for number in range(count)
    ]  # fmt: skip


class _BenchHandler(JSONHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real backend would
    # Headers and body go out in two writes: with Nagle's algorithm the body would wait for the
    # client's delayed ACK of the headers (40 ms on Linux) on a kept-alive connection.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        if url.path == "/work":
            server_owner(self).record(query.get("id", ""))
            time.sleep(float(query.get("delay", 0)))
            self._answer(200, {"id": query.get("id")})
        elif url.path == "/users":
            self._answer(200, users(int(query.get("count", 100))))
        else:
            self._answer(404, {"error": f"no route {url.path}"})

    def _answer(self, status: int, body: Any) -> None:
        # The crash shape kills a worker while its request is served: nobody reads the answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_json(status, body)
