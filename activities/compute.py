"""CPU work of actions (parsing, transforming, encoding large values) off the event loop, one
piece at a time.

The worker's event loop runs every action and sends their heartbeats; a heartbeat late by more
than the heartbeat timeout gets a live attempt retried. A large JSON parse holds the GIL for a
while: run on the loop, it stops every other action's heartbeats; run in several threads at
once, the threads hand the GIL to each other and the loop waits its turn behind all of them.
One thread at a time leaves the loop a turn between pieces.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

Result = TypeVar("Result")
_lane: asyncio.Semaphore | None = None


async def compute(function: Callable[..., Result], *args: Any) -> Result:
    """`function(*args)` in a worker thread, after the CPU work queued before it."""
    global _lane
    if _lane is None:
        _lane = asyncio.Semaphore(1)
    async with _lane:
        return await asyncio.to_thread(function, *args)
