"""OpenAPI services as action types, as pure data: the OPENAPI_SERVICES setting's entries, the
operations of a (validated) OpenAPI 3.0 or 3.1 document, and the spec of one operation
(`<service>.<operationId>`). Reading and validating documents, and running an operation as an
`api_call`, live in activities/openapi.py."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from agentic.core.actions.base import ActionSpec
from agentic.core.actions.http import (
    READ_METHODS,
    SAFE_METHODS,
    describe_response,
    url_destination,
)
from agentic.core.mcp import ToolDestination, ToolRisk
from agentic.core.schema_configs import SchemaConfig, schema_config_model

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PARAMETER_PLACES = ("path", "query", "header")
BODY = "body"
DOCUMENT_URI = "urn:agentic-openapi-document"


class OpenApiServiceSetting(BaseModel):
    """One entry of OPENAPI_SERVICES: where the document is, where requests go, and headers
    every request carries (a value may name a secret as {{ secrets.NAME }})."""

    model_config = ConfigDict(extra="forbid")

    spec: str = Field(min_length=1)
    base_url: str | None = Field(None, pattern=r"^https?://")
    headers: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    """One operation of a document: its action type's name, the request it makes, and the
    JSON schema of its config (path, query and header parameters by name, and `body`)."""

    name: str
    method: str
    path: str
    summary: str
    places: dict[str, str]  # parameter name -> path, query or header
    body_media_type: str | None
    config_schema: dict[str, Any]
    # A security scheme's field -> where its value goes: ("bearer" | "basic", "Authorization")
    # or an API key's ("header" | "query", its name).
    credentials: dict[str, tuple[str, str]] = field(default_factory=dict)


def operation_name(method: str, path: str, operation_id: str | None) -> str:
    """The operationId (letters, digits, _ and - kept), else a name from the method and the
    path: GET /users/{user_id}/orders -> get_users_user_id_orders."""
    if operation_id:
        return re.sub(r"[^A-Za-z0-9_-]+", "_", operation_id).strip("_")
    words = re.sub(r"[^A-Za-z0-9]+", "_", f"{method} {path}").strip("_")
    return words.lower()


def operations(document: dict[str, Any]) -> list[Operation]:
    """Every operation of a valid document, its schemas' $refs resolved (with `referencing`)
    and OpenAPI 3.0's schema dialect turned into JSON Schema 2020-12."""
    resolver = (
        Registry()
        .with_resource(DOCUMENT_URI, Resource.from_contents(document, DRAFT202012))
        .resolver(DOCUMENT_URI)
    )
    legacy = str(document.get("openapi", "")).startswith("3.0")
    inline = _Inliner(resolver, legacy)
    declared = (document.get("components") or {}).get("securitySchemes") or {}
    schemes = {name: inline.resolved(scheme) for name, scheme in declared.items()}
    found = []
    for path, item in (document.get("paths") or {}).items():
        item = inline.resolved(item)
        shared = item.get("parameters", [])
        for method in METHODS:
            if isinstance(item.get(method), dict):
                operation = inline.resolved(item[method])
                security = operation.get("security", document.get("security") or [])
                found.append(_with_credentials(
                    _operation(method, path, operation, shared, inline), security, schemes
                ))  # fmt: skip
    return found


def _with_credentials(
    operation: Operation, security: list[Any], schemes: dict[str, Any]
) -> Operation:
    """The operation with a config field for each security scheme it accepts that the engine
    can send: a bearer token (HTTP bearer, OAuth2, OpenID Connect), HTTP basic's user:password
    or an API key in a header or the query. Never required: the service's `headers` setting
    may carry it instead."""
    properties = dict(operation.config_schema["properties"])
    credentials: dict[str, tuple[str, str]] = {}
    named = {name for requirement in security if isinstance(requirement, dict)
             for name in requirement}  # fmt: skip
    for name in sorted(named):
        where = _credential_place(schemes.get(name) or {})
        if where is None:
            continue
        # A parameter of the same name keeps its name; the credential's field says what it is.
        field_name = f"{name}_credential" if name in properties or name == BODY else name
        if field_name in properties:
            raise ValueError(f"security scheme {name!r}: its config field {field_name!r} is "
                             "already a parameter's name")  # fmt: skip
        properties[field_name] = {"type": "string", "description": f"credential of the "
                                  f"{name!r} security scheme{_sent_as(where)}"}  # fmt: skip
        credentials[field_name] = where
    if not credentials:
        return operation
    schema = {**operation.config_schema, "properties": properties}
    return dataclasses.replace(operation, config_schema=schema, credentials=credentials)


def _sent_as(where: tuple[str, str]) -> str:
    if where[0] == "bearer":
        return ", sent as Authorization: Bearer <it>"
    if where[0] == "basic":
        return ": user:password, sent as Authorization: Basic <it in base64>"
    return f", sent in the {where[0]} {where[1]!r}"


def _credential_place(scheme: dict[str, Any]) -> tuple[str, str] | None:
    kind = scheme.get("type")
    http_scheme = str(scheme.get("scheme", "")).lower() if kind == "http" else ""
    if kind in ("oauth2", "openIdConnect") or http_scheme == "bearer":
        return "bearer", "Authorization"
    if http_scheme == "basic":
        return "basic", "Authorization"
    if kind == "apiKey" and scheme.get("in") in ("header", "query") and scheme.get("name"):
        return str(scheme["in"]), str(scheme["name"])
    return None


def _operation(
    method: str, path: str, operation: dict[str, Any], shared: list[Any], inline: _Inliner
) -> Operation:
    by_key = {}
    for parameter in [*shared, *operation.get("parameters", [])]:  # the operation's win
        parameter = inline.resolved(parameter)
        if parameter.get("in") in PARAMETER_PLACES:
            by_key[(parameter["name"], parameter["in"])] = parameter
    properties: dict[str, Any] = {}
    required, places = [], {}
    for (name, place), parameter in by_key.items():
        schema = inline.schema(parameter.get("schema", {}))
        if parameter.get("description"):
            schema = {**schema, "description": parameter["description"]}
        properties[name], places[name] = schema, place
        if parameter.get("required") or place == "path":
            required.append(name)
    media_type = None
    body = inline.resolved(operation.get("requestBody") or {})
    if body.get("content"):
        media_type = next(iter(body["content"]))
        media_type = next((kind for kind in body["content"] if "json" in kind), media_type)
        properties[BODY] = inline.schema(body["content"][media_type].get("schema", {}))
        if body.get("required"):
            required.append(BODY)
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    return Operation(
        name=operation_name(method, path, operation.get("operationId")),
        method=method.upper(),
        path=path,
        summary=" ".join(
            str(operation.get("summary") or operation.get("description") or "").split()
        ),
        places=places,
        body_media_type=media_type,
        config_schema={**schema, "required": required} if required else schema,
    )


class _Inliner:
    """Replaces $refs by what they point to (a $ref met again inside its own expansion, a
    recursive schema, becomes {}: any value)."""

    def __init__(self, resolver: Any, legacy: bool) -> None:
        self.resolver = resolver
        self.legacy = legacy

    def resolved(self, value: Any) -> Any:
        """A document object (not a schema) whose own $ref is followed."""
        while isinstance(value, dict) and isinstance(value.get("$ref"), str):
            value = self.resolver.lookup(value["$ref"]).contents
        return value

    def schema(self, value: Any, seen: tuple[str, ...] = ()) -> Any:
        """A schema with every $ref inlined (and 3.0's `nullable` as a null type)."""
        if isinstance(value, list):
            return [self.schema(item, seen) for item in value]
        if not isinstance(value, dict):
            return value
        reference = value.get("$ref")
        if isinstance(reference, str):
            if reference in seen:
                return {}
            target = self.resolver.lookup(reference).contents
            return self.schema(target, (*seen, reference))
        schema = {key: self.schema(item, seen) for key, item in value.items()}
        return _json_schema(schema) if self.legacy else schema


def _json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI 3.0 schema object as JSON Schema 2020-12: `nullable` and the boolean
    `exclusiveMinimum`/`exclusiveMaximum`."""
    if schema.pop("nullable", False) is True and isinstance(schema.get("type"), str):
        schema["type"] = [schema["type"], "null"]
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(schema.get(exclusive), bool) and schema.pop(exclusive) and bound in schema:
            schema[exclusive] = schema.pop(bound)
    return schema


class OperationConfig(SchemaConfig):
    """An operation's parameters by name, and its request `body`: checked against the
    document's schemas. A number or a boolean given for a parameter whose schema is a string
    (an id from another task's output, say) is taken as its text, as the URL will carry it."""

    @model_validator(mode="before")
    @classmethod
    def _scalars_as_text(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        properties = cls.input_schema.get("properties", {})
        return {
            name: param_text(given)
            if name != BODY and isinstance(given, int | float) and _takes_text(properties.get(name))
            else given
            for name, given in value.items()
        }


def _takes_text(schema: Any) -> bool:
    """Whether a parameter's schema wants a string and no other scalar."""
    kinds = schema.get("type") if isinstance(schema, dict) else None
    kinds = [kinds] if isinstance(kinds, str) else kinds or []
    return "string" in kinds and not {"integer", "number", "boolean"} & set(kinds)


def param_text(value: Any) -> str:
    """A parameter's value as the text of a path, query or header (booleans as JSON's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def operation_config_model(action_type: str, schema: dict[str, Any]) -> type[SchemaConfig]:
    """The config model of one operation."""
    return schema_config_model(OperationConfig, action_type, schema)


def operation_spec(service: str, base_url: str, operation: Operation) -> ActionSpec:
    """The spec of one operation of one service: GET and HEAD are safe, other methods wait
    for approval in mode `risky`; a secret may go to the base URL's host. A GET, HEAD or
    OPTIONS operation only reads (it may run as a local activity)."""
    action_type = f"{service}.{operation.name}"
    risky = operation.method not in SAFE_METHODS
    reason = f"sends {operation.method} {operation.path} to OpenAPI service {service}"
    text = " ".join((operation.summary or f"{operation.method} {operation.path}").split())
    text = text if text.endswith((".", "!", "?")) else text + "."
    destinations = url_destination(base_url)
    return ActionSpec(
        action_type=action_type,
        config_model=operation_config_model(action_type, operation.config_schema),
        description=f"[OpenAPI service {service}: {operation.method} {operation.path}] {text} "
        "Config: its parameters by name and its request `body`. Output: {status_code, "
        "headers, body} (body parsed when JSON); 4xx fails the task, 5xx is retried.",
        risk=ToolRisk(reason if risky else ""),
        describe_output=describe_response,
        destinations=ToolDestination(*destinations[0]) if destinations else None,
        idempotent=operation.method in READ_METHODS,
    )
