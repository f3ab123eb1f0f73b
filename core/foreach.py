"""For-each: a task whose `for_each` yields a list runs its action once per item. Its config may
use `{{ item }}`, `{{ item.<path> }}` and `{{ index }}`; item `i` is the task `<id>[i]`, with
its own status, attempts, approval and failure analysis. Pure functions: safe in workflow code.

When `for_each` refers to an upstream output (`{{ tasks.users.output.body }}`), each item's
`{{ item.x }}` becomes a reference to that output's i-th element
(`{{ tasks.users.output.body[i].x }}`), resolved like any other: by the workflow, or by the
item's activity when the list is kept in the blob store (the workflow never loads it)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agentic.core.references import PATH, REFERENCE, follow_or_null, iter_strings, to_text

# The activities that keep a large for-each's ended items in the blob store (activities/items.py).
ARCHIVE_ITEMS = "archive_items"
JOIN_ITEMS = "join_items"
ITEM_REFERENCE = re.compile(r"\{\{\s*item(?P<path>" + PATH + r")\s*\}\}")
INDEX_REFERENCE = re.compile(r"\{\{\s*index\s*\}\}")
ANY_ITEM_REFERENCE = re.compile(r"\{\{\s*(?:item|index)\b[^}]*\}\}")
ITEM_ID = re.compile(r"^(?P<task>[A-Za-z0-9_-]+)\[(?P<index>\d+)\]$")


def item_id(task_id: str, index: int) -> str:
    """`orders[17]`: how an item is named in status, approvals and the history."""
    return f"{task_id}[{index}]"


def item_index(task_id: str) -> int:
    """`orders[17]` -> 17 (-1 for a task that is no item)."""
    match = ITEM_ID.match(task_id)
    return int(match["index"]) if match else -1


def parent_of(task_id: str) -> str | None:
    """The for-each task an item id belongs to (`orders` for `orders[17]`), else None."""
    match = ITEM_ID.match(task_id)
    return match["task"] if match else None


def item_references(value: Any) -> list[str]:
    """Every `{{ item... }}` and `{{ index }}` in a config's strings, as written."""
    return [m.group(0) for text in iter_strings(value) for m in ANY_ITEM_REFERENCE.finditer(text)]


def bad_item_references(value: Any) -> list[str]:
    """The item references that are neither `{{ item<path> }}` nor `{{ index }}`."""
    return [
        ref
        for ref in item_references(value)
        if not (ITEM_REFERENCE.fullmatch(ref) or INDEX_REFERENCE.fullmatch(ref))
    ]


def source_reference(for_each: Any) -> re.Match[str] | None:
    """The task reference a `for_each` string is (None for a literal list)."""
    return REFERENCE.fullmatch(for_each.strip()) if isinstance(for_each, str) else None


def _fill(text: str, item: Any, index: int, source: re.Match[str] | None) -> Any:
    def item_value(match: re.Match[str]) -> Any:
        if source is not None:  # stays a reference, to the list's i-th element
            return (
                "{{ tasks." + source["task"] + ".output" + source["path"]
                + f"[{index}]" + match["path"] + " }}"
            )  # fmt: skip
        return follow_or_null(item, match["path"])

    whole = ITEM_REFERENCE.fullmatch(text.strip())
    if whole:
        return item_value(whole)
    if INDEX_REFERENCE.fullmatch(text.strip()):
        return index
    text = INDEX_REFERENCE.sub(str(index), text)
    if source is not None:
        return ITEM_REFERENCE.sub(item_value, text)
    return ITEM_REFERENCE.sub(lambda match: to_text(item_value(match)), text)


def item_config(config: Any, for_each: Any, index: int) -> Any:
    """The config of item `index`: `{{ index }}` filled, and `{{ item... }}` filled from a
    literal list or turned into a reference to the source output's element."""
    source = source_reference(for_each)
    item = None if source is not None else for_each[index]
    return _filled(config, item, index, source)


def _filled(value: Any, item: Any, index: int, source: re.Match[str] | None) -> Any:
    if isinstance(value, str):
        return _fill(value, item, index, source)
    if isinstance(value, Mapping):
        return {key: _filled(entry, item, index, source) for key, entry in value.items()}
    if isinstance(value, list | tuple):
        return [_filled(entry, item, index, source) for entry in value]
    return value


def allowed_failures(max_failures: float, count: int) -> int:
    """How many of `count` items may fail with the task still completing: a count, or a
    fraction of the items (0 < max_failures < 1)."""
    if 0 < max_failures < 1:
        return int(max_failures * count)
    return int(max_failures)


def describe_items(counts: Mapping[str, int], total: int) -> str:
    """`812/1000 completed, 16 running, 2 failed`: a for-each's items in one line."""
    others = [f"{n} {status}" for status, n in counts.items() if status != "completed" and n]
    return ", ".join([f"{counts.get('completed', 0)}/{total} completed", *others])
