"""The action types a plan may use: the built-in ones, and those that plug-ins register."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextvars import ContextVar

from agentic.core.actions import ask, files, http, poll, postgres, subplan, transform, wait
from agentic.core.actions.base import ActionSpec
from agentic.core.mcp import ToolRisk
from agentic.core.schema_configs import SchemaConfig, schema_config_model

# True while payloads Temporal stored are decoded (agentic/runtime.py): a plan there was
# checked when it was made, and may use a tool (an MCP server's, an OpenAPI service's) that
# this process cannot reach now; reading it must not need the tool.
DECODING_STORED: ContextVar[bool] = ContextVar("decoding_stored", default=False)


class ToolNotHereConfig(SchemaConfig):
    """The config of a tool not known in this process, kept as it was given."""


def not_here_spec(action_type: str) -> ActionSpec:
    """The spec that stands in for a tool not known here (its server could not be reached
    when this process found the tools): any config; a task of it waits for approval in mode
    risky; its activity is not registered here, so an attempt fails and is retried until a
    worker that has the tool takes it."""
    return ActionSpec(
        action_type=action_type,
        config_model=schema_config_model(ToolNotHereConfig, action_type, {}),
        description=f"{action_type}: a tool not found in this process",
        risk=ToolRisk(f"{action_type} is not known here (its server was not found), so not "
                      "known to be read-only"),
    )  # fmt: skip


class ActionRegistry:
    """Action specs by type. Every worker (and client) of a task queue must register the same
    action types: the workflow validates plans and decides risks from this registry."""

    def __init__(self, specs: list[ActionSpec]) -> None:
        self._specs: dict[str, ActionSpec] = {}
        self._loaders: dict[str, Callable[[list[str]], list[ActionSpec]]] = {}
        self._unavailable: dict[str, str] = {}
        for spec in specs:
            self.register(spec)

    def add_loader(
        self, prefixes: list[str], loader: Callable[[list[str]], list[ActionSpec]]
    ) -> None:
        """Action types registered only when first needed. Each prefix is one source's (an
        MCP server's `mcp.<server>.`, an OpenAPI service's `<service>.`): when a type under it
        is not found, `loader` is asked for that prefix's types; when every type is listed,
        for every prefix not loaded yet at once. The CLI finds the tools this way: a command
        starts only the MCP servers (reads only the OpenAPI documents) whose types it meets,
        and reading a run starts none."""
        for prefix in prefixes:
            self._loaders[prefix] = loader

    def mark_unavailable(self, prefix: str, reason: str) -> None:
        """Note why the action types under `prefix` (an MCP server's `mcp.<server>.`) could not
        be found, for the error of a plan that uses one."""
        self._unavailable[prefix] = reason

    def unavailable(self) -> dict[str, str]:
        """Why each prefix found unreachable so far could not be reached."""
        return dict(self._unavailable)

    def unavailable_reason(self, action_type: str) -> str | None:
        """Why `action_type`'s source could not be reached, if it could not."""
        self._find(action_type)
        for prefix, reason in self._unavailable.items():
            if action_type.startswith(prefix):
                return reason
        return None

    def _load(self, action_type: str | None = None) -> None:
        """Load the prefixes `action_type` is under (every prefix for None), each once."""
        due: dict[Callable[[list[str]], list[ActionSpec]], list[str]] = {}
        for prefix in list(self._loaders):
            if action_type is None or action_type.startswith(prefix):
                due.setdefault(self._loaders.pop(prefix), []).append(prefix)
        for loader, prefixes in due.items():
            for spec in loader(prefixes):
                self.register(spec)

    def _find(self, action_type: object) -> ActionSpec | None:
        if not isinstance(action_type, str):
            return None
        spec = self._specs.get(action_type)
        if spec is None and self._loaders:
            self._load(action_type)
            spec = self._specs.get(action_type)
        return spec

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

    def get(self, action_type: str, *, load: bool = True) -> ActionSpec | None:
        """The spec of `action_type`, or None; `load=False` looks only at the types found
        so far (no MCP server is started to find more)."""
        return self._find(action_type) if load else self._specs.get(action_type)

    def __getitem__(self, action_type: str) -> ActionSpec:
        """The spec of a task's action type: a tool of a plan made elsewhere that is not
        known here gets a stand-in (`not_here_spec`)."""
        spec = self._find(action_type)
        if spec is None:
            if "." not in action_type:
                raise KeyError(action_type)
            return not_here_spec(action_type)
        return spec

    def __contains__(self, action_type: object) -> bool:
        return self._find(action_type) is not None

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(sorted(self._specs))

    def __len__(self) -> int:
        self._load()
        return len(self._specs)

    def found(self) -> list[str]:
        """The action types found so far, sorted (no loader runs: no MCP server starts)."""
        return sorted(self._specs)

    def specs(self) -> list[ActionSpec]:
        """Every spec, sorted by action type."""
        return [self._specs[action_type] for action_type in self]


BUILTIN_SPECS = [
    http.SPEC, postgres.SPEC, files.SPEC, transform.SPEC, wait.SPEC, poll.SPEC, subplan.SPEC,
    ask.SPEC,
]  # fmt: skip
ACTIONS = ActionRegistry(BUILTIN_SPECS)
