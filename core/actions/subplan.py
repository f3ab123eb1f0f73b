"""`sub_plan`: a plan of its own, run as a child run of this one (its own history, linked in
the Web UI). Not an activity: the workflow starts the child workflow itself."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, ValidationError, model_validator

from agentic.core.actions.base import ActionConfig, ActionSpec, Execution, counted


def _unset(value: Any) -> bool:
    return value is None


class SubPlanConfig(ActionConfig):
    """Run `plan` (inline) or `goal` (planned by the LLM) as a child run, with `inputs`."""

    sealed_fields: ClassVar[frozenset[str]] = frozenset({"plan"})

    plan: dict[str, Any] | None = None
    """An inline plan ({"tasks": [...]}) for the child run; its references are to its own
    tasks, and {{ inputs.<name> }} to this task's inputs."""
    goal: str | None = Field(None, min_length=1, max_length=20_000)
    """A goal the LLM plans as the child run (instead of `plan`)."""
    inputs: dict[str, Any] = Field(default_factory=dict)
    """Values the child sees as {{ inputs.<name> }}; they may use this run's references and, in
    a for-each, {{ item }}."""
    template: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$", exclude_if=_unset)
    """A named template (templates/, TEMPLATE_DIRS) as the child's plan, put in place of it
    when the run starts (instead of `plan` or `goal`)."""
    params: dict[str, Any] | None = Field(None, exclude_if=_unset)
    """The template's params."""

    @model_validator(mode="after")
    def _one_source(self) -> SubPlanConfig:
        if sum(given is not None for given in (self.plan, self.goal, self.template)) != 1:
            raise ValueError(
                "give exactly one of plan (an inline plan), goal (planned by the LLM) or "
                "template (a named template)"
            )
        if self.params is not None and self.template is None:
            raise ValueError("params are for a template; put values in the plan, or inputs")
        if self.plan is not None:
            from agentic.core.plan import Plan, format_validation_error  # plan imports this

            try:
                Plan.model_validate(self.plan)
            except ValidationError as error:
                raise ValueError("its plan: " + format_validation_error(error)) from None
        return self

    def child_plan(self) -> dict[str, Any] | None:
        return self.plan


def sub_plan_refusal(config: SubPlanConfig) -> str:
    """What the engine refuses in the inline plan (as in any plan), and inputs it uses that
    `inputs` does not give."""
    if config.plan is None:
        return ""
    from agentic.core.plan import Plan  # plan imports this module
    from agentic.core.policy import refusals
    from agentic.core.subplans import plan_input_names

    plan = Plan.model_validate(config.plan)
    problems = refusals(plan.tasks)
    missing = sorted(plan_input_names(plan) - set(config.inputs))
    if missing:
        problems.append(
            f"{{{{ inputs.{missing[0]} }}}} is used but inputs has no {missing[0]!r}; add it "
            "to inputs"
        )
    return "in its plan: " + "; ".join(problems) if problems else ""


def describe_sub_plan(output: Any) -> str:
    """`3 task outputs: fetch, total, report`."""
    if not isinstance(output, dict):
        return "no outputs"
    names = ", ".join(list(output)[:5]) + (", ..." if len(output) > 5 else "")
    return f"{counted(len(output), 'task output')}: {names}"


SPEC = ActionSpec(
    action_type="sub_plan",
    config_model=SubPlanConfig,
    description=(
        "Run a plan of its own (inline `plan`, or `goal` planned by the LLM) as a child run, "
        "with `inputs` it sees as {{ inputs.<name> }}; with for_each, one child per item. "
        "Output: the child's task outputs by task id."
    ),
    execution=Execution.CHILD_RUN,
    describe_output=describe_sub_plan,
    refusal=sub_plan_refusal,
    default_timeout_seconds=24 * 3600,
)
