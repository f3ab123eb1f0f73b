"""Custom actions registered through ACTION_MODULES: one greets someone, loudly if asked; the
other has a risk rule and an output summary that fail, as a plug-in's bugs would."""

from __future__ import annotations

from typing import Any

from agentic import Action, ActionConfig, ActionContext, ActionError, ErrorType


class GreetingConfig(ActionConfig):
    """Who to greet, and whether to shout."""

    name: str
    shout: bool = False


async def greet(config: GreetingConfig, ctx: ActionContext) -> dict[str, Any]:
    """Build the greeting; an empty name is a ValueError, which `classify` turns into an
    error that no retry can fix."""
    if not config.name.strip():
        raise ValueError("nobody to greet")
    text = f"Hello, {config.name}!"
    return {"greeting": text.upper() if config.shout else text}


def shouting(config: GreetingConfig) -> str:
    """Shouting at someone needs a person's approval."""
    return f"shouts at {config.name}" if config.shout else ""


def classify(error: Exception) -> ActionError | None:
    if isinstance(error, ValueError):
        return ActionError(str(error), ErrorType.INVALID_INPUT, retryable=False)
    return None


GREETING = Action(
    action_type="greeting",
    config_model=GreetingConfig,
    description="Greet someone by name (shout: true to shout). Output: {greeting}.",
    run=greet,
    risk=shouting,
    classify_error=classify,
    describe_output=lambda output: output.get("greeting", ""),
)


class EchoConfig(ActionConfig):
    """Anything to echo back."""

    text: str


async def echo(config: EchoConfig, ctx: ActionContext) -> dict[str, Any]:
    return {"echo": config.text}


def broken_rule(config: EchoConfig) -> str:
    raise KeyError("a bug in the plug-in's risk rule")


FRAGILE = Action(
    action_type="fragile_echo",
    config_model=EchoConfig,
    description="Echo a text (its risk rule and output summary are buggy, on purpose).",
    run=echo,
    risk=broken_rule,
    describe_output=lambda output: output["missing"],
)

ACTIONS = [GREETING, FRAGILE]
