"""`ask`: a question to a person; the run waits durably in the workflow for the answer."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match
from pydantic import Field, model_validator

from agentic.core.actions.base import ActionConfig, ActionSpec, Execution, preview

FREE_TEXT: dict[str, Any] = {"type": "string"}


class AskConfig(ActionConfig):
    """Ask a person a question and wait (durably, holding no execution slot) for the answer:
    the task's output is the answer."""

    question: str = Field(min_length=1)
    """The question, as the person reads it in `status` (references are filled in)."""
    answer_schema: dict[str, Any] = Field(default_factory=lambda: dict(FREE_TEXT))
    """The JSON Schema an answer must match (default: free text, a string)."""
    choices: list[Any] | None = Field(None, min_length=1)
    """The only answers accepted, when given (they must match answer_schema too)."""
    timeout: float | None = Field(None, gt=0, le=366 * 24 * 3600, allow_inf_nan=False)
    """Seconds to wait for an answer (default: the run's approval timeout)."""
    default: Any = None
    """The answer when none comes in time; without it (null), a timeout fails the task."""

    @model_validator(mode="after")
    def _schema_and_default_fit(self) -> AskConfig:
        try:
            Draft202012Validator.check_schema(self.answer_schema)
        except SchemaError as error:
            raise ValueError(f"answer_schema is not a valid JSON Schema: {error.message}") from None
        for choice in self.choices or []:
            problem = answer_problem(self.answer_schema, choice)
            if problem:
                raise ValueError(f"choice {json.dumps(choice)} does not fit: {problem}")
        accepted = accepted_answers(self.answer_schema, self.choices)
        problem = answer_problem(accepted, self.default) if self.default is not None else ""
        if problem:
            raise ValueError(f"default is not an accepted answer: {problem}")
        return self


def accepted_answers(answer_schema: dict[str, Any], choices: list[Any] | None) -> dict[str, Any]:
    """The JSON Schema of the answers accepted: answer_schema, limited to choices if any."""
    if not choices:
        return answer_schema
    return {"allOf": [answer_schema, {"enum": choices}]}


def answer_problem(schema: dict[str, Any], value: Any) -> str:
    """Why `value` does not match the JSON Schema `schema`, in one line ("" when it does)."""
    error = best_match(Draft202012Validator(schema).iter_errors(value))
    if error is None:
        return ""
    where = "".join(f"[{json.dumps(part)}]" for part in error.absolute_path)
    return f"{where + ': ' if where else ''}{error.message}"


def describe_answer(output: Any) -> str:
    """`answer: "blue"`."""
    return "answer: " + preview(json.dumps(output, ensure_ascii=False))


SPEC = ActionSpec(
    action_type="ask",
    config_model=AskConfig,
    description=(
        "Ask a person a question and wait for the answer (read-only, no approval; the run "
        "waits durably). Use it when the goal leaves a choice to the person (which option, "
        "how many, a name): give `choices` or an `answer_schema`. Output: the answer."
    ),
    execution=Execution.QUESTION,
    describe_output=describe_answer,
)
