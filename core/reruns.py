"""Which tasks a rerun runs again, and which it takes as they were: pure functions over the
plan and the earlier run's tasks (`rerun`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from agentic.core.messages import TaskResult, TaskStatus
from agentic.core.plan import Plan

NOT_DONE = {TaskStatus.FAILED, TaskStatus.SKIPPED, TaskStatus.CANCELLED}


def downstream(plan: Plan, tasks: Iterable[str]) -> set[str]:
    """`tasks` and every task that depends on one of them, directly or not."""
    found = set(tasks)
    grew = True
    while grew:
        grew = False
        for task in plan.tasks:
            if task.id not in found and any(name in found for name in task.depends_on):
                found.add(task.id)
                grew = True
    return found


def rerun_choice(
    plan: Plan,
    earlier: Mapping[str, TaskResult],
    from_tasks: Iterable[str] = (),
    failed: bool = False,
    changed: Iterable[str] = (),
) -> tuple[list[str], list[str]]:
    """(the tasks to run again, the tasks to take as they were), each in plan order. Named
    tasks, the failed, skipped and cancelled ones with `failed`, and those whose config
    changed run again with everything downstream of them; so does any task the earlier run
    did not complete. ValueError names an unknown task, or asks what to run again."""
    named, changed = list(from_tasks), list(changed)
    unknown = [name for name in named if name not in plan.by_id]
    if unknown:
        ids = ", ".join(task.id for task in plan.tasks)
        raise ValueError(f"--from {unknown[0]!r}: the plan has no such task (its tasks: {ids})")
    if not (named or failed or changed):
        raise ValueError("say what to run again: --from TASK, --failed, or --config TASK=JSON")
    start = set(named) | set(changed)
    if failed:
        start |= {task_id for task_id, task in earlier.items() if task.status in NOT_DONE}
    start |= {
        task.id for task in plan.tasks
        if task.id not in earlier or earlier[task.id].status != TaskStatus.COMPLETED
    }  # fmt: skip
    again = downstream(plan, start & set(plan.by_id))
    order = [task.id for task in plan.tasks]
    return [t for t in order if t in again], [t for t in order if t not in again]
