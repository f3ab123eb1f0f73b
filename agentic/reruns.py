"""What a rerun takes of an ended run, down to its for-eaches' items and its child runs' tasks
(`RunHandle.rerun`): the earlier run read through its handle, the choice made by the pure
functions of `core.reruns`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentic.core.blobs import encoded_size
from agentic.core.messages import ChildRerun, TaskResult, TaskStatus
from agentic.core.plan import Plan
from agentic.core.reruns import Named, parse_names, rerun_choice, takes_inside
from agentic.errors import RunNotFound, RunResultUnavailable

if TYPE_CHECKING:
    from agentic.client import RunHandle

# The items and loop rounds a rerun takes travel in the new run's input, which its history
# holds: a for-each (a loop) whose items' results (rounds' outputs) are larger than this runs
# all its items (from its first round) again.
MAX_REUSED_BYTES = 1_000_000


@dataclass
class Pick:
    """A rerun's choice: the tasks that run again and those taken as they were, by name
    (`orders[3]`, `report.fetch`: items and child runs' tasks too), the results the new run
    takes, how its sub_plan tasks' child runs run again, and the rounds its loops go on
    after."""

    again: list[str] = field(default_factory=list)
    reused_names: list[str] = field(default_factory=list)
    reused: list[TaskResult] = field(default_factory=list)
    children: dict[str, ChildRerun] = field(default_factory=dict)
    loops: dict[str, list[Any]] = field(default_factory=dict)

    def runs_again(self, *names: str) -> None:
        """Add names to `again` (a sub_plan task that runs again is there already)."""
        self.again += [name for name in names if name not in self.again]


async def pick(
    handle: RunHandle,
    plan: Plan,
    earlier: Mapping[str, TaskResult],
    names: Iterable[str] = (),
    failed: bool = False,
    changed: Iterable[str] = (),
    prefix: str = "",
) -> Pick:
    """What a rerun of `handle`'s run with `plan` runs again and takes (see core.reruns);
    ValueError names what cannot be run again that way."""
    named, changed = parse_names(names, prefix), list(changed)
    again, reused = rerun_choice(plan, earlier, named.tasks, failed, changed, prefix)
    gone = [task_id for task_id in reused if not await handle._output_kept(earlier[task_id])]
    if gone:  # their stored outputs were cleaned up: they run again
        again, reused = rerun_choice(plan, earlier, [*named.tasks, *gone], failed, changed, prefix)
    chosen = Pick(
        again=[prefix + task_id for task_id in again],
        reused_names=[prefix + task_id for task_id in reused],
        reused=[earlier[task_id] for task_id in reused],
    )
    for task_id in again:
        before = earlier.get(task_id)
        if before is None or not takes_inside(plan, task_id, again, changed, named):
            _refuse_within(named, task_id, prefix, "runs again whole (it was named itself, its "
                           "config changed, or a task it depends on runs again)")  # fmt: skip
        elif before.items:
            await _pick_items(handle, chosen, before, named, failed, prefix)
        elif before.child_run_id:
            _refuse_within(named, task_id, prefix, "has no items", items_only=True)
            await _pick_child(handle, chosen, before, named.inner.get(task_id, []), failed, prefix)
        elif (
            before.done_rounds
            and fits_in_input(before.done_rounds)
            and await handle._output_kept(TaskResult(task_id=task_id, output=before.done_rounds))
        ):  # a round's output cleaned up from the blob store: the loop starts again
            _refuse_within(named, task_id, prefix, "is a loop: it goes on from its next round")
            chosen.loops[task_id] = before.done_rounds
            chosen.reused_names.append(f"{prefix}{task_id} ({len(before.done_rounds)} rounds)")
        else:
            _refuse_within(named, task_id, prefix, "has no items nor a child run")
    return chosen


def _refuse_within(
    named: Named, task_id: str, prefix: str, why: str, items_only: bool = False
) -> None:
    """ValueError for a name within `task_id` (an item, a task of its child run) that the
    rerun cannot follow, saying `why`; nothing when there is none."""
    units = [unit for unit in [*named.whole, *named.inner] if unit.startswith(f"{task_id}[")]
    if not items_only and task_id in named.inner:
        units.append(task_id)
    if units:
        unit = units[0]
        name = prefix + (f"{unit}.{named.inner[unit][0]}" if unit in named.inner else unit)
        raise ValueError(f"--from {name!r}: task {prefix + task_id!r} {why}: name the task "
                         "itself instead")  # fmt: skip


def fits_in_input(taken: Any) -> bool:
    """Whether what a rerun takes is small enough to travel in its input (its history)."""
    return encoded_size(taken) <= MAX_REUSED_BYTES


async def _pick_items(
    handle: RunHandle, chosen: Pick, before: TaskResult, named: Named, failed: bool, prefix: str
) -> None:
    """A for-each that runs again: its completed items are taken as they were, but those
    named; a sub_plan item that ran a child runs that child again from within."""
    items = await handle._item_results(before.task_id)
    known = {item.task_id for item in items}
    unknown = [unit for unit in [*named.whole, *named.inner] if unit.startswith(
        f"{before.task_id}[") and unit not in known]  # fmt: skip
    if unknown:
        raise ValueError(f"--from {prefix + unknown[0]!r}: the earlier run has no such item "
                         f"({len(items)} items: {before.task_id}[0] to "
                         f"{before.task_id}[{max(len(items) - 1, 0)}])")  # fmt: skip
    taken = [
        item for item in items
        if item.status == TaskStatus.COMPLETED and item.task_id not in named.whole
        and item.task_id not in named.inner and await handle._output_kept(item)
    ]  # fmt: skip
    if not fits_in_input([item.model_dump(mode="json") for item in taken]):
        taken = []  # too large to travel in the new run's input: every item runs again
    taken_ids = {item.task_id for item in taken}
    chosen.reused += taken
    chosen.reused_names += [prefix + item.task_id for item in taken]
    for item in items:
        if item.task_id in taken_ids:
            continue
        inner = named.inner.get(item.task_id, [])
        if item.child_run_id and item.task_id not in named.whole:
            await _pick_child(handle, chosen, item, inner, failed, prefix)
        else:
            chosen.again.append(prefix + item.task_id)


async def _pick_child(
    handle: RunHandle,
    chosen: Pick,
    before: TaskResult,
    inner: list[str],
    failed: bool,
    prefix: str,
) -> None:
    """A sub_plan task (or item) that runs again from within its child run: the child runs
    again as a rerun of the earlier one, from the tasks named inside it (none named: its
    tasks that did not complete)."""
    name, child_id = prefix + before.task_id, before.child_run_id or ""
    try:
        child = await handle._client.get(child_id)
        result = await child.result()
    except (RunNotFound, RunResultUnavailable):  # gone, or terminated: it runs from its start
        if inner:
            message = (f"--from {name}.{inner[0]}: the earlier child run "
                       f"{child_id} has no result to run again from")  # fmt: skip
            raise ValueError(message) from None
        chosen.runs_again(name)
        return
    if result.plan is None:
        chosen.runs_again(name)
        return
    tasks = {task.task_id: task for task in result.tasks}
    inside = await pick(child, result.plan, tasks, inner, failed or not inner, (), f"{name}.")
    chosen.runs_again(name, *inside.again)
    chosen.reused_names += inside.reused_names
    chosen.children[before.task_id] = ChildRerun(
        rerun_of=child_id, key_scope=await child._key_scope(),
        reused=inside.reused, children=inside.children, resume_loops=inside.loops,
    )  # fmt: skip
