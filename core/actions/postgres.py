"""`db_query`: one SQL statement on PostgreSQL, read-only unless the task says `write`."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import Field

from agentic.core.actions.base import ActionSpec, TimedActionConfig, counted, preview

FetchMode = Literal["all", "one", "value", "none"]


class DbQueryConfig(TimedActionConfig):
    """SQL with `params` bound as $1, $2...; read-only unless `write` is true."""

    query: str = Field(min_length=1)
    """Exactly one SQL statement, with $1, $2... for the parameters."""
    params: list[Any] = Field(default_factory=list)
    """The values bound to $1, $2...; never formatted into the SQL."""
    fetch: FetchMode = "all"
    """all (every row), one (the first row), value (the first column of the first row), or
    none (the command status only)."""
    database_url: str | None = None
    """An asyncpg URL; default: the DATABASE_URL setting (any other goes through the network
    policy)."""
    write: bool = False
    """True for a statement that changes data (risky); otherwise it runs in a read-only
    transaction."""


def database_host(database_url: str) -> tuple[str | None, int]:
    """The TCP host and port of a PostgreSQL URL (None for a unix socket)."""
    parts = urlsplit(database_url)
    query_host = parse_qs(parts.query).get("host", [""])[0]
    host = query_host or parts.hostname or ""
    port = parts.port or 5432
    return (None if not host or host.startswith("/") else host), port


def db_destinations(config: DbQueryConfig) -> list[tuple[str, int]]:
    """Where the statement goes, when the plan names a database (the worker's DATABASE_URL
    is no destination a bound secret may go to)."""
    if not config.database_url:
        return []
    host, port = database_host(config.database_url)
    return [(host, port)] if host else []


def write_risk(config: DbQueryConfig) -> str:
    """A statement allowed to write needs approval."""
    return "writes to the database" if config.write else ""


def query_reads(config: DbQueryConfig) -> bool:
    """A statement without `write` (it runs in a read-only transaction)."""
    return not config.write


def describe_rows(output: Any) -> str:
    """`3 rows`, `value: 42` or the command status (`INSERT 0 5`)."""
    if not isinstance(output, dict):
        return preview(output)
    if "value" in output:
        return f"value: {preview(output['value'], 60)}"
    if output.get("status"):
        return str(output["status"])
    count = output.get("row_count", 0)
    return counted(count, "row")


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
    destinations=db_destinations,
    reads_only=query_reads,
)
