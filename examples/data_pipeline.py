"""data_pipeline: fetch JSON, keep and project records, validate, save, optionally store in SQL."""

from __future__ import annotations

import re
from typing import Any

from agentic.core.plan import Plan
from agentic.examples.sample_api import DEFAULT_URL

SQL_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
REPORT = """# Data pipeline report

- source: {source_url}
- records fetched: {{{{ tasks.stats.output.fetched }}}}
- records kept (age >= {min_age}): {{{{ tasks.stats.output.kept }}}}
- saved to: {output_path}
{table_line}"""


def _store_tasks(table: str, database_url: str | None) -> list[dict[str, Any]]:
    if not SQL_IDENTIFIER.match(table):
        raise ValueError(f"table {table!r} is not a plain SQL identifier (letters, digits, _)")
    target = {"database_url": database_url} if database_url else {}
    create = (
        f"CREATE TABLE IF NOT EXISTS {table} (email text PRIMARY KEY, name text NOT NULL, "
        "age int, city text, loaded_at timestamptz NOT NULL DEFAULT now())"
    )
    # An upsert keyed by email: running the pipeline again updates rows instead of duplicating.
    upsert = (
        f"INSERT INTO {table} (email, name, age, city) SELECT email, name, age, city "
        "FROM jsonb_to_recordset($1::jsonb) AS r(email text, name text, age int, city text) "
        "ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name, age = EXCLUDED.age, "
        "city = EXCLUDED.city, loaded_at = now()"
    )
    return [
        {"id": "create_table", "name": f"Create table {table}", "action_type": "db_query",
         "action_config": {"query": create, "fetch": "none", "write": True, **target}},
        {"id": "store", "name": f"Upsert the records into {table}", "action_type": "db_query",
         "action_config": {"query": upsert, "params": ["{{ tasks.validate.output }}"],
                           "fetch": "none", "write": True, **target},
         "depends_on": ["create_table", "validate"]},
        {"id": "count", "name": f"Count the rows of {table}", "action_type": "db_query",
         "action_config": {"query": f"SELECT count(*) FROM {table}", "fetch": "value", **target},
         "depends_on": ["store"]},
    ]  # fmt: skip


def data_pipeline(
    source_url: str = f"{DEFAULT_URL}/users",
    output_path: str = "pipeline/adults.json",
    report_path: str = "pipeline/report.md",
    min_age: int = 18,
    table: str | None = None,
    database_url: str | None = None,
) -> Plan:
    """Fetch users, keep adults with their name, email, age and city, validate, save, store."""
    keep = f"[?age >= `{int(min_age)}`].{{name: name, email: email, age: age, city: city}}"
    tasks: list[dict[str, Any]] = [
        {"id": "fetch", "name": "Fetch the source records", "action_type": "api_call",
         "action_config": {"method": "GET", "url": source_url}},
        {"id": "transform", "name": "Keep adults, project fields", "action_type": "data_transform",
         "action_config": {"input": "{{ tasks.fetch.output.body }}", "expression": keep},
         "depends_on": ["fetch"]},
        {"id": "validate", "name": "Drop records without email; require some",
         "action_type": "data_transform",
         "action_config": {"input": "{{ tasks.transform.output }}", "expression": "[?email]",
                           "require": "length(@) > `0`"},
         "depends_on": ["transform"]},
        {"id": "save", "name": "Write the records", "action_type": "file_operation",
         "action_config": {"operation": "write", "path": output_path,
                           "content": "{{ tasks.validate.output }}"},
         "depends_on": ["validate"]},
        {"id": "stats", "name": "Count the records", "action_type": "data_transform",
         "action_config": {"input": {"fetched": "{{ tasks.fetch.output.body }}",
                                     "kept": "{{ tasks.validate.output }}"},
                           "expression": "{fetched: length(fetched), kept: length(kept)}"},
         "depends_on": ["fetch", "validate"]},
    ]  # fmt: skip
    report_deps = ["stats", "save"]
    table_line = ""
    if table:
        tasks += _store_tasks(table, database_url)
        report_deps.append("count")
        table_line = f"- rows in table {table}: {{{{ tasks.count.output.value }}}}\n"
    report = REPORT.format(
        source_url=source_url, min_age=min_age, output_path=output_path, table_line=table_line
    )
    tasks.append(
        {
            "id": "report",
            "name": "Write the report",
            "action_type": "file_operation",
            "action_config": {"operation": "write", "path": report_path, "content": report},
            "depends_on": report_deps,
        }
    )
    return Plan.model_validate({"goal": f"Data pipeline from {source_url}", "tasks": tasks})
