"""What every action type declares: its config model, how it runs, its risk rule, how its output
reads to people. An `ActionSpec` is pure (the workflow, the planner and the CLI use it); an
`Action` adds the function that runs it, for the worker."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field

from agentic.core.blobs import blob_ref
from agentic.core.errors import ActionError

PREVIEW_CHARS = 80


class ActionConfig(BaseModel):
    """Base of every action's config: unknown fields are errors, so typos never pass silently."""

    # A field's docstring is its description: in the planner's schema and the Actions reference.
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        serialize_by_alias=True,
        use_attribute_docstrings=True,
    )

    # Fields whose text belongs to another run (a sub-plan's own plan): this run's references,
    # items and loop references are neither checked nor filled inside them.
    sealed_fields: ClassVar[frozenset[str]] = frozenset()

    def attempt_timeout_seconds(self) -> float | None:
        """How long one attempt may take (start-to-close); None: the action's default."""
        return None

    def child_plan(self) -> dict[str, Any] | None:
        """The inline plan this config runs as a child run (a sub-plan's), else None."""
        return None

    def open_part(self) -> dict[str, Any]:
        """The config as JSON without its sealed fields: what this run's references may fill."""
        return self.model_dump(by_alias=True, mode="json", exclude=set(self.sealed_fields))

    def with_sealed(self, opened: dict[str, Any]) -> dict[str, Any]:
        """`opened` (this config's open part, filled) with this config's sealed fields again."""
        sealed = self.model_dump(by_alias=True, mode="json", include=set(self.sealed_fields))
        return {**opened, **sealed}


class TimedActionConfig(ActionConfig):
    """A config with its own `timeout` in seconds (a request, a query)."""

    timeout: float = Field(30.0, gt=0, le=3600)
    """Seconds one attempt may take."""

    def attempt_timeout_seconds(self) -> float | None:
        """The action's own timeout, plus a margin for the worker."""
        return self.timeout + 30


class Execution(StrEnum):
    """How a task of this action type runs."""

    ACTIVITY = "activity"
    """One activity, retried by the task's retry policy."""
    TIMER = "timer"
    """A durable timer in the workflow itself (the config is a `TimerConfig`); no activity."""
    POLL = "poll"
    """One activity per check, durable timers in between, until the check says done (the
    config is a `PollingConfig`; the activity returns `{"done": bool, "response": ...}`)."""
    CHILD_RUN = "child_run"
    """A child run of the engine's own workflow (the config is a `ChildRunConfig`): its own
    history, the parent's approval mode and network policy, budgets from what the parent has
    left; its output is the child's task outputs by task id."""
    QUESTION = "question"
    """A question to a person: the workflow waits (a durable condition with a timeout, no
    activity, no execution slot) for the `answer` Update (the config is an `AskConfig`); its
    output is the answer."""


class ChildRunConfig(Protocol):
    """The config of an action that runs as a child run."""

    plan: dict[str, Any] | None
    goal: str | None
    inputs: dict[str, Any]
    template: str | None


class TimerConfig(Protocol):
    """The config of an action that runs as a timer."""

    seconds: float


class PollingConfig(Protocol):
    """The config of an action that runs as a poll loop."""

    until: str
    interval: float
    timeout: float


@dataclass(frozen=True)
class RiskCheck:
    """A risk that depends on the world, checked just before the task runs: the action
    `action_type` with `config` runs first, and when its output's `flag` is true the task
    waits for approval (mode `risky`) because of `reason`. `condition` says when that is (for
    `start`'s preview), `question` what the check asks (its activity's summary)."""

    action_type: str
    config: ActionConfig
    flag: str
    reason: str
    condition: str
    question: str
    activity_suffix: str = "check"


def counted(number: int, noun: str) -> str:
    """`3 rows`, `1 row`: a count with its noun, plural unless it is one."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """A value as one short line of text (JSON unless it is text), cut with "...";
    a list says how many items it holds; a value kept in the blob store, how large it is."""
    stored = blob_ref(value)
    if stored is not None:
        return stored.describe()
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    text = " ".join(text.split())
    if isinstance(value, list):
        text = f"{counted(len(value), 'item')}: {text}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


RiskRule = Callable[[Any], str]
RiskCheckRule = Callable[[Any], RiskCheck | None]
ActionRunner = Callable[[Any, Any], Awaitable[Any]]
ErrorClassifier = Callable[[Exception], ActionError | None]


@dataclass(frozen=True)
class ActionSpec:
    """One action type, as the planner, the plan's validation and the workflow see it.

    `risk` gives the reason a config needs approval in mode `risky` ("" when it does not);
    `risk_check` a risk that depends on the world (see RiskCheck). `describe_output` says in
    one line what an output holds, for people (status, watch, result). `destinations` gives
    the (host, port) a config sends data to: where a bound secret may go. `refusal` says why
    the engine refuses a config before it runs ("" when it does not), from its spelling alone
    (a file path out of the workspace); unlike the config's validation, it never applies to
    runs already recorded, so their histories keep replaying. A `pure` action computes its
    output from its config alone (no I/O, no clock). `compute`, when a pure action has it,
    computes that output as a plain function: with a small config and no secret the workflow
    calls it itself, with no activity, no round trip and no history event (a replay computes
    it again, so it must be deterministic and quick, and changing what it returns is a
    workflow change). A pure action without it, or with a larger config, runs as an activity.

    `reads_only` says whether a config only reads (a GET, a read-only query: nothing changes
    if it runs twice); `idempotent` says every config of the action may run again harmlessly
    (a plug-in's word for it). Such a task runs as a local activity (see `runs_again_safely`).
    """

    action_type: str
    config_model: type[ActionConfig]
    description: str
    execution: Execution = Execution.ACTIVITY
    risk: RiskRule | None = None
    risk_check: RiskCheckRule | None = None
    describe_output: Callable[[Any], str] = preview
    default_timeout_seconds: float = 300.0
    destinations: Callable[[Any], list[tuple[str, int]]] | None = None
    refusal: Callable[[Any], str] | None = None
    pure: bool = False
    compute: Callable[[Any], Any] | None = None
    reads_only: Callable[[Any], bool] | None = None
    idempotent: bool = False

    def __post_init__(self) -> None:
        if self.compute is not None and not self.pure:
            raise ValueError(f"{self.action_type}: an action with `compute` must be pure")

    def config_schema(self) -> dict[str, Any]:
        """The config's JSON schema."""
        return self.config_model.model_json_schema(by_alias=True)

    def describe(self, output: Any) -> str:
        """`describe_output`, or a plain preview when it fails (it may be a plug-in's, and it
        runs in workflow code, where an exception would hold the run)."""
        try:
            return self.describe_output(output)
        except Exception:
            return preview(output)

    def runs_again_safely(self, config: Any) -> bool:
        """True when running `config` again changes nothing a person would notice: the action
        is idempotent or this config only reads. A worker that dies before the run records
        it may run it again (a local activity). False when `reads_only` fails (it may be a
        plug-in's, and it runs in workflow code)."""
        if self.idempotent:
            return True
        try:
            return self.reads_only is not None and self.reads_only(config) is True
        except Exception:
            return False

    def describes_same(self, other: ActionSpec) -> bool:
        """True when `other` declares the same action type (an `Action` built from this spec
        does, whatever its runner)."""
        return all(
            getattr(self, field.name) == getattr(other, field.name) for field in fields(ActionSpec)
        )


@dataclass(frozen=True)
class Action(ActionSpec):
    """An action type with the async function that runs it: `run(config, ctx)` returns the
    output (JSON-serialisable) or raises `ActionError`. `classify_error` turns any other
    exception into an `ActionError` (retryable or not); without it, or when it returns None,
    an unexpected exception is retried and logged with its traceback.

    Only actions that run in the workflow (timers, questions) have no `run`.
    """

    run: ActionRunner | None = None
    classify_error: ErrorClassifier | None = None

    @classmethod
    def of(
        cls,
        spec: ActionSpec,
        run: ActionRunner | None,
        classify_error: ErrorClassifier | None = None,
    ) -> Action:
        """The action of a spec defined elsewhere, with its runner."""
        values = {field.name: getattr(spec, field.name) for field in fields(ActionSpec)}
        return cls(**values, run=run, classify_error=classify_error)
