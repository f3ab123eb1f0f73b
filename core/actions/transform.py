"""`data_transform`: a JMESPath expression over an input value (pure computation)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import jmespath
from jmespath.exceptions import IncompleteExpressionError, JMESPathError, ParseError
from pydantic import AfterValidator

from agentic.core.actions.base import ActionConfig, ActionSpec
from agentic.core.errors import ErrorType, non_retryable


def compile_expression(expression: str) -> str:
    """The expression if it is valid JMESPath, else a ValueError saying why."""
    if "{{ params." in expression or "{{params." in expression:
        return expression  # a template's: checked once its params are in place
    try:
        jmespath.compile(expression)
    except JMESPathError as error:
        raise ValueError(f"invalid JMESPath expression {expression!r}: {why(error)}") from None
    return expression


def why(error: JMESPathError) -> str:
    """jmespath's reason without its multi-line caret display."""
    if isinstance(error, IncompleteExpressionError):
        return "the expression ends too early"
    if isinstance(error, ParseError):
        return f"unexpected {error.token_value!r} at column {error.lex_position}"
    return str(error).splitlines()[0]


JMESPathExpression = Annotated[str, AfterValidator(compile_expression)]


def is_truthy(value: Any) -> bool:
    """JMESPath truthiness: false, null and empty strings, lists and objects are false."""
    return value not in (None, False, "", [], {})


def search(expression: str, value: Any) -> Any:
    """Evaluate a JMESPath expression; a failure at run time is not worth retrying."""
    try:
        return jmespath.search(expression, value)
    except JMESPathError as error:
        message = f"expression {expression!r} failed: {error}"
        raise non_retryable(message, ErrorType.INVALID_INPUT) from error


class DataTransformConfig(ActionConfig):
    """`expression` (JMESPath) over `input`; `require` must then hold over the result."""

    input: Any = None
    """The value to transform, usually a reference like "{{ tasks.fetch.output.body }}"."""
    expression: JMESPathExpression
    """A JMESPath expression (https://jmespath.org) over the input."""
    parse_json: bool = False
    """Parse a string input as JSON first."""
    require: JMESPathExpression | None = None
    """JMESPath over the result that must be true, else the task fails (RequirementFailed):
    a validation step."""


def transform(config: DataTransformConfig) -> Any:
    """Apply the expression, then the `require` check."""
    value = config.input
    if config.parse_json and isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            message = f"input is not valid JSON: {error}"
            raise non_retryable(message, ErrorType.INVALID_INPUT) from None
    result = search(config.expression, value)
    if config.require and not is_truthy(search(config.require, result)):
        preview = json.dumps(result, default=str)[:300]
        message = f"the result does not satisfy {config.require!r}: {preview}"
        raise non_retryable(message, ErrorType.REQUIREMENT_FAILED)
    return result


SPEC = ActionSpec(
    action_type="data_transform",
    config_model=DataTransformConfig,
    description=(
        "JMESPath expression over `input` (usually a reference to an upstream output). "
        'Output: the expression\'s result. Example filter: "[?age > `30`]".'
    ),
    pure=True,
    compute=transform,
)
