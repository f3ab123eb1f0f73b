"""The `db_query` action on PostgreSQL (asyncpg)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from activities.base import ActionConfig, ActionContext, ActionSpec, non_retryable

FetchMode = Literal["all", "one", "value", "none"]


class DbQueryConfig(ActionConfig):
    """SQL with `params` bound as $1, $2...; read-only unless `write` is true."""

    query: str = Field(min_length=1)
    params: list[Any] = Field(default_factory=list)
    fetch: FetchMode = "all"
    database_url: str | None = None
    timeout: float = Field(30.0, gt=0, le=3600)
    write: bool = False


async def run_db_query(config: DbQueryConfig, ctx: ActionContext) -> dict[str, Any]:
    """Not available yet: the PostgreSQL driver arrives with the next issue."""
    raise non_retryable(
        "db_query is not configured in this version of the engine: PostgreSQL support is "
        "not built yet. Use api_call, file_operation or data_transform instead.",
        "NotConfigured",
    )


SPEC = ActionSpec(
    action_type="db_query",
    config_model=DbQueryConfig,
    run=run_db_query,
    description=(
        "SQL on PostgreSQL: query, params (bound as $1, $2...), fetch: all|one|value|none, "
        "write: true for statements that change data. Output: {rows, row_count}."
    ),
)
