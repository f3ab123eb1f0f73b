"""The built-in actions with their runners: what every worker registers."""

from __future__ import annotations

from agentic.activities import files, http, poll, postgres, transform
from agentic.core.actions import ask, wait
from agentic.core.actions.base import Action

BUILTIN_ACTIONS: list[Action] = [
    http.ACTION,
    postgres.ACTION,
    files.ACTION,
    transform.ACTION,
    poll.ACTION,
    Action.of(wait.SPEC, run=None),  # a durable timer in the workflow
    Action.of(ask.SPEC, run=None),  # a question: the workflow waits for the answer
]
