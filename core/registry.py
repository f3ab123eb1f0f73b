"""The action types a plan may use: the built-in ones, and those that plug-ins register."""

from __future__ import annotations

from collections.abc import Iterator

from agentic.core.actions import ask, files, http, poll, postgres, subplan, transform, wait
from agentic.core.actions.base import ActionSpec


class ActionRegistry:
    """Action specs by type. Every worker (and client) of a task queue must register the same
    action types: the workflow validates plans and decides risks from this registry."""

    def __init__(self, specs: list[ActionSpec]) -> None:
        self._specs: dict[str, ActionSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: ActionSpec) -> None:
        """Add an action type; a different spec under a name already taken is refused (the
        same spec again, or its `Action` with a runner, is fine)."""
        existing = self._specs.get(spec.action_type)
        if existing is not None and not existing.describes_same(spec):
            raise ValueError(
                f"action type {spec.action_type!r} is already registered "
                f"(by {existing.config_model.__module__}); choose another name"
            )
        self._specs[spec.action_type] = spec

    def get(self, action_type: str) -> ActionSpec | None:
        """The spec of `action_type`, or None."""
        return self._specs.get(action_type)

    def __getitem__(self, action_type: str) -> ActionSpec:
        return self._specs[action_type]

    def __contains__(self, action_type: object) -> bool:
        return action_type in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._specs))

    def __len__(self) -> int:
        return len(self._specs)

    def specs(self) -> list[ActionSpec]:
        """Every spec, sorted by action type."""
        return [self._specs[action_type] for action_type in self]


BUILTIN_SPECS = [
    http.SPEC, postgres.SPEC, files.SPEC, transform.SPEC, wait.SPEC, poll.SPEC, subplan.SPEC,
    ask.SPEC,
]  # fmt: skip
ACTIONS = ActionRegistry(BUILTIN_SPECS)
