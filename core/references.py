"""Memory between tasks: `{{ tasks.<id>.output.path[0] }}` references in action configs.

A string that is exactly one reference becomes the referenced JSON value; a reference inside a
longer string is interpolated as text. Pure functions: safe in workflow code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Set
from typing import Any

# A path into a value: `.key` and `[index]` steps.
PATH = r"(?:\.[A-Za-z0-9_-]+|\[\d+\])*"
REFERENCE = re.compile(
    r"\{\{\s*tasks\.(?P<task>[A-Za-z0-9_-]+)\.output(?P<path>" + PATH + r")\s*\}\}"
)
# A sub-plan's input, inside the child run's plan (see core/subplans.py).
INPUT_REFERENCE = re.compile(
    r"\{\{\s*inputs\.(?P<name>[A-Za-z0-9_-]+)(?P<path>" + PATH + r")\s*\}\}"
)
PATH_STEP = re.compile(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]")


class UnresolvedReference(ValueError):
    """A reference that cannot be resolved from the outputs of completed tasks."""


def iter_strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON-like value, keys excluded."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from iter_strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from iter_strings(item)


def referenced_tasks(value: Any) -> set[str]:
    """The ids of the tasks whose outputs `value` refers to."""
    return {match["task"] for text in iter_strings(value) for match in REFERENCE.finditer(text)}


def _follow(value: Any, path: str, reference: str) -> Any:
    for match in PATH_STEP.finditer(path):
        key, index = match.group(1), match.group(2)
        if key is not None and isinstance(value, Mapping) and key in value:
            value = value[key]
        elif index is not None and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        elif key is not None and key.isdigit() and isinstance(value, list):
            value = _follow(value, f"[{key}]", reference)
        else:
            step = match.group(0)
            raise UnresolvedReference(f"{reference}: {step!r} not found in {_describe(value)}")
    return value


def follow_or_null(value: Any, path: str) -> Any:
    """The value at `path`, or null where a step finds nothing."""
    try:
        return _follow(value, path, path)
    except UnresolvedReference:
        return None


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return f"an object with keys {sorted(value)[:20]}"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    return f"a {type(value).__name__}"


def _lookup(match: re.Match[str], outputs: Mapping[str, Any], absent: Set[str]) -> Any:
    task_id = match["task"]
    if task_id in absent:
        return None
    if task_id not in outputs:
        raise UnresolvedReference(
            f"{match.group(0)}: task {task_id!r} has no output (not completed)"
        )
    return _follow(outputs[task_id], match["path"], match.group(0))


def to_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _resolve_string(text: str, outputs: Mapping[str, Any], absent: Set[str]) -> Any:
    whole = REFERENCE.fullmatch(text.strip())
    if whole:
        return _lookup(whole, outputs, absent)
    return REFERENCE.sub(lambda match: to_text(_lookup(match, outputs, absent)), text)


def resolve_absent(value: Any, absent: Set[str]) -> Any:
    """`value` with only the references to tasks in `absent` (skipped by their condition)
    replaced by null; the others stay, for an activity to resolve from outputs it loads."""
    if isinstance(value, str):
        whole = REFERENCE.fullmatch(value.strip())
        if whole and whole["task"] in absent:
            return None
        return REFERENCE.sub(lambda match: "null" if match["task"] in absent else match[0], value)
    if isinstance(value, Mapping):
        return {key: resolve_absent(item, absent) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [resolve_absent(item, absent) for item in value]
    return value


def resolve(value: Any, outputs: Mapping[str, Any], absent: Set[str] = frozenset()) -> Any:
    """`value` with every reference replaced from `outputs` (task id -> output). A reference
    to a task in `absent` (skipped by its condition), whatever its path, is null."""
    if isinstance(value, str):
        return _resolve_string(value, outputs, absent)
    if isinstance(value, Mapping):
        return {key: resolve(item, outputs, absent) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(item, outputs, absent) for item in value]
    return value


def fill_matches(
    value: Any, pattern: re.Pattern[str], resolve: Callable[[re.Match[str]], Any]
) -> Any:
    """`value` with each match of `pattern` in its strings replaced by `resolve(match)`: a
    string that is exactly one match becomes the value itself, else it is interpolated as
    text (sub-plans' `{{ inputs... }}`, templates' `{{ params... }}`)."""
    if isinstance(value, str):
        whole = pattern.fullmatch(value.strip())
        if whole:
            return resolve(whole)
        return pattern.sub(lambda match: to_text(resolve(match)), value)
    if isinstance(value, Mapping):
        return {key: fill_matches(entry, pattern, resolve) for key, entry in value.items()}
    if isinstance(value, list | tuple):
        return [fill_matches(entry, pattern, resolve) for entry in value]
    return value
