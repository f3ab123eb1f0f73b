"""Configs whose fields come from a JSON schema given at run time (an MCP tool's input schema,
an OpenAPI operation's parameters and body): any fields, checked with jsonschema."""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

import jsonschema
from pydantic import ConfigDict, model_validator

from agentic.core.actions.base import ActionConfig

REFERENCE = re.compile(r"\{\{.*?\}\}")


class SchemaConfig(ActionConfig):
    """Any fields, checked against `input_schema`. A reference `{{ ... }}` passes the check
    where the plan is validated; its value is checked when the task runs."""

    model_config = ConfigDict(extra="allow")
    input_schema: ClassVar[dict[str, Any]] = {}

    @model_validator(mode="before")
    @classmethod
    def _matches_schema(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        validator = jsonschema.Draft202012Validator(cls.input_schema)
        problems = [
            problem for problem in validator.iter_errors(value)
            if not (isinstance(problem.instance, str) and REFERENCE.search(problem.instance))
        ]  # fmt: skip
        if problems:
            first = min(problems, key=lambda problem: list(map(str, problem.absolute_path)))
            where = ".".join(str(part) for part in first.absolute_path)
            raise ValueError(f"{where + ': ' if where else ''}{first.message}")
        return value

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The schema the config follows, as given."""
        return dict(cls.input_schema)


_MODELS: dict[tuple[type, str, str], type[SchemaConfig]] = {}


def schema_config_model(
    base: type[SchemaConfig], action_type: str, schema: dict[str, Any]
) -> type[SchemaConfig]:
    """The config model of `action_type` following `schema` (one class per action type and
    schema, so registering the same action twice in a process gives the same spec)."""
    key = (base, action_type, json.dumps(schema, sort_keys=True))
    if key not in _MODELS:
        name = "".join(part.title() for part in re.split(r"[^A-Za-z0-9]", action_type)) + "Config"
        _MODELS[key] = type(name, (base,), {"input_schema": schema})
    return _MODELS[key]
