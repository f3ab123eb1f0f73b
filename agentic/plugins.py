"""Custom actions, registered without editing this project.

A plug-in is a module that defines `ACTION` (an `agentic.Action`) or `ACTIONS` (a list of
them). It is found two ways:

- an entry point in the group `agentic.actions` of an installed package's metadata, whose
  value names the module (`my_pkg.slack`) or the object (`my_pkg.slack:ACTION`);
- the setting ACTION_MODULES, a comma-separated list of module names.

The worker, the CLI and the replayer load the same plug-ins, so plans that use them validate
everywhere, and the planner and the analyst are told about them.
"""

from __future__ import annotations

import importlib
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

from agentic.core.actions.base import Action
from agentic.core.registry import ACTIONS
from agentic.errors import PluginError
from agentic.settings import Settings

ENTRY_POINT_GROUP = "agentic.actions"


def load_actions(settings: Settings) -> list[Action]:
    """The actions of every plug-in (entry points, then ACTION_MODULES), each once."""
    found: dict[int, Action] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        for action in _from_entry_point(entry_point):
            found.setdefault(id(action), action)
    for module_name in settings.action_module_names:
        for action in _actions_in(_import(module_name, "ACTION_MODULES"), module_name):
            found.setdefault(id(action), action)
    return list(found.values())


def register_actions(actions: list[Action]) -> None:
    """Make the actions known to plan validation, the planner, the analyst and the workflow."""
    for action in actions:
        try:
            ACTIONS.register(action)
        except ValueError as error:
            raise PluginError(f"action {action.action_type!r}: {error}") from None


def load_plugins(settings: Settings) -> list[Action]:
    """Load and register the plug-ins; their actions."""
    actions = load_actions(settings)
    register_actions(actions)
    return actions


def _from_entry_point(entry_point: EntryPoint) -> list[Action]:
    where = f"entry point {entry_point.name!r} ({entry_point.value}) of group {ENTRY_POINT_GROUP}"
    try:
        loaded = entry_point.load()
    except Exception as error:
        raise PluginError(f"cannot load the action plug-in {where}: {_reason(error)}") from None
    if isinstance(loaded, ModuleType):
        return _actions_in(loaded, where)
    return _checked(loaded, where)


def _import(module_name: str, source: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except Exception as error:
        raise PluginError(
            f"cannot import the action plug-in {module_name!r} named by {source}: {_reason(error)}"
        ) from None


def _actions_in(module: ModuleType, where: str) -> list[Action]:
    if hasattr(module, "ACTIONS"):
        return _checked(module.ACTIONS, f"{where}: ACTIONS")
    if hasattr(module, "ACTION"):
        return _checked(module.ACTION, f"{where}: ACTION")
    raise PluginError(
        f"the action plug-in {where} defines neither ACTION (an agentic.Action) nor ACTIONS "
        "(a list of them)"
    )


def _checked(value: Any, where: str) -> list[Action]:
    actions = value if isinstance(value, list | tuple) else [value]
    for action in actions:
        if not isinstance(action, Action):
            raise PluginError(
                f"the action plug-in {where} gives a {type(action).__name__}, not an agentic.Action"
            )
        if action.run is None:
            raise PluginError(f"action {action.action_type!r} from {where} has no run function")
    return list(actions)


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"
