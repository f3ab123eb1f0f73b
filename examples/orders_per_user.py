"""orders_per_user: a for-each. Fetch the users, then each user's orders (one request per
user, in parallel), then the total of the paid orders per user and overall."""

from __future__ import annotations

from agentic.core.plan import Plan
from agentic.examples.sample_api import DEFAULT_URL

TOTALS = (
    "{users: length(@), orders: length([]), "
    "paid: sum(map(&sum([?status == 'paid'].amount), @)), "
    "per_user: [*].{orders: length(@), paid: sum([?status == 'paid'].amount)}}"
)


def orders_per_user(
    base_url: str = DEFAULT_URL,
    max_failures: float = 0,
    output_path: str = "orders/totals.json",
) -> Plan:
    """GET /users, GET /users/<id>/orders for each user, then the totals in a file."""
    tasks = [
        {"id": "users", "name": "Fetch users", "action_type": "api_call",
         "action_config": {"method": "GET", "url": f"{base_url}/users"}},
        {"id": "orders", "name": "Fetch each user's orders", "action_type": "api_call",
         "for_each": "{{ tasks.users.output.body }}", "max_failures": max_failures,
         "action_config": {"method": "GET", "url": f"{base_url}/users/{{{{ item.id }}}}/orders"},
         "depends_on": ["users"]},
        {"id": "totals", "name": "Total the paid orders", "action_type": "data_transform",
         "action_config": {"input": "{{ tasks.orders.output }}",
                           "expression": f"[*].body | {TOTALS}"},
         "depends_on": ["orders"]},
        {"id": "save", "name": "Save the totals", "action_type": "file_operation",
         "action_config": {"operation": "write", "path": output_path,
                           "content": "{{ tasks.totals.output }}"},
         "depends_on": ["totals"]},
    ]  # fmt: skip
    return Plan.model_validate({"goal": f"Total the orders of each user of {base_url}",
                                "tasks": tasks})  # fmt: skip
