"""How to ask a server for JSON: the output modes, best first, and how a server says no.

- `json_schema`: `response_format: json_schema` (OpenAI, and vLLM, Ollama and llama.cpp's
  llama-server, which decode under the schema). Strict (OpenAI's constrained decoding) when the
  schema allows it: every object closed and every property required.
- `json_object_schema`: `response_format: {"type": "json_object", "schema": ...}`, the form
  llama-cpp-python's server (and llama-server) constrain decoding with.
- `guided_json`: vLLM's `guided_json` request field (older vLLM; newer ones take json_schema).
- `json_object`: JSON mode, the schema in the prompt.
- `text`: no response_format, the schema in the prompt.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any


class OutputMode(StrEnum):
    """A way to ask for JSON, from most to least constrained."""

    JSON_SCHEMA = "json_schema"
    JSON_OBJECT_SCHEMA = "json_object_schema"
    GUIDED_JSON = "guided_json"
    JSON_OBJECT = "json_object"
    TEXT = "text"


# What `auto` tries, in order; guided_json is only used when asked for (LLM_OUTPUT_MODE), since
# a server that ignores unknown fields would seem to accept it without constraining anything.
AUTO_MODES = (
    OutputMode.JSON_SCHEMA,
    OutputMode.JSON_OBJECT_SCHEMA,
    OutputMode.JSON_OBJECT,
    OutputMode.TEXT,
)
CONSTRAINED_MODES = {OutputMode.JSON_SCHEMA, OutputMode.JSON_OBJECT_SCHEMA, OutputMode.GUIDED_JSON}

# Words of an error body that mean "this response_format (or field) is not supported here".
# llama-cpp-python answers json_schema with HTTP 500 "Input should be 'text' or 'json_object'".
FORMAT_REJECTION = re.compile(
    r"response_format|json_schema|json_object|guided_json|'text' or|structured output|"
    r"invalid schema|schema.*not supported|grammar",
    re.IGNORECASE,
)
FORMAT_REJECTION_STATUSES = {400, 422, 500}


def modes_for(setting: str) -> tuple[OutputMode, ...]:
    """The modes to try for the LLM_OUTPUT_MODE setting: `auto`, or exactly one mode."""
    if setting == "auto":
        return AUTO_MODES
    return (OutputMode(setting),)


def is_format_rejection(status: int | None, message: str) -> bool:
    """True when an error answers the requested output format, not the request as a whole."""
    return status in FORMAT_REJECTION_STATUSES and bool(FORMAT_REJECTION.search(message))


def request_fields(mode: OutputMode, schema_name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The request fields (for the openai client) that ask for JSON in `mode`."""
    if mode == OutputMode.JSON_SCHEMA:
        strict = is_strict_compatible(schema)
        spec = {"name": schema_name, "schema": schema, "strict": strict}
        return {"response_format": {"type": "json_schema", "json_schema": spec}}
    if mode == OutputMode.JSON_OBJECT_SCHEMA:
        return {"response_format": {"type": "json_object", "schema": schema}}
    if mode == OutputMode.GUIDED_JSON:
        return {"extra_body": {"guided_json": schema}}
    if mode == OutputMode.JSON_OBJECT:
        return {"response_format": {"type": "json_object"}}
    return {}


def system_prompt_for(mode: OutputMode, system: str, schema: dict[str, Any]) -> str:
    """The system prompt; where decoding does not follow the schema, the schema travels in it."""
    if mode in CONSTRAINED_MODES:
        return system
    schema_text = json.dumps(schema, separators=(",", ":"))
    return (
        f"{system}\n\nAnswer with only one JSON object, no prose and no Markdown fences. "
        f"It must follow this JSON schema: {schema_text}"
    )


def is_strict_compatible(schema: Any) -> bool:
    """True when OpenAI's strict mode accepts `schema`: every object closed, every property
    required, no free-form values. The plan's schema has open maps (headers, JSON bodies),
    so plans are asked for with strict off."""
    if not isinstance(schema, dict):
        return True
    if "anyOf" in schema:
        return all(is_strict_compatible(option) for option in schema["anyOf"])
    kind = schema.get("type")
    if kind is None and "enum" not in schema and "const" not in schema:
        return False
    if kind == "object":
        properties = schema.get("properties")
        if not properties or schema.get("additionalProperties") is not False:
            return False
        if set(schema.get("required", [])) != set(properties):
            return False
        return all(is_strict_compatible(value) for value in properties.values())
    if kind == "array":
        return "items" in schema and is_strict_compatible(schema["items"])
    return True
