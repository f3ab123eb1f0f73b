"""`poll`: watch a long-running job until a condition holds.

The workflow drives it: each check is one activity (an HTTP request and the `until` test), and
between checks the workflow sleeps on a durable timer, so a worker restart loses nothing.
"""

from __future__ import annotations

from pydantic import Field

from agentic.core.actions.base import ActionConfig, ActionSpec, Execution
from agentic.core.actions.http import (
    ApiCallConfig,
    describe_response,
    request_reads,
    request_risk,
    url_destination,
)
from agentic.core.actions.transform import JMESPathExpression


class PollConfig(ActionConfig):
    """`request` is checked every `interval` seconds until `until` holds, for at most `timeout`."""

    request: ApiCallConfig
    """The request each check sends (an api_call config)."""
    until: JMESPathExpression
    """JMESPath over the response {status_code, headers, body} that ends the poll when true,
    e.g. "body.status == 'done'"."""
    interval: float = Field(5.0, gt=0, le=24 * 3600)
    """Seconds between checks (at least the run's poll_min_interval_seconds)."""
    timeout: float = Field(300.0, gt=0, le=366 * 24 * 3600)
    """Seconds before the poll fails with PollTimeout."""

    def attempt_timeout_seconds(self) -> float | None:
        """One check: the request's timeout plus a margin."""
        return self.request.attempt_timeout_seconds()


def poll_risk(config: PollConfig) -> str:
    """The same rule as the request it sends."""
    return request_risk(config.request)


def poll_reads(config: PollConfig) -> bool:
    """A check whose request is a GET, HEAD or OPTIONS."""
    return request_reads(config.request)


def poll_destinations(config: PollConfig) -> list[tuple[str, int]]:
    """Where its request goes."""
    return url_destination(config.request.url)


SPEC = ActionSpec(
    action_type="poll",
    config_model=PollConfig,
    description=(
        "Monitor a long-running job: `request` (an api_call config) is sent every `interval` "
        "seconds until the JMESPath expression `until` over the response {status_code, headers, "
        "body} is true (e.g. \"body.status == 'done'\"), for at most `timeout` seconds. "
        "Output: the last response."
    ),
    execution=Execution.POLL,
    risk=poll_risk,
    describe_output=describe_response,
    destinations=poll_destinations,
    reads_only=poll_reads,
)
