"""api_orchestration: log in, call two APIs in parallel with the token, combine the answers."""

from __future__ import annotations

from agentic.core.plan import Plan
from agentic.examples.sample_api import DEFAULT_URL

SUMMARY = (
    "{users: length(users), orders: length(orders), "
    "paid_revenue: sum(orders[?status == 'paid'].amount), "
    "refunded: length(orders[?status == 'refunded'])}"
)


def api_orchestration(
    base_url: str = DEFAULT_URL,
    client_id: str = "demo",
    client_secret: str = "demo-secret",
    output_path: str = "orchestration/summary.json",
) -> Plan:
    """POST /auth/token, then GET /users and GET /orders in parallel, then a summary file."""
    bearer = {"Authorization": "Bearer {{ tasks.login.output.body.access_token }}"}
    tasks = [
        {"id": "login", "name": "Get a token", "action_type": "api_call",
         "action_config": {"method": "POST", "url": f"{base_url}/auth/token",
                           "json": {"client_id": client_id, "client_secret": client_secret}}},
        {"id": "users", "name": "Fetch users", "action_type": "api_call",
         "action_config": {"method": "GET", "url": f"{base_url}/users", "headers": bearer},
         "depends_on": ["login"]},
        {"id": "orders", "name": "Fetch orders", "action_type": "api_call",
         "action_config": {"method": "GET", "url": f"{base_url}/orders", "headers": bearer},
         "depends_on": ["login"]},
        {"id": "summary", "name": "Summarise", "action_type": "data_transform",
         "action_config": {"input": {"users": "{{ tasks.users.output.body }}",
                                     "orders": "{{ tasks.orders.output.body }}"},
                           "expression": SUMMARY},
         "depends_on": ["users", "orders"]},
        {"id": "save", "name": "Write the summary", "action_type": "file_operation",
         "action_config": {"operation": "write", "path": output_path,
                           "content": "{{ tasks.summary.output }}"},
         "depends_on": ["summary"]},
    ]  # fmt: skip
    return Plan.model_validate({"goal": f"Orchestrate the APIs of {base_url}", "tasks": tasks})
