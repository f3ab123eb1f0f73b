"""`db_query`: one SQL statement on PostgreSQL, read-only unless the task says `write`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from core.actions.base import ActionSpec, TimedActionConfig, preview

FetchMode = Literal["all", "one", "value", "none"]


class DbQueryConfig(TimedActionConfig):
    """SQL with `params` bound as $1, $2...; read-only unless `write` is true."""

    query: str = Field(min_length=1)
    params: list[Any] = Field(default_factory=list)
    fetch: FetchMode = "all"
    database_url: str | None = None
    write: bool = False


def write_risk(config: DbQueryConfig) -> str:
    """A statement allowed to write needs approval."""
    return "writes to the database" if config.write else ""


def describe_rows(output: Any) -> str:
    """`3 rows`, `value: 42` or the command status (`INSERT 0 5`)."""
    if not isinstance(output, dict):
        return preview(output)
    if "value" in output:
        return f"value: {preview(output['value'], 60)}"
    if output.get("status"):
        return str(output["status"])
    count = output.get("row_count", 0)
    return f"{count} row{'' if count == 1 else 's'}"


SPEC = ActionSpec(
    action_type="db_query",
    config_model=DbQueryConfig,
    description=(
        "SQL on PostgreSQL: query, params (a list bound as $1, $2...; never format values into "
        "the SQL), fetch: all|one|value|none, write: true for statements that change data "
        "(otherwise the statement runs read-only). Output: {rows, row_count} (and value for "
        "fetch: value)."
    ),
    risk=write_risk,
    describe_output=describe_rows,
)
