"""A plan as a graph: tasks by depth (the longest chain of dependencies before them), and the
same graph as Mermaid or Graphviz dot text, coloured by status when a run's tasks are given.
Pure functions, for `cli.py graph` and the console's run page."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
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


BOX_WIDTH, BOX_HEIGHT, COLUMN_GAP, ROW_GAP, MARGIN = 164, 58, 44, 16, 14


@dataclass(frozen=True)
class Box:
    """A task's box in the drawn graph: where it is and what it says."""

    task_id: str
    x: int
    y: int
    title: str
    subtitle: str
    status: str
    detail: str
    child_run_id: str | None


@dataclass(frozen=True)
class Layout:
    """The drawn graph: boxes, arrows (SVG path data) and the drawing's size."""

    boxes: list[Box]
    arrows: list[tuple[str, str, str]]  # (from task, to task, path)
    width: int
    height: int
    box_width: int = BOX_WIDTH
    box_height: int = BOX_HEIGHT


def layout(plan: Plan, results: Mapping[str, TaskResult] | None = None) -> Layout:
    """The plan laid out left to right by depth, each column top to bottom in plan order."""
    results = results or {}
    placed: dict[str, tuple[int, int]] = {}
    for column_number, column in enumerate(columns(plan)):
        for row_number, task_id in enumerate(column):
            x = MARGIN + column_number * (BOX_WIDTH + COLUMN_GAP)
            placed[task_id] = (x, MARGIN + row_number * (BOX_HEIGHT + ROW_GAP))
    boxes = [_box(task, *placed[task.id], results.get(task.id)) for task in plan.tasks]
    arrows = []
    for task in plan.tasks:
        for name in task.depends_on:
            (x1, y1), (x2, y2) = placed[name], placed[task.id]
            start, end = (x1 + BOX_WIDTH, y1 + BOX_HEIGHT // 2), (x2, y2 + BOX_HEIGHT // 2)
            middle = (start[0] + end[0]) // 2
            path = (f"M{start[0]},{start[1]} C{middle},{start[1]} {middle},{end[1]} "
                    f"{end[0] - 6},{end[1]}")  # fmt: skip
            arrows.append((name, task.id, path))
    width = max((x for x, _ in placed.values()), default=0) + BOX_WIDTH + MARGIN
    height = max((y for _, y in placed.values()), default=0) + BOX_HEIGHT + MARGIN
    return Layout(boxes, arrows, width, height)


def _box(task: Task, x: int, y: int, result: TaskResult | None) -> Box:
    kinds = [task.action_type]
    kinds += ["for each"] if task.for_each is not None else []
    kinds += ["loop"] if task.repeat is not None else []
    kinds += ["when"] if task.when is not None else []
    status = result.status.value if result is not None else "pending"
    detail = status.replace("_", " ")
    if result is not None and result.items:
        detail += f" · {result.items.get('completed', 0)}/{sum(result.items.values())} items"
    if result is not None and result.rounds:
        detail += f" · round {result.rounds}"
    child = result.child_run_id if result is not None else None
    return Box(task.id, x, y, task.id, " · ".join(kinds), status, detail, child)
