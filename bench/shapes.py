"""The engine's plans for `bench/run.py`'s shapes (the load shape's is `bench/load.py`'s).

Each does the same work as its bare workflow in bench/bare.py and its LangGraph graph in
bench/langgraph_shapes.py: the same requests to the same local server, the same transforms.
"""

from __future__ import annotations

from typing import Any

from bench.bare import PIPELINE_TRANSFORMS
from bench.servers import BenchAPI


def chain_plan(
    api: BenchAPI,
    steps: int,
    prefix: str,
    delay: float = 0.0,
    pause_at: int = 0,
    local: bool | None = None,
) -> dict[str, Any]:
    """`steps` GETs, each task depending on the previous; task N requests id `{prefix}-N`.
    With `pause_at` N, task N is a `wait` of `delay` seconds instead (a durable timer: no
    action in flight while it waits). `local` False: every GET a regular activity (the
    task's `"local": false`); None: as the engine decides (a read: a local activity)."""
    tasks = []
    for step in range(1, steps + 1):
        action: dict[str, Any] = {
            "action_type": "api_call",
            "action_config": {"url": api.work_url(f"{prefix}-{step:02d}", delay)},
            **({} if local is None else {"local": local}),
        }
        if step == pause_at:
            action = {"action_type": "wait", "action_config": {"seconds": delay}}
        tasks.append({
            "id": f"t{step:02d}", **action,
            "depends_on": [f"t{step - 1:02d}"] if step > 1 else [],
        })  # fmt: skip
    return {"goal": f"chain of {steps}", "tasks": tasks}


def fan_out_plan(api: BenchAPI, calls: int, prefix: str, delay: float) -> dict[str, Any]:
    """`calls` independent GETs, each answered after `delay` seconds."""
    tasks = [{"id": f"call{call:02d}", "action_type": "api_call",
              "action_config": {"url": api.work_url(f"{prefix}-{call:02d}", delay)}}
             for call in range(calls)]  # fmt: skip
    return {"goal": f"{calls} independent calls", "tasks": tasks}


def pipeline_plan(api: BenchAPI, users: int, path: str) -> dict[str, Any]:
    """Fetch users, keep the adults, keep name and age, sort by age, write to `path`."""
    tasks: list[dict[str, Any]] = [
        {"id": "fetch", "action_type": "api_call", "action_config": {"url": api.users_url(users)}}
    ]
    source = "{{ tasks.fetch.output.body }}"
    for number, expression in enumerate(PIPELINE_TRANSFORMS, start=1):
        tasks.append({
            "id": f"transform{number}", "action_type": "data_transform",
            "action_config": {"input": source, "expression": expression},
            "depends_on": [tasks[-1]["id"]],
        })  # fmt: skip
        source = f"{{{{ tasks.transform{number}.output }}}}"
    tasks.append({
        "id": "write", "action_type": "file_operation",
        "action_config": {"operation": "write", "path": path, "content": source},
        "depends_on": [tasks[-1]["id"]],
    })  # fmt: skip
    return {"goal": "fetch, transform three times, write", "tasks": tasks}


def map_plan(api: BenchAPI, items: int, prefix: str) -> dict[str, Any]:
    """One for-each of `items` GETs; item N requests id `{prefix}-N`."""
    return {"goal": f"for-each of {items}", "tasks": [{
        "id": "each", "action_type": "api_call", "for_each": list(range(items)),
        "action_config": {"url": api.work_url(prefix + "-{{ index }}")},
    }]}  # fmt: skip
