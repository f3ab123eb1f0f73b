"""The `poll` action: watch a long-running job until a condition holds.

The workflow drives it: each check is one activity (an HTTP request and the `until` test), and
between checks the workflow sleeps on a durable timer, so a worker restart loses nothing.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from activities.base import ActionConfig, ActionContext, ActionSpec
from activities.http import ApiCallConfig, describe_response, run_api_call
from activities.transform import JMESPathExpression, is_truthy, search


class PollConfig(ActionConfig):
    """`request` is checked every `interval` seconds until `until` holds, for at most `timeout`."""

    request: ApiCallConfig
    until: JMESPathExpression
    interval: float = Field(5.0, gt=0, le=24 * 3600)
    timeout: float = Field(300.0, gt=0, le=366 * 24 * 3600)

    def attempt_timeout_seconds(self) -> float | None:
        """One check: the request's timeout plus a margin."""
        return self.request.attempt_timeout_seconds()


async def run_poll_check(config: PollConfig, ctx: ActionContext) -> dict[str, Any]:
    """One check: send the request and test `until` over the response."""
    response = await run_api_call(config.request, ctx)
    return {"done": is_truthy(search(config.until, response)), "response": response}


SPEC = ActionSpec(
    action_type="poll",
    config_model=PollConfig,
    run=run_poll_check,
    description=(
        "Monitor a long-running job: `request` (an api_call config) is sent every `interval` "
        "seconds until the JMESPath expression `until` over the response {status_code, headers, "
        "body} is true (e.g. \"body.status == 'done'\"), for at most `timeout` seconds. "
        "Output: the last response."
    ),
    describe_output=describe_response,
)
