"""Example workflows: each is a function returning its plan, ready to copy and change."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError, validate_call

from agentic.core.plan import Plan, format_validation_error
from agentic.examples.api_orchestration import api_orchestration
from agentic.examples.branch import branch
from agentic.examples.data_pipeline import data_pipeline
from agentic.examples.job_execution import job_execution
from agentic.examples.orders_per_user import orders_per_user
from agentic.examples.paginate import paginate

EXAMPLES: dict[str, Callable[..., Plan]] = {
    "data_pipeline": data_pipeline,
    "api_orchestration": api_orchestration,
    "job_execution": job_execution,
    "branch": branch,
    "paginate": paginate,
    "orders_per_user": orders_per_user,
}


def example_options(name: str) -> dict[str, Any]:
    """The options an example takes, with their defaults."""
    parameters = inspect.signature(EXAMPLES[name]).parameters
    return {option: parameter.default for option, parameter in parameters.items()}


def build_example(name: str, options: dict[str, Any]) -> Plan:
    """The example's plan with `options`; a ValueError names what is unknown or wrong."""
    if name not in EXAMPLES:
        raise ValueError(f"no example {name!r}; the examples are: {', '.join(EXAMPLES)}")
    accepted = example_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"example {name} has no option {', '.join(unknown)}; its options: {', '.join(accepted)}"
        )
    try:
        return validate_call(EXAMPLES[name])(**options)
    except ValidationError as error:
        raise ValueError(
            f"example {name}: {format_validation_error(error, prefix='option ')}"
        ) from None
