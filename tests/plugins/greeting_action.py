"""A custom action registered through ACTION_MODULES: it greets someone, loudly if asked."""

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


ACTION = Action(
    action_type="greeting",
    config_model=GreetingConfig,
    description="Greet someone by name (shout: true to shout). Output: {greeting}.",
    run=greet,
    risk=shouting,
    classify_error=classify,
    describe_output=lambda output: output.get("greeting", ""),
)
