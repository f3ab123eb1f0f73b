"""`python cli.py codec-server`: Temporal's remote codec protocol over HTTP, so the Web UI (and
`temporal ... --codec-endpoint`) shows decrypted payloads to a person holding the key.

POST /decode and /encode take and return `{"payloads": [...]}` (Temporal's JSON of Payloads);
the Web UI's origin is allowed by CORS. Point the dev server's Web UI at it with
`python cli.py server --ui-codec-endpoint http://localhost:8888`.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from agentic.codec import CodecKeyError, EncryptionKeys, decrypt, encrypt
from agentic.devstack import BackgroundHTTPServer, server_owner

DEFAULT_PORT = 8888


class CodecServer(BackgroundHTTPServer):
    """The codec endpoint for one set of keys and one Web UI origin."""

    def __init__(self, keys: EncryptionKeys, origin: str, port: int = DEFAULT_PORT) -> None:
        super().__init__(_Handler, port)
        self.keys = keys
        self.origin = origin.rstrip("/")


class _Handler(BaseHTTPRequestHandler):
    @property
    def codec(self) -> CodecServer:
        owner: CodecServer = server_owner(self)
        return owner

    def do_OPTIONS(self) -> None:
        if self._addressed_locally():
            self._reply(204, b"")

    def do_POST(self) -> None:
        if not self._addressed_locally():
            return
        route = {"/decode": decrypt, "/encode": encrypt}.get(self.path.split("?")[0])
        if route is None:
            self._reply(404, b'{"error": "POST /decode or /encode"}')
            return
        try:
            payloads = Payloads()
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            json_format.Parse(body, payloads)
            result = Payloads(payloads=route(list(payloads.payloads), self.codec.keys))
        except (json_format.ParseError, CodecKeyError) as error:
            self._reply(400, json.dumps({"error": str(error)}).encode())
            return
        self._reply(200, json_format.MessageToJson(result).encode())

    def _addressed_locally(self) -> bool:
        """Refuse a request whose Host is not this server on loopback: a web page that
        rebinds its own name to 127.0.0.1 would otherwise read decrypted payloads."""
        port = self.codec.port
        local = {f"{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]")}
        if (self.headers.get("Host") or "").lower() in local:
            return True
        self._reply(403, b'{"error": "address the codec server as 127.0.0.1 or localhost"}')
        return False

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Access-Control-Allow-Origin", self.codec.origin)
        self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "content-type, x-namespace, authorization")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: payloads are nobody's log lines."""
