"""Conditions: a task's `when`, a JMESPath expression over the outputs of the tasks upstream of
it (`tasks.check.output.body.changed`). False (JMESPath falsy: false, null, "", [], {}) skips
the task, which is not an error: tasks downstream of it still run, and a reference to its
output is null. Pure functions: safe in workflow code."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import jmespath

CONDITION_FALSE = "condition false"


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for child in node.get("children", []):
            yield from _nodes(child)


def _is_field(node: dict[str, Any], name: str) -> bool:
    return node.get("type") == "field" and node.get("value") == name


def condition_tasks(expression: str) -> set[str]:
    """The ids of the tasks a (valid) condition names: `tasks.<id>` and `tasks."<id>"`."""
    parsed = jmespath.compile(expression).parsed
    named = set()
    for node in _nodes(parsed):
        children = node.get("children", [])
        if node.get("type") == "subexpression" and len(children) >= 2:
            first, second = children[:2]
            if _is_field(first, "tasks") and second.get("type") == "field":
                named.add(second["value"])
    return named


def condition_data(outputs: Mapping[str, Any], upstream: Iterable[str]) -> dict[str, Any]:
    """What a condition reads: `{"tasks": {id: {"output": ...}}}` for the upstream tasks
    (null for one skipped by its own condition)."""
    return {"tasks": {task_id: {"output": outputs.get(task_id)} for task_id in sorted(upstream)}}


def is_true(value: Any) -> bool:
    """JMESPath truthiness: false, null and empty strings, lists and objects are false; every
    number, 0 included, is true."""
    if value is None or value is False:
        return False
    return not (isinstance(value, str | list | dict) and len(value) == 0)


def condition_holds(expression: str, data: Mapping[str, Any]) -> bool:
    """Whether the condition is true over `data` (see condition_data)."""
    return is_true(jmespath.search(expression, data))
