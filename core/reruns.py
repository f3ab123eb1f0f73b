"""Which tasks a rerun runs again, and which it takes as they were: pure functions over the
plan and the earlier run's tasks (`rerun`).

A rerun names tasks (`load`), a for-each's items (`orders[3]`) and the tasks of a sub_plan's
child run (`report.fetch`, `regions[2].fetch`): a task named within runs again, but only from
there (its other items, its child's other tasks, are taken as they were)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from agentic.core.messages import TaskResult, TaskStatus
from agentic.core.plan import Plan

NOT_DONE = {TaskStatus.FAILED, TaskStatus.SKIPPED, TaskStatus.CANCELLED}
NAME = re.compile(
    r"^(?P<unit>(?P<task>[A-Za-z0-9_-]+)(?:\[(?P<index>\d+)\])?)(?:\.(?P<inner>.+))?$"
)


@dataclass(frozen=True)
class Named:
    """What a rerun's `--from` names, by the task of this run each name falls in."""

    whole: set[str] = field(default_factory=set)  # tasks and items named themselves
    inner: dict[str, list[str]] = field(default_factory=dict)  # task or item -> in its child

    @property
    def tasks(self) -> set[str]:
        """The tasks of this run that run again for a name (an item's: its for-each)."""
        return {unit.split("[", 1)[0] for unit in [*self.whole, *self.inner]}

    def taken_whole(self, task_id: str) -> bool:
        """Whether the task itself was named (not one of its items, nor a task inside)."""
        return task_id in self.whole


def parse_names(names: Iterable[str], prefix: str = "") -> Named:
    """`load`, `orders[3]`, `report.fetch`, `regions[2].fetch.page` by the task or item of
    this run they fall in. ValueError names one that is none of these."""
    named = Named()
    for name in names:
        match = NAME.match(name.strip())
        if match is None:
            raise ValueError(
                f"--from {prefix + name!r}: name a task (load), an item of a for-each "
                "(orders[3]) or a task of a sub-plan's child run (report.fetch)"
            )
        if match["inner"]:
            named.inner.setdefault(match["unit"], []).append(match["inner"])
        else:
            named.whole.add(match["unit"])
    return named


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
    prefix: str = "",
) -> tuple[list[str], list[str]]:
    """(the tasks to run again, the tasks to take as they were), each in plan order. Named
    tasks, the failed, skipped and cancelled ones with `failed`, and those whose config
    changed run again with everything downstream of them; so does any task the earlier run
    did not complete. ValueError names an unknown task, or asks what to run again; `prefix`
    is how the run is named in it (`report.` for a child run's)."""
    named, changed = list(from_tasks), list(changed)
    unknown = [name for name in named if name not in plan.by_id]
    if unknown:
        ids = ", ".join(task.id for task in plan.tasks)
        raise ValueError(
            f"--from {prefix + unknown[0]!r}: the plan has no such task (its tasks: {ids})"
        )
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


def takes_inside(plan: Plan, task_id: str, again: Iterable[str], changed: Iterable[str],
                 named: Named) -> bool:  # fmt: skip
    """Whether a task that runs again may take what it did before from within (its items,
    its child run's tasks): not when it was named itself or its config changed, nor when a
    task it depends on runs again (its input may differ)."""
    rerun = set(again)
    return (
        not named.taken_whole(task_id)
        and task_id not in set(changed)
        and not any(dependency in rerun for dependency in plan.by_id[task_id].depends_on)
    )
