"""Reading JSON out of an LLM's reply, however the model wrapped it."""

from __future__ import annotations

import json
import re
from typing import Any

JSON_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def extract_json(text: str) -> Any:
    """The JSON value in an LLM reply: bare, in ```json fences, or as an object inside prose."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("the reply is empty")
    candidates = [stripped, *(block.strip() for block in JSON_FENCE.findall(text))]
    for candidate in candidates:
        try:
            return json.loads(candidate, strict=False)  # models put raw newlines in strings
        except json.JSONDecodeError:
            pass
    return _first_object(stripped)


def _first_object(text: str) -> dict:
    """The object from the first `{` on (prose after it ignored), else the outermost `{...}`."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0:
        raise ValueError(f"the reply holds no JSON object; it began: {_preview(text)!r}")
    try:
        return json.JSONDecoder(strict=False).raw_decode(text, start)[0]
    except json.JSONDecodeError as error:
        problem = f"{error.msg} at character {error.pos}"
    try:
        return json.loads(text[start : end + 1], strict=False)
    except json.JSONDecodeError:
        raise ValueError(
            f"the reply's JSON object is not valid JSON ({problem}); it began: {_preview(text)!r}"
        ) from None


def _preview(text: str, limit: int = 200) -> str:
    return text[:limit] + ("..." if len(text) > limit else "")
