"""Runs `api_call`: one HTTP request through the worker's shared httpx client."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

from agentic.activities.base import ActionContext
from agentic.activities.compute import compute
from agentic.activities.network import NetworkRefused, refusal_error
from agentic.core.actions.base import Action
from agentic.core.actions.http import SAFE_METHODS, SPEC, ApiCallConfig
from agentic.core.errors import ErrorType, non_retryable, retryable

RETRYABLE_CLIENT_STATUSES = {408, 425, 429}
MAX_ERROR_BODY_CHARS = 500


def request_url(config: ApiCallConfig) -> httpx.URL:
    """The URL with `params` merged into its own query string (params win on the same key).

    httpx replaces a URL's query with `params=` when both are given, even an empty dict, so
    the merge happens here, once."""
    url = httpx.URL(config.url)
    params = without_nulls(config.params)
    return url.copy_merge_params(params) if params else url


def without_nulls(values: dict[str, Any]) -> dict[str, Any]:
    """The entries whose value is not null: a parameter or header that a reference resolved to
    null (the first round of a loop's cursor) is left out, never sent as "None" or ""."""
    return {name: value for name, value in values.items() if value is not None}


def idempotency_headers(config: ApiCallConfig, ctx: ActionContext) -> dict[str, str]:
    """For a request that may change something: a key the same across retries and worker
    crashes (the run, the activity and the request itself), so that a server that honours it
    applies the request once. A run that reuses an ended run's id, a `modify` that changes
    the request, and each check of a poll get keys of their own."""
    if config.method in SAFE_METHODS or config.idempotency_key is False:
        return {}
    name = "Idempotency-Key" if config.idempotency_key is True else config.idempotency_key
    if any(existing.lower() == name.lower() for existing in config.headers):
        return {}
    request = config.model_dump(mode="json", by_alias=True, exclude={"timeout"})
    seed = json.dumps([ctx.run_id or ctx.workflow_id, ctx.activity_id, request], sort_keys=True)
    return {name: hashlib.sha256(seed.encode()).hexdigest()[:32]}


def _request_kwargs(config: ApiCallConfig, ctx: ActionContext) -> dict[str, Any]:
    headers = {**without_nulls(config.headers), **idempotency_headers(config, ctx)}
    kwargs: dict[str, Any] = {"headers": headers}
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
        raise retryable(
            message,
            ErrorType.HTTP_SERVER_ERROR if status >= 500 else ErrorType.HTTP_RETRYABLE_STATUS,
        )
    raise non_retryable(message, ErrorType.HTTP_CLIENT_ERROR)


async def run_api_call(config: ApiCallConfig, ctx: ActionContext) -> dict[str, Any]:
    """Send the request; 4xx fails for good, 5xx and network errors are retried by Temporal. A
    connection the network policy refuses, or a body over the size cap, fails at once."""
    try:
        response = await _send(config, ctx)
    except NetworkRefused as error:
        raise refusal_error(error, f"{config.method} {config.url}") from None
    except httpx.TooManyRedirects as error:
        message = f"{config.method} {config.url}: too many redirects ({error})"
        raise non_retryable(message, ErrorType.HTTP_CLIENT_ERROR) from error
    except httpx.TimeoutException as error:
        raise retryable(
            f"{config.method} {config.url} timed out: {error!r}", ErrorType.HTTP_TIMEOUT
        ) from error
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
        raise non_retryable(
            f"invalid URL {config.url!r}: {error}", ErrorType.INVALID_CONFIG
        ) from error
    except httpx.TransportError as error:
        raise retryable(
            f"{config.method} {config.url} failed: {error!r}", ErrorType.HTTP_CONNECTION_ERROR
        ) from error
    _raise_for_status(config, response)
    return {
        "status_code": response.status_code,
        "headers": dict(response.headers),
        # Parsing a large body takes a while: in a thread, so that the event loop goes on
        # heartbeating the other actions.
        "body": await compute(_parse_body, response, size=len(response.content)),
    }


async def _send(config: ApiCallConfig, ctx: ActionContext) -> httpx.Response:
    """The response, its body read while counting: no more than ctx.max_response_bytes.

    Redirects are followed here, not by httpx: each hop is checked by the network policy
    (where it connects), counts against HTTP_MAX_REDIRECTS, and has its body left unread; a
    request that carries secrets does not follow a redirect to another origin."""
    request = ctx.http.build_request(
        config.method, request_url(config), timeout=config.timeout, **_request_kwargs(config, ctx)
    )
    for _ in range(ctx.http.max_redirects + 1):
        response = await ctx.http.send(request, stream=True, follow_redirects=False)
        if not response.has_redirect_location:
            return await _read_capped(config, request, response, ctx.max_response_bytes)
        await response.aclose()
        request = _redirected(config, request, response, ctx)
    raise httpx.TooManyRedirects(f"more than {ctx.http.max_redirects}", request=request)


def _redirected(
    config: ApiCallConfig, request: httpx.Request, response: httpx.Response, ctx: ActionContext
) -> httpx.Request:
    """The request a redirect asks for (the method and body rules of browsers and httpx)."""
    url = request.url.join(response.headers["location"])
    if url.scheme not in ("http", "https"):
        raise non_retryable(
            f"{config.method} {config.url} redirects to {url}, which is not http(s)",
            ErrorType.NETWORK_POLICY,
        )
    cross_origin = (url.scheme, url.host, url.port) != (
        request.url.scheme, request.url.host, request.url.port
    )  # fmt: skip
    if cross_origin and ctx.masker is not None and ctx.masker.used:
        raise non_retryable(
            f"{config.method} {config.url} redirects to {url.scheme}://{url.netloc.decode()}, "
            "and the request carries secrets, which never follow a redirect to another "
            "origin: call that address directly if it is meant",
            ErrorType.SECRET_NOT_ALLOWED,
        )
    method = request.method
    if (response.status_code == 303 and method != "HEAD") or (
        response.status_code in (301, 302) and method == "POST"
    ):
        method = "GET"
    headers = httpx.Headers(request.headers)
    headers.pop("host", None)
    if cross_origin:
        for private in ("authorization", "cookie", *ctx.private_headers):
            headers.pop(private, None)
    if method != request.method:
        for name in ("content-length", "content-type", "transfer-encoding"):
            headers.pop(name, None)
        return ctx.http.build_request(method, url, headers=headers, timeout=config.timeout)
    return ctx.http.build_request(
        method, url, headers=headers, content=request.content, timeout=config.timeout
    )


async def _read_capped(
    config: ApiCallConfig, request: httpx.Request, response: httpx.Response, limit: int
) -> httpx.Response:
    try:
        declared = int(response.headers.get("content-length") or 0)
        if declared > limit:
            raise _too_large(config, declared, limit)
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():  # decoded: a gzip bomb counts in full
            size += len(chunk)
            if size > limit:
                raise _too_large(config, size, limit)
            chunks.append(chunk)
    finally:
        await response.aclose()
    headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-encoding"]
    return httpx.Response(
        response.status_code, headers=headers, content=b"".join(chunks), request=request
    )


def _too_large(config: ApiCallConfig, size: int, limit: int) -> Exception:
    return non_retryable(
        f"{config.method} {config.url}: the response is over {limit} bytes (at least {size}); "
        "the cap is HTTP_MAX_RESPONSE_BYTES",
        ErrorType.RESPONSE_TOO_LARGE,
    )


ACTION = Action.of(SPEC, run=run_api_call)
