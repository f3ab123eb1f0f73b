"""The `data_transform` action: a JMESPath expression over an input value."""

from __future__ import annotations

import json
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import field_validator

from activities.base import ActionConfig, ActionContext, ActionSpec, non_retryable


class DataTransformConfig(ActionConfig):
    """`expression` (JMESPath) applied to `input`; `parse_json` parses a string input first."""

    input: Any = None
    expression: str
    parse_json: bool = False

    @field_validator("expression")
    @classmethod
    def _compiles(cls, expression: str) -> str:
        try:
            jmespath.compile(expression)
        except JMESPathError as error:
            raise ValueError(f"invalid JMESPath expression {expression!r}: {error}") from None
        return expression


def transform(config: DataTransformConfig) -> Any:
    """Apply the expression; shared with the poll action's `until` checks."""
    value = config.input
    if config.parse_json and isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise non_retryable(f"input is not valid JSON: {error}", "InvalidInput") from None
    try:
        return jmespath.search(config.expression, value)
    except JMESPathError as error:
        raise non_retryable(
            f"expression {config.expression!r} failed: {error}", "InvalidInput"
        ) from error


async def run_data_transform(config: DataTransformConfig, ctx: ActionContext) -> Any:
    """Pure computation, yet an activity: its output is recorded once and never recomputed."""
    return transform(config)


SPEC = ActionSpec(
    action_type="data_transform",
    config_model=DataTransformConfig,
    run=run_data_transform,
    description=(
        "JMESPath expression over `input` (usually a reference to an upstream output). "
        'Output: the expression\'s result. Example filter: "[?age > `30`]".'
    ),
)
