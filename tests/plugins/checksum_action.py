"""A custom action registered through an entry point: the SHA-256 of a text."""

from __future__ import annotations

import hashlib
from typing import Any

from agentic import Action, ActionConfig, ActionContext


class ChecksumConfig(ActionConfig):
    """The text to hash."""

    text: str


async def checksum(config: ChecksumConfig, ctx: ActionContext) -> dict[str, Any]:
    """The hex SHA-256 of the UTF-8 text."""
    return {"sha256": hashlib.sha256(config.text.encode()).hexdigest()}


ACTION = Action(
    action_type="checksum",
    config_model=ChecksumConfig,
    description="SHA-256 of a text. Output: {sha256}.",
    run=checksum,
)
