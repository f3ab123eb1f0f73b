"""`api_call`: one HTTP request."""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from agentic.core.actions.base import ActionSpec, TimedActionConfig, preview

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
SAFE_METHODS = {"GET", "HEAD"}
READ_METHODS = {"GET", "HEAD", "OPTIONS"}


HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class ApiCallConfig(TimedActionConfig):
    """An HTTP request. `json` is sent as a JSON body; `body` as text (or JSON if not a string)."""

    method: HttpMethod = "GET"
    """The HTTP method, in any case; any but GET and HEAD is risky."""
    url: str
    """The URL, http:// or https://; the worker's network policy decides what it may reach."""
    headers: dict[str, str | None] = Field(default_factory=dict)
    """Request headers; a value may name a secret as {{ secrets.NAME }}; a null one is not
    sent."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Query string parameters; a null one is not sent."""
    json_body: Any = Field(None, alias="json")
    """A JSON body."""
    body: Any = None
    """A text body (JSON when not a string); give `json` or `body`, not both."""
    idempotency_key: bool | str = Field(
        True,
        description="for methods other than GET and HEAD: send an Idempotency-Key header (true),"
        " under another header name (a string), or none (false)",
    )

    @field_validator("idempotency_key")
    @classmethod
    def _header_name(cls, value: bool | str) -> bool | str:
        if isinstance(value, str) and not HEADER_NAME.fullmatch(value):
            raise ValueError(
                f"idempotency_key {value!r} is not a header name (letters, digits and "
                "!#$%&'*+-.^_`|~, no spaces): give true, false or a name like X-Request-Id"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _upper_method(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("method"), str):
            data = {**data, "method": data["method"].upper()}
        return data

    @model_validator(mode="after")
    def _one_body(self) -> ApiCallConfig:
        if self.json_body is not None and self.body is not None:
            raise ValueError("give either 'json' or 'body', not both")
        if not self.url.startswith(("http://", "https://", "{{")):
            raise ValueError(f"url must start with http:// or https://, got {self.url!r}")
        return self


def request_risk(config: ApiCallConfig) -> str:
    """A request that may change something (any method but GET and HEAD) needs approval."""
    return "" if config.method in SAFE_METHODS else f"sends {config.method} {config.url}"


def request_reads(config: ApiCallConfig) -> bool:
    """A GET, HEAD or OPTIONS request."""
    return config.method in READ_METHODS


def url_destination(url: str) -> list[tuple[str, int]]:
    """The (host, port) a URL sends to."""
    parts = urlsplit(url)
    default_port = 443 if parts.scheme == "https" else 80
    return [(parts.hostname or "", parts.port or default_port)] if parts.hostname else []


def request_destinations(config: ApiCallConfig) -> list[tuple[str, int]]:
    """Where the request goes."""
    return url_destination(config.url)


def describe_response(output: Any) -> str:
    """`HTTP 200: {"id": 1, ...}`: the status code and a short preview of the body."""
    if not isinstance(output, dict) or "status_code" not in output:
        return preview(output)
    body = output.get("body")
    shown = f": {preview(body, 60)}" if body not in (None, "") else ""
    return f"HTTP {output['status_code']}{shown}"


SPEC = ActionSpec(
    action_type="api_call",
    config_model=ApiCallConfig,
    description=(
        "HTTP request. Output: {status_code, headers, body} (body parsed when JSON). "
        "4xx responses fail the task; 5xx and network errors are retried."
    ),
    risk=request_risk,
    describe_output=describe_response,
    destinations=request_destinations,
    reads_only=request_reads,
)
