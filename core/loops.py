"""Loops: a task's `repeat` runs its action again, round after round, until a JMESPath condition
over `{output, index, previous}` holds, at most `max` times. Its config may use
`{{ loop.index }}` (0, 1, ...) and `{{ loop.previous.output... }}` (null in the first round),
so each round builds on the last (cursor pagination). Pure functions: safe in workflow code."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agentic.core.actions.transform import JMESPathExpression
from agentic.core.references import PATH, follow_or_null, iter_strings, to_text

LOOP_REFERENCE = re.compile(
    r"\{\{\s*loop\.(?P<what>index|previous(?:\.output(?P<path>" + PATH + r"))?)\s*\}\}"
)
ANY_LOOP_REFERENCE = re.compile(r"\{\{\s*loop\b[^}]*\}\}")


class Repeat(BaseModel):
    """Run the task again until `until` holds, at most `max` rounds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    until: JMESPathExpression = Field(
        description="JMESPath over {output, index, previous} (this round's output, its index "
        "from 0, the last round's output): the loop ends when it is true, e.g. "
        "`output.body.next == null`"
    )
    max: int = Field(
        ge=1,
        le=100_000,
        description="the most rounds; reaching it without `until` holding fails the task "
        "(at most the run's max_items)",
    )

    @model_validator(mode="before")
    @classmethod
    def _max_given(cls, data: Any) -> Any:
        if isinstance(data, dict) and "until" in data and "max" not in data:
            raise ValueError(
                'repeat needs "max", the most rounds it may run: {"until": "...", "max": 50}'
            )
        return data


def loop_references(value: Any) -> Iterator[str]:
    """Every `{{ loop... }}` in a config's strings, as written."""
    for text in iter_strings(value):
        yield from (match.group(0) for match in ANY_LOOP_REFERENCE.finditer(text))


def bad_loop_references(value: Any) -> list[str]:
    """The `{{ loop... }}` references that are neither loop.index nor loop.previous.output."""
    return [ref for ref in loop_references(value) if not LOOP_REFERENCE.fullmatch(ref)]


def _loop_value(match: re.Match[str], index: int, previous: Any) -> Any:
    if match["what"] == "index":
        return index
    return follow_or_null(previous, match["path"] or "")


def resolve_loop(value: Any, index: int, previous: Any) -> Any:
    """`value` with `{{ loop.index }}` and `{{ loop.previous.output... }}` replaced; a path
    into a round that gave nothing (the first round's previous) is null."""
    if isinstance(value, str):
        whole = LOOP_REFERENCE.fullmatch(value.strip())
        if whole:
            return _loop_value(whole, index, previous)
        return LOOP_REFERENCE.sub(lambda m: to_text(_loop_value(m, index, previous)), value)
    if isinstance(value, Mapping):
        return {key: resolve_loop(item, index, previous) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [resolve_loop(item, index, previous) for item in value]
    return value


def until_data(output: Any, index: int, previous: Any) -> dict[str, Any]:
    """What `until` reads."""
    return {"output": output, "index": index, "previous": previous}
