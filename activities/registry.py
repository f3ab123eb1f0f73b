"""The action registry: one entry per action type. Adding an action: one module, one line here."""

from __future__ import annotations

from activities import files, http, poll, postgres, transform, wait
from activities.base import ActionSpec

ACTIONS: dict[str, ActionSpec] = {
    spec.action_type: spec
    for spec in (http.SPEC, postgres.SPEC, files.SPEC, transform.SPEC, wait.SPEC, poll.SPEC)
}
