"""Scheduling, as pure functions over the run's tasks: what is ready, what can never run, what
critical task was missed. No Temporal calls here: unit-tested in milliseconds."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from agentic.core.messages import FINISHED_TASK_STATUSES, TaskResult, TaskStatus
from agentic.core.plan import Plan, Task
from agentic.core.policy import destinations

BLOCKING_STATUSES = {TaskStatus.FAILED, TaskStatus.SKIPPED, TaskStatus.CANCELLED}
EXECUTING_STATUSES = {TaskStatus.RUNNING, TaskStatus.ANALYZING}


@dataclass
class Schedule:
    """The plan and where each of its tasks is."""

    plan: Plan
    tasks: dict[str, TaskResult]
    max_parallel: int
    max_parallel_per_host: int | None = None
    executing_items: int = 0  # items of for-eaches executing (they hold slots too)

    def executing(self) -> int:
        """Tasks and items executing: counted from the plan's tasks, not from every item (a
        for-each may have thousands)."""
        plan_tasks = sum(1 for task in self.plan.tasks
                         if self.tasks[task.id].status in EXECUTING_STATUSES)  # fmt: skip
        return plan_tasks + self.executing_items


def done_with(result: TaskResult) -> bool:
    """Whether the tasks downstream of this one may run: it completed, or its condition was
    false (a branch not taken)."""
    return result.status == TaskStatus.COMPLETED or result.condition_false


def blocks(result: TaskResult) -> bool:
    """Whether the tasks downstream of this one can never run: it failed, was cancelled, or
    was skipped for any reason but its own condition."""
    return result.status in BLOCKING_STATUSES and not result.condition_false


def ready_tasks(schedule: Schedule) -> list[Task]:
    """Pending tasks whose dependencies are all done with (see done_with), in plan order."""
    return [
        task
        for task in schedule.plan.tasks
        if schedule.tasks[task.id].status == TaskStatus.PENDING
        and all(done_with(schedule.tasks[dep]) for dep in task.depends_on)
    ]


def has_free_slot(schedule: Schedule) -> bool:
    """Fewer than max_parallel tasks executing (tasks waiting for approval do not count)."""
    return schedule.executing() < schedule.max_parallel


def host_of(task: Task) -> str | None:
    """The host a task's action talks to (an api_call's, a poll's), None for one that talks to
    no host, or to one only known once its references are resolved."""
    found = destinations(task.action_type, task.action_config)
    if not found or "{{" in found[0][0]:
        return None
    return found[0][0].lower()


def startable_tasks(schedule: Schedule) -> list[Task]:
    """The ready tasks that may start now, in plan order: within max_parallel, and within
    max_parallel_per_host for the tasks that call the same host."""
    free = schedule.max_parallel - schedule.executing()
    if free <= 0:
        return []
    limit = schedule.max_parallel_per_host
    busy = Counter(
        host_of(task)
        for task in schedule.plan.tasks
        if limit is not None and schedule.tasks[task.id].status in EXECUTING_STATUSES
    )
    startable: list[Task] = []
    for task in ready_tasks(schedule):
        host = host_of(task) if limit is not None else None
        if host is not None and limit is not None and busy[host] >= limit:
            continue
        busy[host] += 1
        startable.append(task)
        if len(startable) == free:
            break
    return startable


def has_pending(schedule: Schedule) -> bool:
    """Some task has not started yet."""
    return any(result.status == TaskStatus.PENDING for result in schedule.tasks.values())


def skip_blocked(schedule: Schedule) -> list[str]:
    """Skip the pending tasks downstream of a failed, skipped or cancelled one (not one
    skipped by its own condition), transitively, each with the reason; the ids skipped."""
    skipped: list[str] = []
    changed = True
    while changed:
        changed = False
        for task in schedule.plan.tasks:
            result = schedule.tasks[task.id]
            blockers = [dep for dep in task.depends_on if blocks(schedule.tasks[dep])]
            if result.status == TaskStatus.PENDING and blockers:
                blocker = schedule.tasks[blockers[0]]
                result.status = TaskStatus.SKIPPED
                result.reason = f"dependency {blocker.task_id!r} {blocker.status.value}"
                skipped.append(task.id)
                changed = True
    return skipped


def mark_never_ran(tasks: dict[str, TaskResult], status: TaskStatus, reason: str) -> None:
    """Give every task that did not finish `status` and `reason`."""
    for result in tasks.values():
        if result.status not in FINISHED_TASK_STATUSES:
            result.status = status
            result.reason = reason


def missed_critical(schedule: Schedule) -> str | None:
    """Why the goal was not reached although the run went on: the critical tasks that did not
    complete (rejected, timed out, or downstream of a skipped non-critical task)."""
    missed = [
        f"{task.id} ({schedule.tasks[task.id].status.value}: {schedule.tasks[task.id].reason})"
        for task in schedule.plan.tasks
        if task.critical
        and not done_with(schedule.tasks[task.id])
        and not schedule.tasks[task.id].replanned
    ]
    return "critical tasks did not complete: " + "; ".join(missed) if missed else None
