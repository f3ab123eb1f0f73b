"""CPU work of actions (parsing, transforming, encoding large values) off the event loop, one
piece at a time.

The worker's event loop runs every action and sends their heartbeats; a heartbeat late by more
than the heartbeat timeout gets a live attempt retried. A large JSON parse holds the GIL for a
while: run on the loop, it stops every other action's heartbeats; run in several threads at
once, the threads hand the GIL to each other and the loop waits its turn behind all of them.
One thread at a time leaves the loop a turn between pieces. Small work (a response of a few
kilobytes) is done on the loop at once: a thread hop, and a wait behind larger work, would
cost more than the work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

Result = TypeVar("Result")
_lane: asyncio.Semaphore | None = None
# Work on this many bytes or fewer takes well under a millisecond: done on the event loop.
INLINE_MAX_BYTES = 16 * 1024


async def compute(function: Callable[..., Result], *args: Any, size: int | None = None) -> Result:
    """`function(*args)` in a worker thread, after the CPU work queued before it; at once, on
    the event loop, when `size` (the bytes it works on) is at most INLINE_MAX_BYTES."""
    if size is not None and size <= INLINE_MAX_BYTES:
        return function(*args)
    global _lane
    if _lane is None:
        _lane = asyncio.Semaphore(1)
    async with _lane:
        return await asyncio.to_thread(function, *args)


def rough_size(value: Any, limit: int = INLINE_MAX_BYTES) -> int:
    """About how many bytes `value` takes as JSON (its strings' lengths, and a few bytes for
    everything else), counted only up to just over `limit`: a quick look at whether it is
    small."""
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            total += 2 + len(item)
            stack.extend(item)
        else:
            total += 8
    return total
