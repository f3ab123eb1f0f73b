"""Secrets in plans: a config names a secret as `{{ secrets.NAME }}`, never holds it. The value
is put in by the activity at the last moment (activities/secrets.py), so it never reaches the
plan, the history, the result, the logs, the Web UI or an LLM.

Also here: what looks secret in data sent to the analyst or written to logs, and its
redaction. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agentic.core.references import iter_strings

SECRET_REFERENCE = re.compile(r"\{\{\s*secrets\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
SECRET_KEY = re.compile(
    r"authorization|cookie|token|password|passwd|secret|api[_-]?key|credential|private[_-]?key",
    re.IGNORECASE,
)
REDACTED = "[redacted]"


def secret_names(value: Any) -> set[str]:
    """The names of the secrets a JSON-like value refers to."""
    return {
        match["name"] for text in iter_strings(value) for match in SECRET_REFERENCE.finditer(text)
    }


def secret_reference_count(value: Any) -> int:
    """How many secret references a JSON-like value holds."""
    return sum(len(SECRET_REFERENCE.findall(text)) for text in iter_strings(value))


def redacted(value: Any) -> Any:
    """`value` with the values of keys that look secret (Authorization, Cookie, token,
    password, api_key, ...) replaced, at any depth; a `{{ secrets.NAME }}` reference holds no
    secret and stays."""
    if isinstance(value, Mapping):
        return {key: _redacted_item(str(key), item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redacted(item) for item in value]
    return value


def _redacted_item(key: str, item: Any) -> Any:
    if not SECRET_KEY.search(key) or (isinstance(item, str) and SECRET_REFERENCE.fullmatch(item)):
        return redacted(item)
    return REDACTED


def unredacted(value: Any, original: Any) -> Any:
    """`value` (a config written from a redacted one) with each `[redacted]` put back to what
    `original` held at the same place."""
    if value == REDACTED:
        return original
    if isinstance(value, Mapping) and isinstance(original, Mapping):
        return {key: unredacted(item, original.get(key)) for key, item in value.items()}
    if isinstance(value, list) and isinstance(original, list):
        return [
            unredacted(item, original[index] if index < len(original) else None)
            for index, item in enumerate(value)
        ]
    return value
