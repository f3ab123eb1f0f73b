"""branch: a condition and a join. Fetch the users; if some are under `min_age`, write their
names to a review file, else write that everyone is of age; then a report that joins both
branches (the branch not taken gives null)."""

from __future__ import annotations

from agentic.core.plan import Plan
from agentic.examples.sample_api import DEFAULT_URL


def branch(
    base_url: str = DEFAULT_URL,
    min_age: int = 18,
    review_path: str = "branch/review.json",
    report_path: str = "branch/report.json",
) -> Plan:
    """GET /users, count those under min_age, then one of two branches, then the report."""
    minors = f"[?age < `{min_age}`].name"
    tasks = [
        {"id": "users", "name": "Fetch users", "action_type": "api_call",
         "action_config": {"method": "GET", "url": f"{base_url}/users"}},
        {"id": "check", "name": "Find who is under age", "action_type": "data_transform",
         "action_config": {"input": "{{ tasks.users.output.body }}",
                           "expression": f"{{minors: {minors}, count: length({minors})}}"},
         "depends_on": ["users"]},
        {"id": "review", "name": "List them for review", "action_type": "file_operation",
         "action_config": {"operation": "write", "path": review_path,
                           "content": "{{ tasks.check.output.minors }}"},
         "depends_on": ["check"], "when": "tasks.check.output.count > `0`"},
        {"id": "all_of_age", "name": "Note that all are of age", "action_type": "data_transform",
         "action_config": {"input": {"min_age": min_age}, "expression": "@"},
         "depends_on": ["check"], "when": "tasks.check.output.count == `0`"},
        {"id": "report", "name": "Write the report", "action_type": "file_operation",
         "action_config": {"operation": "write", "path": report_path,
                           "content": {"under_age": "{{ tasks.check.output.count }}",
                                       "review_file": "{{ tasks.review.output.path }}",
                                       "all_of_age": "{{ tasks.all_of_age.output }}"}},
         "depends_on": ["review", "all_of_age"]},
    ]  # fmt: skip
    return Plan.model_validate({"goal": f"Review the users of {base_url} by age", "tasks": tasks})
