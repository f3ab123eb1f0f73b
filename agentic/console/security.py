"""Who may use the console, as Jupyter does it: on a loopback address, the people of this
machine; on any other, those who give the token (UI_TOKEN, or one made at start and printed
once) as a bearer header, or once through the login form or `?token=`, which sets an HttpOnly
cookie. Every POST carries the CSRF token of the page it came from; on loopback without a
token, the Host header must be a loopback name (a DNS-rebound page is refused)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field

from starlette.requests import Request

COOKIE = "agentic_console"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


def is_loopback(host: str) -> bool:
    """True for a loopback name or address."""
    if host.strip("[]") in LOOPBACK_NAMES or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class Guard:
    """The console's access rules for one bind address."""

    host: str
    token: str | None  # None: no token needed (loopback, and UI_TOKEN not set)
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    @classmethod
    def for_bind(cls, host: str, token: str | None) -> tuple[Guard, bool]:
        """The guard of a console bound to `host`; True when its token was made here (and
        must be shown once)."""
        if token:
            return cls(host, token), False
        if is_loopback(host):
            return cls(host, None), False
        return cls(host, secrets.token_urlsafe(24)), True

    def allowed(self, request: Request) -> bool:
        """Whether the request may see the console."""
        if self.token is None:
            return self._loopback_host(request)
        given = request.cookies.get(COOKIE) or _bearer(request) or ""
        return self.matches(given)

    def matches(self, given: str) -> bool:
        """Whether `given` is the token (the cookie holds it as given at login)."""
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def _loopback_host(self, request: Request) -> bool:
        host = request.headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return is_loopback(name)

    def csrf_token(self, request: Request) -> str:
        """The CSRF token of this browser's session (its cookie, or none on loopback)."""
        session = request.cookies.get(COOKIE, "")
        return hmac.new(self.secret, session.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, request: Request, given: str) -> bool:
        """Whether a POST carries the CSRF token of its session."""
        return bool(given) and hmac.compare_digest(given, self.csrf_token(request))


def _bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""
