"""What changed between two runs (`cli.py diff`): tasks added and removed, configs, statuses
and outputs that differ (a short structural diff of the JSON), and the durations side by side.
Pure functions over two runs' states or results."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from agentic.core.messages import RunResult, RunState, TaskResult

MAX_CHANGES_SHOWN = 8


class TaskDiff(BaseModel):
    """One task present in both runs, and what differs."""

    task_id: str
    config: list[str] = Field(default_factory=list, description="the config's changes")
    status: tuple[str, str] | None = None
    output: list[str] = Field(default_factory=list, description="the output's changes")
    seconds: tuple[float | None, float | None] = (None, None)

    @property
    def changed(self) -> bool:
        """Whether anything but the duration differs."""
        return bool(self.config or self.status or self.output)


class RunDiff(BaseModel):
    """Two runs compared: A is the first, B the second."""

    run_a: str
    run_b: str
    status: tuple[str, str]
    added: list[str] = Field(default_factory=list, description="tasks only B has")
    removed: list[str] = Field(default_factory=list, description="tasks only A has")
    tasks: list[TaskDiff] = Field(default_factory=list, description="tasks both have")
    duration_seconds: tuple[float | None, float | None] = (None, None)


def diff_runs(a: RunState | RunResult, b: RunState | RunResult) -> RunDiff:
    """What changed from run A to run B."""
    tasks_a, tasks_b = _tasks(a), _tasks(b)
    configs_a, configs_b = _configs(a), _configs(b)
    both = [task_id for task_id in tasks_b if task_id in tasks_a]
    compared = [
        _task_diff(tasks_a[task_id], tasks_b[task_id], configs_a.get(task_id),
                   configs_b.get(task_id))
        for task_id in both
    ]  # fmt: skip
    return RunDiff(
        run_a=a.workflow_id,
        run_b=b.workflow_id,
        status=(_status(a), _status(b)),
        added=[task_id for task_id in tasks_b if task_id not in tasks_a],
        removed=[task_id for task_id in tasks_a if task_id not in tasks_b],
        tasks=compared,
        duration_seconds=(_duration(a), _duration(b)),
    )


def json_changes(a: Any, b: Any, path: str = "", limit: int = MAX_CHANGES_SHOWN) -> list[str]:
    """Where two JSON values differ, one line per change (`body.rows[2].age: 36 -> 37`, `+
    body.next`, `- body.cursor`), at most `limit` lines (the last says how many more)."""
    changes: list[str] = []
    _walk(a, b, path, changes)
    if len(changes) > limit:
        return [*changes[: limit - 1], f"... and {len(changes) - limit + 1} more changes"]
    return changes


def _walk(a: Any, b: Any, path: str, changes: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(key for key in b if key not in a)]:
            where = f"{path}.{key}" if path else str(key)
            if key not in b:
                changes.append(f"- {where}")
            elif key not in a:
                changes.append(f"+ {where}: {_short(b[key])}")
            else:
                _walk(a[key], b[key], where, changes)
    elif isinstance(a, list) and isinstance(b, list):
        for index in range(max(len(a), len(b))):
            where = f"{path}[{index}]"
            if index >= len(b):
                changes.append(f"- {where}")
            elif index >= len(a):
                changes.append(f"+ {where}: {_short(b[index])}")
            else:
                _walk(a[index], b[index], where, changes)
    elif a != b:
        changes.append(f"{path or '(the whole value)'}: {_short(a)} -> {_short(b)}")


def _short(value: Any, most: int = 60) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= most else text[: most - 1] + "…"


def _task_diff(
    a: TaskResult, b: TaskResult, config_a: Any, config_b: Any
) -> TaskDiff:  # fmt: skip
    status = (a.status.value, b.status.value) if a.status != b.status else None
    return TaskDiff(
        task_id=a.task_id,
        config=json_changes(config_a, config_b),
        status=status,
        output=json_changes(a.output, b.output) if a.output != b.output else [],
        seconds=(a.duration_seconds, b.duration_seconds),
    )


def _tasks(run: RunState | RunResult) -> dict[str, TaskResult]:
    return {task.task_id: task for task in run.tasks}


def _configs(run: RunState | RunResult) -> dict[str, Any]:
    if run.plan is None:
        return {}
    return {
        task.id: task.action_config.model_dump(mode="json", by_alias=True)
        for task in run.plan.tasks
    }


def _status(run: RunState | RunResult) -> str:
    if run.status is not None:
        return run.status.value
    return run.phase.value if isinstance(run, RunState) else ""


def _duration(run: RunState | RunResult) -> float | None:
    return run.duration_seconds if isinstance(run, RunResult) else None
