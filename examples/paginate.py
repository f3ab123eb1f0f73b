"""paginate: a loop. Fetch the users page by page, each request passing the cursor the last
page gave, until a page says there is no next one; then count and save them all."""

from __future__ import annotations

from agentic.core.plan import Plan
from agentic.examples.sample_api import DEFAULT_URL


def paginate(
    base_url: str = DEFAULT_URL,
    page_size: int = 5,
    max_pages: int = 50,
    output_path: str = "paginate/users.json",
) -> Plan:
    """GET /users/pages until `next` is null (at most max_pages), then the users as one list."""
    tasks = [
        {"id": "pages", "name": "Fetch every page", "action_type": "api_call",
         "action_config": {"method": "GET", "url": f"{base_url}/users/pages",
                           "params": {"limit": page_size,
                                      "cursor": "{{ loop.previous.output.body.next }}"}},
         "repeat": {"until": "output.body.next == null", "max": max_pages}},
        {"id": "users", "name": "Join the pages", "action_type": "data_transform",
         "action_config": {"input": "{{ tasks.pages.output }}",
                           "expression": "{count: length([].body.items[]), "
                                         "pages: length(@), users: [].body.items[].name}"},
         "depends_on": ["pages"]},
        {"id": "save", "name": "Save the users", "action_type": "file_operation",
         "action_config": {"operation": "write", "path": output_path,
                           "content": "{{ tasks.users.output }}"},
         "depends_on": ["users"]},
    ]  # fmt: skip
    return Plan.model_validate({"goal": f"Fetch every page of {base_url}/users", "tasks": tasks})
