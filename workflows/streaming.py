"""Streaming dispatch, as pure functions: which streamed tasks a repaired plan keeps, and what
the result says of them. No Temporal calls here."""

from __future__ import annotations

from agentic.core.plan import Plan


def kept_streamed(completed: list[str], streamed: Plan | None, plan: Plan) -> frozenset[str]:
    """The streamed tasks that completed and are in the repaired plan as they ran."""
    if streamed is None:
        return frozenset()
    return frozenset(t for t in completed if plan.by_id.get(t) == streamed.by_id[t])


def streamed_plan_note(
    streamed: list[str], completed: list[str], repaired: Plan | None, streamed_plan: Plan | None
) -> str:
    """What became of the streamed tasks when the whole streamed plan was not valid."""
    if not streamed:
        return "the streamed plan was not valid; no task of it had started"
    note = f"the streamed plan was not valid: {len(streamed)} tasks had arrived"
    if not completed:
        return note + "; none had completed (those running were cancelled)"
    kept = kept_streamed(completed, streamed_plan, repaired) if repaired else frozenset()
    lost = [t for t in completed if t not in kept]
    note += f"; completed before the repair: {', '.join(completed)}"
    if kept:
        note += f" (kept as completed in the repaired plan: {', '.join(sorted(kept))})"
    if lost:
        note += f"; not in the repaired plan, their effects stay: {', '.join(lost)}"
    return note
