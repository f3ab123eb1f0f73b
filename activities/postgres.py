"""Runs `db_query` on PostgreSQL (asyncpg), with one connection pool per database URL."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import re
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpcore

from agentic.activities.base import ActionContext
from agentic.activities.network import NetworkRefused
from agentic.core.actions.base import Action
from agentic.core.actions.postgres import SPEC, DbQueryConfig, database_host
from agentic.core.errors import ActionError, ErrorType, non_retryable, retryable

# SQLSTATE classes worth retrying: connection problems, serialization failures and deadlocks,
# insufficient resources, an operator shutting the server down.
RETRYABLE_SQLSTATE_PREFIXES = ("08", "40", "53", "57P")
READ_ONLY_VIOLATION = "25006"
STATEMENT_TIMEOUT = "57014"
ROW_COUNT = re.compile(r"(\d+)$")
DATABASE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError, ValueError)


def json_safe(value: Any) -> Any:
    """A database value as JSON: dates as ISO text, exact decimals as numbers, UUIDs as text."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, Decimal):
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return value


async def _init_connection(connection: asyncpg.Connection) -> None:
    for json_type in ("json", "jsonb"):
        await connection.set_type_codec(
            json_type, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def pool_for(ctx: ActionContext, database_url: str, address: str | None) -> asyncpg.Pool:
    """The worker's pool for `database_url` (at `address`, when the policy pinned one),
    created on first use."""
    key = f"{database_url}@{address}" if address else database_url
    async with ctx.db_lock:
        pool = ctx.db_pools.get(key)
        if pool is None:
            # asyncpg takes the port from the URL only when no host is passed: pass both.
            pinned = {"host": address, "port": database_host(database_url)[1]} if address else {}
            pool = await asyncpg.create_pool(
                database_url, min_size=0, max_size=10, init=_init_connection, **pinned
            )
            ctx.db_pools[key] = pool
        return pool


async def checked_target(config: DbQueryConfig, ctx: ActionContext) -> tuple[str, str | None]:
    """The database URL to use, and the address to connect to when a plan named its own: the
    configured DATABASE_URL is always allowed; another one goes through the network policy
    (a TCP host whose address the policy allows; no unix sockets)."""
    database_url = config.database_url or ctx.database_url
    if not database_url:
        raise non_retryable(
            "no database configured: set DATABASE_URL for the worker, or give "
            "database_url in the task's action_config",
            ErrorType.NOT_CONFIGURED,
        )
    if not config.database_url or config.database_url == ctx.database_url or ctx.network is None:
        return database_url, None
    host, port = database_host(config.database_url)
    if host is None:
        raise non_retryable(
            "a database_url in a plan must name a TCP host (unix sockets only through the "
            "worker's DATABASE_URL)",
            ErrorType.NETWORK_POLICY,
        )
    try:
        address = await ctx.network.checked_address(host, port)
    except NetworkRefused as error:
        raise non_retryable(f"database refused: {error}", ErrorType.NETWORK_POLICY) from None
    except httpcore.ConnectError as error:  # the name does not resolve (now)
        raise retryable(f"cannot reach the database: {error}", ErrorType.DB_UNAVAILABLE) from None
    # With sslmode=verify-full, TLS proves the server is the one named: connect by name (a
    # pinned address would fail the certificate's host name check).
    return database_url, None if _verifies_host_name(database_url) else address


def _verifies_host_name(database_url: str) -> bool:
    return parse_qs(urlsplit(database_url).query).get("sslmode", [""])[0] == "verify-full"


async def close_pools(ctx: ActionContext) -> None:
    """Close every pool (the worker calls this when it stops)."""
    pools, ctx.db_pools = list(ctx.db_pools.values()), {}
    await asyncio.gather(*(pool.close() for pool in pools), return_exceptions=True)


async def _fetch_rows(
    statement: asyncpg.prepared_stmt.PreparedStatement, config: DbQueryConfig, row_limit: int
) -> list[dict[str, Any]]:
    cursor = await statement.cursor(*config.params, timeout=config.timeout)
    records = await cursor.fetch(row_limit + 1, timeout=config.timeout)
    if len(records) > row_limit:
        raise non_retryable(
            f"the query returns more than {row_limit} rows; add a LIMIT or a WHERE clause "
            "(the limit is the DB_ROW_LIMIT setting)",
            ErrorType.TOO_MANY_ROWS,
        )
    return [json_safe(dict(record)) for record in records]


async def _run_statement(
    connection: asyncpg.Connection, config: DbQueryConfig, row_limit: int
) -> dict[str, Any]:
    # A prepared statement holds exactly one command: "COMMIT; DELETE ..." cannot slip out of
    # the read-only transaction the way it could through the simple query protocol.
    statement = await connection.prepare(config.query, timeout=config.timeout)
    if config.fetch == "none":
        await statement.fetch(*config.params, timeout=config.timeout)
        status = statement.get_statusmsg()
        count = ROW_COUNT.search(status)
        return {"rows": [], "row_count": int(count.group(1)) if count else 0, "status": status}
    if config.fetch == "value":
        value = await statement.fetchval(*config.params, timeout=config.timeout)
        return {"rows": [], "row_count": 0 if value is None else 1, "value": json_safe(value)}
    if config.fetch == "one":
        record = await statement.fetchrow(*config.params, timeout=config.timeout)
        rows = [] if record is None else [json_safe(dict(record))]
        return {"rows": rows, "row_count": len(rows)}
    rows = await _fetch_rows(statement, config, row_limit)
    return {"rows": rows, "row_count": len(rows)}


def _classify(error: Exception, config: DbQueryConfig) -> ActionError:
    """The error as a Temporal error: retryable only when the problem may pass by itself."""
    if isinstance(error, asyncpg.PostgresError):
        sqlstate = getattr(error, "sqlstate", "") or ""
        if sqlstate == STATEMENT_TIMEOUT:
            return retryable(
                f"the server stopped the statement after its timeout ({error}); the limit is the "
                "task's timeout, at most DB_STATEMENT_TIMEOUT_SECONDS",
                ErrorType.DB_TIMEOUT,
            )
        if sqlstate == READ_ONLY_VIOLATION:
            return non_retryable(
                f"this statement writes to the database, but the task is read-only: add "
                f'"write": true to its action_config ({error})',
                ErrorType.WRITE_NOT_ALLOWED,
            )
        message = f"PostgreSQL error {sqlstate} ({type(error).__name__}): {error}"
        if sqlstate.startswith(RETRYABLE_SQLSTATE_PREFIXES):
            return retryable(message, ErrorType.DB_UNAVAILABLE)
        return non_retryable(message, ErrorType.DB_QUERY_ERROR)
    if isinstance(error, asyncpg.ConnectionDoesNotExistError):
        return retryable(f"the database connection was lost: {error}", ErrorType.DB_UNAVAILABLE)
    if isinstance(error, asyncpg.InterfaceError | ValueError):
        return non_retryable(
            f"the query or its params are invalid: {error}", ErrorType.DB_QUERY_ERROR
        )
    if isinstance(error, TimeoutError):
        return retryable(f"the query did not finish within {config.timeout}s", ErrorType.DB_TIMEOUT)
    return retryable(
        f"cannot reach the database: {type(error).__name__}: {error}", ErrorType.DB_UNAVAILABLE
    )


async def run_db_query(config: DbQueryConfig, ctx: ActionContext) -> dict[str, Any]:
    """Run one statement in a transaction (read-only unless `write`, under a statement
    timeout), and return its rows."""
    database_url, address = await checked_target(config, ctx)
    timeout_ms = int(min(config.timeout, ctx.db_statement_timeout_seconds) * 1000)
    try:
        pool = await pool_for(ctx, database_url, address)
        async with (
            pool.acquire(timeout=config.timeout) as connection,
            connection.transaction(readonly=not config.write),
        ):
            await connection.execute(f"SET LOCAL statement_timeout = {timeout_ms}")
            return await _run_statement(connection, config, ctx.db_row_limit)
    except DATABASE_ERRORS as error:
        raise _classify(error, config) from error


ACTION = Action.of(SPEC, run=run_db_query)
