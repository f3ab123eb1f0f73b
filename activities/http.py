"""The `api_call` action: one HTTP request through the worker's shared httpx client."""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx
from pydantic import Field, model_validator

from activities.base import (
    ActionContext,
    ActionSpec,
    TimedActionConfig,
    non_retryable,
    preview,
    retryable,
)

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
RETRYABLE_CLIENT_STATUSES = {408, 425, 429}
MAX_ERROR_BODY_CHARS = 500


class ApiCallConfig(TimedActionConfig):
    """An HTTP request. `json` is sent as a JSON body; `body` as text (or JSON if not a string)."""

    method: HttpMethod = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    json_body: Any = Field(None, alias="json")
    body: Any = None

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


def request_url(config: ApiCallConfig) -> httpx.URL:
    """The URL with `params` merged into its own query string (params win on the same key).

    httpx replaces a URL's query with `params=` when both are given, even an empty dict, so
    the merge happens here, once."""
    url = httpx.URL(config.url)
    return url.copy_merge_params(config.params) if config.params else url


def _request_kwargs(config: ApiCallConfig) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"headers": config.headers}
    if config.json_body is not None:
        kwargs["json"] = config.json_body
    elif isinstance(config.body, str):
        kwargs["content"] = config.body
    elif config.body is not None:
        kwargs["json"] = config.body
    return kwargs


def _parse_body(response: httpx.Response) -> Any:
    content_type = response.headers.get("content-type", "")
    if "json" in content_type:
        try:
            return response.json()
        except json.JSONDecodeError:
            return response.text
    return response.text


def _raise_for_status(config: ApiCallConfig, response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    snippet = response.text[:MAX_ERROR_BODY_CHARS]
    message = f"{config.method} {config.url} answered HTTP {status}: {snippet}"
    if status >= 500 or status in RETRYABLE_CLIENT_STATUSES:
        raise retryable(message, "HttpServerError" if status >= 500 else "HttpRetryableStatus")
    raise non_retryable(message, "HttpClientError")


async def run_api_call(config: ApiCallConfig, ctx: ActionContext) -> dict[str, Any]:
    """Send the request; 4xx fails for good, 5xx and network errors are retried by Temporal."""
    try:
        response = await ctx.http.request(
            config.method, request_url(config), timeout=config.timeout, **_request_kwargs(config)
        )
    except httpx.TimeoutException as error:
        raise retryable(
            f"{config.method} {config.url} timed out: {error!r}", "HttpTimeout"
        ) from error
    except httpx.InvalidURL as error:
        raise non_retryable(f"invalid URL {config.url!r}: {error}", "InvalidConfig") from error
    except httpx.TransportError as error:
        raise retryable(
            f"{config.method} {config.url} failed: {error!r}", "HttpConnectionError"
        ) from error
    _raise_for_status(config, response)
    return {
        "status_code": response.status_code,
        "headers": dict(response.headers),
        "body": _parse_body(response),
    }


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
    run=run_api_call,
    description=(
        "HTTP request. Output: {status_code, headers, body} (body parsed when JSON). "
        "4xx responses fail the task; 5xx and network errors are retried."
    ),
    describe_output=describe_response,
)
