"""Claim checks: an output too large for Temporal's history is kept in a blob store, and the
history holds a small reference to it, `{"$blob": {"key", "size", "content_type", "sha256"}}`.

Pure: the workflow recognises references (it never loads what they point to); the worker's
activities store and load the values (activities/blobs.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field, ValidationError

BLOB_MARKER = "$blob"
# Temporal refuses payloads over 2 MB; what goes into the history must stay well under it.
HISTORY_PAYLOAD_LIMIT_BYTES = 1_800_000
JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"


class BlobRef(BaseModel):
    """Where a large value is kept, and how to check it is the value that was stored."""

    key: str = Field(description="the value's key in the blob store: <run>/<sha256>")
    size: int = Field(description="bytes stored")
    content_type: str = JSON_TYPE
    sha256: str

    def as_value(self) -> dict[str, Any]:
        """The reference as it stands in an output, in place of the value."""
        return {BLOB_MARKER: self.model_dump()}

    def describe(self) -> str:
        """One line for people: how big, what kind, where."""
        kind = "text" if self.content_type.startswith("text/") else "JSON"
        return f"{human_size(self.size)} of {kind} in the blob store (sha256 {self.sha256[:12]})"


def blob_ref(value: Any) -> BlobRef | None:
    """The reference `value` is, or None when it is an ordinary value."""
    if not isinstance(value, Mapping) or len(value) != 1 or BLOB_MARKER not in value:
        return None
    try:
        return BlobRef.model_validate(value[BLOB_MARKER])
    except ValidationError:
        return None


def blob_refs(output: Any) -> list[BlobRef]:
    """The references in an output. The engine stores a whole output or some of its top-level
    fields (see activities.blobs.Blobs.offload), so only those are looked at: an output of
    thousands of records is not walked (holds_blobs runs in the workflow, for each reference
    to an output)."""
    whole = blob_ref(output)
    if whole is not None:
        return [whole]
    fields = output.values() if isinstance(output, Mapping) else ()
    return [ref for ref in map(blob_ref, fields) if ref is not None]


def holds_blobs(output: Any) -> bool:
    """True when some part of an output is kept in the blob store."""
    return bool(blob_refs(output))


def encoded(value: Any) -> tuple[bytes, str]:
    """A value as stored: text as UTF-8, anything else as compact JSON; and its content type."""
    if isinstance(value, str):
        return value.encode(), TEXT_TYPE
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return text.encode(), JSON_TYPE


def decoded(data: bytes, content_type: str) -> Any:
    """The value `encoded` stored."""
    text = data.decode()
    return text if content_type.startswith("text/") else json.loads(text)


def encoded_size(value: Any) -> int:
    """How many bytes `value` takes as JSON (about what it takes in the history)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())


def human_size(size: int) -> str:
    """1536 -> '1.5 KB'."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"
