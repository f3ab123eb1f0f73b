"""A small local HTTP API with sample data, for the examples and the demo.

Routes:
    GET  /users                   the sample users (examples/data/users.json)
    GET  /users/pages             ?cursor=C&limit=N -> {items, next}: the users page by page,
                                  `next` the cursor of the next page (null after the last)
    GET  /users/<id>/orders       that user's orders (no token needed)
    POST /auth/token              {client_id, client_secret} -> {access_token, token_type}
    GET  /orders                  the sample orders; needs "Authorization: Bearer <token>"
    POST /jobs                    {type, parameters, duration_seconds} -> 202 {job_id, status}
    GET  /jobs/<id>               {job_id, status: queued|running|done, progress}
    GET  /jobs/<id>/result        the job's result once done (409 before)
    GET  /openapi.json            this API's OpenAPI 3.1 document

Run it alone with `python cli.py sample-api`.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from agentic.devstack import BackgroundHTTPServer, JSONHandler, server_owner
from agentic.examples.sample_openapi import openapi_document

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_PORT = 8765
PAGE_SIZE = 5
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
CLIENT_SECRETS = {"demo": "demo-secret"}


def load_sample(name: str) -> Any:
    """A sample data file shipped with the project."""
    return json.loads((DATA_DIR / f"{name}.json").read_text())


@dataclass
class Job:
    """A simulated background job that finishes `duration` seconds after submission."""

    job_id: str
    job_type: str
    parameters: dict[str, Any]
    duration: float
    submitted_at: float = field(default_factory=time.monotonic)

    def progress(self) -> float:
        """0.0 to 1.0."""
        if self.duration <= 0:
            return 1.0
        return min(1.0, (time.monotonic() - self.submitted_at) / self.duration)

    def status(self) -> str:
        """queued, running or done."""
        progress = self.progress()
        return "done" if progress >= 1.0 else ("queued" if progress < 0.1 else "running")


class SampleState:
    """Tokens issued and jobs submitted, shared by the request threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: set[str] = set()
        self.jobs: dict[str, Job] = {}


class SampleAPI(BackgroundHTTPServer):
    """The sample API on 127.0.0.1:`port` (0: a free port), served from a background thread."""

    def __init__(self, port: int = DEFAULT_PORT) -> None:
        self.state = SampleState()
        super().__init__(_Handler, port, owner=self.state)


class _Handler(JSONHandler):
    @property
    def state(self) -> SampleState:
        return server_owner(self)

    def do_GET(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts == ["users"]:
            self._send(200, load_sample("users"))
        elif parts == ["openapi.json"]:
            self._send(200, openapi_document(f"http://{self.headers.get('Host', '127.0.0.1')}"))
        elif parts == ["users", "pages"]:
            self._user_page()
        elif len(parts) == 3 and parts[0] == "users" and parts[2] == "orders":
            self._user_orders(parts[1])
        elif parts == ["orders"]:
            self._orders()
        elif len(parts) in (2, 3) and parts[0] == "jobs":
            self._job(parts[1], result=len(parts) == 3 and parts[2] == "result")
        else:
            self._send(404, {"error": f"no route GET {self.path}"})

    def do_POST(self) -> None:
        body = self._body()
        if self.path == "/auth/token":
            self._token(body)
        elif self.path == "/jobs":
            self._submit(body)
        else:
            self._send(404, {"error": f"no route POST {self.path}"})

    def _token(self, body: dict[str, Any]) -> None:
        if CLIENT_SECRETS.get(body.get("client_id", "")) != body.get("client_secret"):
            self._send(401, {"error": "unknown client_id or wrong client_secret"})
            return
        token = secrets.token_hex(16)
        with self.state.lock:
            self.state.tokens.add(token)
        self._send(200, {"access_token": token, "token_type": "bearer", "expires_in": 3600})

    def _user_page(self) -> None:
        """GET /users/pages?cursor=C&limit=N: `{"items": [...], "next": C2}`, a cursor to
        pass back for the next page, null after the last one. No cursor: the first page."""
        query = parse_qs(urlsplit(self.path).query)
        try:
            start = int(query.get("cursor", ["0"])[0])
            limit = int(query.get("limit", [str(PAGE_SIZE)])[0])
        except ValueError:
            self._send(400, {"error": "cursor and limit are whole numbers"})
            return
        users = load_sample("users")
        if start < 0 or limit < 1:
            self._send(400, {"error": "cursor must be 0 or more, limit 1 or more"})
            return
        end = start + limit
        self._send(200, {"items": users[start:end], "next": str(end) if end < len(users) else None})

    def _user_orders(self, user_id: str) -> None:
        """GET /users/<id>/orders: that user's orders (no token needed), 404 for no user."""
        if not any(str(user["id"]) == user_id for user in load_sample("users")):
            self._send(404, {"error": f"no user {user_id}"})
            return
        orders = [order for order in load_sample("orders") if str(order["user_id"]) == user_id]
        self._send(200, orders)

    def _orders(self) -> None:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        with self.state.lock:
            known = token in self.state.tokens
        if not known:
            self._send(401, {"error": "missing or unknown bearer token; POST /auth/token first"})
            return
        self._send(200, load_sample("orders"))

    def _submit(self, body: dict[str, Any]) -> None:
        job = Job(
            job_id=f"job-{secrets.token_hex(4)}",
            job_type=str(body.get("type", "generic")),
            parameters=body.get("parameters") or {},
            duration=float(body.get("duration_seconds", 3)),
        )
        with self.state.lock:
            self.state.jobs[job.job_id] = job
        self._send(202, {"job_id": job.job_id, "status": "queued"})

    def _job(self, job_id: str, result: bool) -> None:
        with self.state.lock:
            job = self.state.jobs.get(job_id)
        if job is None:
            self._send(404, {"error": f"no job {job_id}"})
        elif not result:
            status = {"job_id": job_id, "status": job.status(), "progress": job.progress()}
            self._send(200, status)
        elif job.status() != "done":
            self._send(409, {"error": f"job {job_id} is {job.status()}, not done"})
        else:
            self._send(200, {"job_id": job_id, "type": job.job_type, "result": _job_result(job)})

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return {}
        try:
            parsed = json.loads(self.rfile.read(length))
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}

    def _send(self, status: int, payload: Any) -> None:
        self.send_json(status, payload)


def _job_result(job: Job) -> dict[str, Any]:
    users = load_sample("users")
    return {
        "rows_processed": len(users),
        "parameters": job.parameters,
        "adults": sum(1 for user in users if user["age"] >= 18),
    }
