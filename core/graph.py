"""A plan as a graph: tasks by depth (the longest chain of dependencies before them), and the
same graph as Mermaid or Graphviz dot text, coloured by status when a run's tasks are given.
Pure functions, for `cli.py graph` and the console's run page."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Literal

from agentic.core.messages import TaskResult
from agentic.core.plan import Plan, Task

GraphFormat = Literal["mermaid", "dot"]

# One colour per task status (fill, then text), shared by the text graphs and the console.
STATUS_COLOURS: dict[str, tuple[str, str]] = {
    "pending": ("#eeeeee", "#333333"),
    "waiting_approval": ("#ffe08a", "#3d2e00"),
    "waiting_answer": ("#f3c4f7", "#3b0a40"),
    "running": ("#a8d1ff", "#0b2a4a"),
    "analyzing": ("#ffd0a1", "#4a2300"),
    "completed": ("#b7e4b0", "#12350d"),
    "failed": ("#f7a8a8", "#4a0b0b"),
    "skipped": ("#d9d9d9", "#555555"),
    "cancelled": ("#c9c9c9", "#444444"),
}


def task_depths(plan: Plan) -> dict[str, int]:
    """Each task's depth: 0 for a task that depends on none, else one more than the deepest
    task it depends on (the column it is drawn in, left to right)."""
    depths: dict[str, int] = {}

    def depth(task: Task) -> int:
        if task.id not in depths:
            upstream = [depth(plan.by_id[name]) for name in task.depends_on]
            depths[task.id] = 1 + max(upstream) if upstream else 0
        return depths[task.id]

    for task in plan.tasks:
        depth(task)
    return depths


def columns(plan: Plan) -> list[list[str]]:
    """The task ids by depth, each column in plan order."""
    depths = task_depths(plan)
    laid_out: list[list[str]] = [[] for _ in range(max(depths.values(), default=-1) + 1)]
    for task in plan.tasks:
        laid_out[depths[task.id]].append(task.id)
    return laid_out


def task_label(task: Task, result: TaskResult | None = None) -> str:
    """What a task's box says: its id, action type, for-each or loop, and its status (with
    item counts) when the run's result for it is given."""
    parts = [task.id, task.action_type]
    if task.for_each is not None:
        parts.append("for each")
    if task.repeat is not None:
        parts.append("loop")
    if task.when is not None:
        parts.append("when")
    if result is not None:
        status = result.status.value
        if result.items:
            done = sum(result.items.values())
            status += f" ({result.items.get('completed', 0)}/{done} items)"
        parts.append(status)
        if result.child_run_id:
            parts.append(f"child run {result.child_run_id}")
    return "\n".join(parts)


def render(
    plan: Plan,
    results: Mapping[str, TaskResult] | None = None,
    graph_format: GraphFormat = "mermaid",
) -> str:
    """The plan as Mermaid (`flowchart LR`) or dot text, left to right by depth."""
    results = results or {}
    if graph_format == "dot":
        return _dot(plan, results)
    return _mermaid(plan, results)


def _mermaid(plan: Plan, results: Mapping[str, TaskResult]) -> str:
    lines = ["flowchart LR"]
    for task in plan.tasks:
        label = task_label(task, results.get(task.id)).replace("\n", "<br/>")
        lines.append(f'    {_node(task.id)}["{_mermaid_text(label)}"]')
    for task in plan.tasks:
        for name in task.depends_on:
            lines.append(f"    {_node(name)} --> {_node(task.id)}")
    used = sorted({result.status.value for result in results.values()})
    for status in used:
        fill, text = STATUS_COLOURS.get(status, STATUS_COLOURS["pending"])
        lines.append(f"    classDef {status} fill:{fill},color:{text}")
    for task in plan.tasks:
        if task.id in results:
            lines.append(f"    class {_node(task.id)} {results[task.id].status.value}")
    return "\n".join(lines) + "\n"


def _dot(plan: Plan, results: Mapping[str, TaskResult]) -> str:
    lines = ["digraph plan {", "    rankdir=LR;", '    node [shape=box, style="rounded,filled"];']
    for task in plan.tasks:
        result = results.get(task.id)
        fill, text = STATUS_COLOURS[result.status.value if result else "pending"]
        label = json.dumps(task_label(task, result), ensure_ascii=False)
        lines.append(
            f'    {json.dumps(task.id)} [label={label}, fillcolor="{fill}", fontcolor="{text}"];'
        )
    for task in plan.tasks:
        for name in task.depends_on:
            lines.append(f"    {json.dumps(name)} -> {json.dumps(task.id)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _node(task_id: str) -> str:
    # Mermaid ids are words: a task id may hold `-`, which Mermaid reads as an edge.
    return "t_" + task_id.replace("_", "__").replace("-", "_d")


def _mermaid_text(label: str) -> str:
    return label.replace('"', "#quot;")
