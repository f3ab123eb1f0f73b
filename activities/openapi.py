"""OpenAPI services as actions: the worker reads each document of OPENAPI_SERVICES at start
(a file or a URL, JSON or YAML), validates it (openapi-spec-validator: OpenAPI 3.0 and 3.1),
and registers one action type per operation (`<service>.<operationId>`, core/openapi.py)
whose runner builds an `api_call` config and runs it with `api_call`'s own runner: the
network policy, secrets, idempotency keys and redirect rules are api_call's.

A document that cannot be read or is not valid OpenAPI is a configuration error (a ValueError
naming the service): the worker and the CLI stop with that one line."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import structlog
import yaml
from openapi_spec_validator import validate

from agentic.activities.base import ActionContext
from agentic.activities.http import run_api_call
from agentic.core.actions.base import Action
from agentic.core.actions.http import ApiCallConfig, url_destination
from agentic.core.openapi import (
    BODY,
    OpenApiServiceSetting,
    Operation,
    operation_spec,
    operations,
    param_text,
)

logger = structlog.get_logger("openapi")
FETCH_TIMEOUT_SECONDS = 30.0


async def read_document(location: str) -> dict[str, Any]:
    """The document at a URL (fetched as configured, not through the runs' network policy)
    or in a file, parsed as JSON or YAML; ValueError says why not."""
    try:
        if location.startswith(("http://", "https://")):
            text = await _fetch(location)
        else:
            text = await asyncio.to_thread(Path(location).read_text, encoding="utf-8")
    except OSError as error:  # the path is said already
        raise ValueError(f"cannot read it: {error.strerror or error}") from None
    except (UnicodeDecodeError, httpx.HTTPError) as error:
        raise ValueError(f"cannot read it: {error}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        try:  # JSON is YAML too, but JSON indented with tabs is not: JSON first
            document = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ValueError(f"not JSON or YAML: {' '.join(str(error).split())}") from None
    if not isinstance(document, dict):
        raise ValueError("not an OpenAPI document (a JSON or YAML object)")
    return document


async def _fetch(url: str) -> str:
    async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=True) as http:
        response = await http.get(url)
        response.raise_for_status()
        return response.text


def checked_operations(document: dict[str, Any]) -> list[Operation]:
    """The operations of a valid OpenAPI 3.0 or 3.1 document; ValueError says what is wrong."""
    version = str(document.get("openapi") or document.get("swagger") or "")
    if not version.startswith("3."):
        found = f"version {version}" if version else "no `openapi` version"
        raise ValueError(
            f"not an OpenAPI 3.0 or 3.1 document ({found}); convert a Swagger 2.0 one to "
            "OpenAPI 3 first (swagger2openapi, or the Swagger Editor's converter)"
        )
    try:
        validate(document)
    except Exception as error:  # the validator's own error types, and what a bad $ref raises
        raise ValueError(f"not valid OpenAPI: {str(error).splitlines()[0]}") from None
    try:
        return operations(document)
    except Exception as error:  # a $ref that does not resolve
        raise ValueError(f"cannot read its operations: {type(error).__name__}: {error}") from None


def service_base_url(setting: OpenApiServiceSetting, document: dict[str, Any]) -> str:
    """The setting's base_url, else the document's first server when it is absolute."""
    servers = document.get("servers") or [{}]
    base_url = setting.base_url or str(servers[0].get("url", ""))
    if not base_url.startswith(("http://", "https://")):
        raise ValueError('give "base_url": the document names no absolute server URL')
    return base_url.rstrip("/")


@dataclass(frozen=True)
class OperationRunner:
    """Runs one operation of one service: its config becomes an `api_call` config."""

    service: str
    base_url: str
    headers: Mapping[str, str]
    operation: Operation

    async def __call__(self, config: Any, ctx: ActionContext) -> dict[str, Any]:
        # Only the setting's headers are filled here: the plan's values were filled (or
        # refused) by the activity, and a secret reference from an upstream output stays text.
        headers, masker = ctx.secrets.fill(dict(self.headers))
        if masker.used:
            masker.check(url_destination(self.base_url), f"OpenAPI service {self.service}")
            if ctx.masker is None or not ctx.masker.used:  # redirects: the request has secrets
                ctx = replace(ctx, masker=masker)
        ctx = replace(ctx, private_headers=self.private_headers)
        request = self.request(config.model_dump(by_alias=True, mode="json"), headers)
        return await run_api_call(ApiCallConfig.model_validate(request), ctx)

    @cached_property
    def private_headers(self) -> frozenset[str]:
        """The headers that never follow a redirect to another origin (Authorization never
        does): the operation's API key headers, and the service's own headers."""
        keys = [sent_as for place, sent_as in self.operation.credentials.values()
                if place == "header"] + list(self.headers)  # fmt: skip
        return frozenset(key.lower() for key in keys)

    def request(self, values: dict[str, Any], headers: dict[str, Any]) -> dict[str, Any]:
        """The api_call config of the operation's parameters and body, with `headers`."""
        operation = self.operation
        path, params, headers = operation.path, {}, dict(headers)
        for name, value in values.items():
            place = operation.places.get(name)
            if place == "path":
                path = path.replace(f"{{{name}}}", quote(param_text(value), safe=""))
            elif place == "query":
                params[name] = value
            elif place == "header" and value is not None:
                _put_header(headers, name, param_text(value))
        for name, (place, sent_as) in operation.credentials.items():
            value = values.get(name)
            if value is None:
                continue
            if place == "query":
                params[sent_as] = param_text(value)
            else:
                _put_header(headers, sent_as, _credential_header(place, param_text(value)))
        request: dict[str, Any] = {"method": operation.method, "url": self.base_url + path,
                                   "params": params, "headers": headers}  # fmt: skip
        if BODY in values:
            json_body = operation.body_media_type is None or "json" in operation.body_media_type
            request["json" if json_body else "body"] = values[BODY]
        return request


def _credential_header(place: str, value: str) -> str:
    """A credential as its header carries it: a bearer token after `Bearer`, HTTP basic's
    user:password in base64 after `Basic`, an API key as it is."""
    if place == "bearer":
        return f"Bearer {value}"
    if place == "basic":
        return "Basic " + base64.b64encode(value.encode()).decode()
    return value


def _put_header(headers: dict[str, Any], name: str, value: str) -> None:
    """Set a header, replacing one of the same name in another case (the plan's value wins over
    the service's setting)."""
    for taken in [key for key in headers if key.lower() == name.lower()]:
        del headers[taken]
    headers[name] = value


async def service_actions(service: str, setting: OpenApiServiceSetting) -> list[Action]:
    """The actions of one service's operations; a ValueError of one line, naming the
    service, when its document cannot be read or is not valid OpenAPI."""
    try:
        document = await read_document(setting.spec)
        found = checked_operations(document)
        base_url = service_base_url(setting, document)
    except ValueError as error:
        raise ValueError(f"OPENAPI_SERVICES {service}: spec {setting.spec}: {error}") from None
    names = [operation.name for operation in found]
    logger.info("openapi_service_ready", service=service, operations=names)
    return [
        Action.of(
            operation_spec(service, base_url, operation),
            OperationRunner(service, base_url, setting.headers, operation),
        )
        for operation in found
    ]


async def openapi_actions(services: Mapping[str, OpenApiServiceSetting]) -> list[Action]:
    """The actions of every service's operations (the worker's and the CLI's)."""
    listed = await asyncio.gather(*(service_actions(*entry) for entry in services.items()))
    return [action for actions in listed for action in actions]
