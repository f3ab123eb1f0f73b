"""A plan's parameters (a template's): the plan declares `params`, a JSON Schema object (names,
types, defaults, descriptions), and uses `{{ params.NAME }}` anywhere a reference may stand;
the values given when a run starts are checked against the schema (defaults filled in) and put
in place before the run, so the plan that runs holds them. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import jsonschema

from agentic.core.references import PATH, fill_matches, follow_or_null, iter_strings

PARAM_REFERENCE = re.compile(
    r"\{\{\s*params\.(?P<name>[A-Za-z0-9_-]+)(?P<path>" + PATH + r")\s*\}\}"
)


def params_schema(declared: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema of a plan's `params`: as given when it is an object schema, else the
    map of name -> property schema it is short for. Without a `required` list, a param with no
    default is required."""
    if declared.get("type") == "object" or "properties" in declared:
        schema = {"type": "object", **declared}
    else:
        schema = {"type": "object", "properties": dict(declared)}
    if "required" not in schema:
        properties = schema.get("properties", {})
        schema["required"] = [
            name for name, prop in properties.items()
            if not (isinstance(prop, Mapping) and "default" in prop)
        ]  # fmt: skip
    return schema


def declared_names(declared: Mapping[str, Any] | None) -> set[str]:
    """The names a plan's `params` declares."""
    return set(params_schema(declared).get("properties", {})) if declared else set()


def referenced_params(value: Any) -> set[str]:
    """The param names the strings of `value` refer to."""
    return {m["name"] for text in iter_strings(value) for m in PARAM_REFERENCE.finditer(text)}


def schema_problem(declared: Mapping[str, Any]) -> str:
    """Why `params` is not a valid JSON Schema ("" when it is)."""
    try:
        jsonschema.Draft202012Validator.check_schema(params_schema(declared))
    except jsonschema.SchemaError as error:
        return f"params is not a valid JSON Schema: {error.message}"
    return ""


def checked_values(declared: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """The values of the params: the given ones and the defaults of the others, checked against
    the schema; ValueError names the param and what is wrong, or what the plan takes."""
    schema = params_schema(declared)
    properties: dict[str, Any] = schema.get("properties", {})
    unknown = sorted(set(given) - set(properties))
    if unknown:
        takes = ", ".join(sorted(properties)) or "none"
        raise ValueError(f"unknown param {unknown[0]!r}: the plan takes {takes}")
    values = {
        name: prop["default"]
        for name, prop in properties.items()
        if isinstance(prop, Mapping) and "default" in prop
    }
    values.update(given)
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(values),
        key=lambda error: list(map(str, error.absolute_path)),
    )
    if errors:
        first = errors[0]
        where = ".".join(str(part) for part in first.absolute_path)
        if first.validator == "required":
            missing = [name for name in schema["required"] if name not in values]
            raise ValueError(f"param {missing[0]} is required: give it (--param "
                             f"{missing[0]}=VALUE)")  # fmt: skip
        raise ValueError(f"param {where}: {first.message}" if where else first.message)
    return values


def filled(value: Any, values: Mapping[str, Any]) -> Any:
    """`value` with every `{{ params... }}` replaced (a string that is exactly one reference
    becomes the value itself)."""
    return fill_matches(
        value,
        PARAM_REFERENCE,
        lambda match: follow_or_null(values.get(match["name"]), match["path"]),
    )
