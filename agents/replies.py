"""Reading JSON out of an LLM's reply, however the model wrapped it."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

from agentic.agents.client import JSONRequest, LLMClient
from agentic.agents.errors import LLMError
from agentic.core.errors import ErrorType
from agentic.core.messages import LLMCall, TokenUsage

Parsed = TypeVar("Parsed")

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


def reply_object(text: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The JSON object in an LLM reply, or None and why there is none (never raises)."""
    try:
        data = extract_json(text)
    except ValueError as error:
        return None, [str(error)]
    if not isinstance(data, dict):
        return None, [f"the reply is a JSON {type(data).__name__}, not an object"]
    return data, []


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


async def reply_with_repair(
    client: LLMClient,
    request: JSONRequest,
    parse: Callable[[str], Awaitable[tuple[Parsed | None, list[str]]]],
    failure: Callable[[list[str]], str],
    error_type: ErrorType,
    attempt: int = 1,
) -> tuple[Parsed, TokenUsage, list[LLMCall]]:
    """One call, and one repair call (the rejected reply and its errors) when `parse` finds no
    valid answer in the reply. Raises `LLMError` (non-retryable, with the tokens spent and the
    message `failure(errors)`) when there is still none."""
    usage, calls = TokenUsage(), list[LLMCall]()
    errors: list[str] = []
    for round_number in (1, 2):
        try:
            reply = await client.complete_json(request, attempt)
        except LLMError as error:
            raise error.spent(usage, calls) from None
        usage, calls = usage.plus(reply.usage), [*calls, reply.call]
        parsed, errors = await parse(reply.text)
        if parsed is not None:
            return parsed, usage, calls
        if round_number == 1:
            request = replace(
                request, messages=repair_messages(request.messages, reply.text, errors)
            )
    raise LLMError(failure(errors), error_type, retryable=False, usage=usage, calls=calls)


def repair_messages(messages: list[dict], previous_reply: str, errors: list[str]) -> list[dict]:
    """`messages` followed by the rejected reply and a request to correct it."""
    problems = "\n".join(f"- {error}" for error in errors) or "- (no details)"
    correction = f"That reply is not valid:\n{problems}\n\nAnswer with a corrected JSON object."
    return [
        *messages,
        {"role": "assistant", "content": previous_reply},
        {"role": "user", "content": correction},
    ]
