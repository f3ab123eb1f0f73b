"""Planning with a streamed reply: each task of the plan is handed over as soon as it is
complete and valid, while the LLM is still writing the next ones.

The reply is parsed as it grows with jiter's partial mode, from its first `{` on (so prose or a
```json fence before it does no harm). A task is complete once the parser has moved past it:
the next task has begun, or the reply is complete JSON. It is handed over when it validates as
a `Task`, is valid together with the tasks handed over before it and refused by none of the
engine's rules (core/policy.py), and depends only on tasks already handed over; one that waits
for a dependency written after it is handed over right after that one.

The whole reply is then checked as `draft_plan` checks it. When it is a valid plan, its tasks
not handed over yet are handed over then, in order: those of a reply the stream could not read
as it came (raw control characters in its strings, a brace in prose before the plan: what
`parse_plan` forgives). So every task of a valid plan has been handed over when `stream_plan`
returns. Tasks handed over stay handed over even when the plan turns out invalid: the draft
carries the errors.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jiter

from agentic.agents.client import LLMClient
from agentic.agents.planner import plan_draft, planning_request
from agentic.core.messages import PlanDraft, PlanRequest
from agentic.core.plan import Plan, Task
from agentic.core.policy import plan_refusals

# Called with each task handed over and its index in the plan's tasks.
TaskCallback = Callable[[Task, int], Awaitable[None]]


@dataclass(frozen=True)
class StreamedDraft:
    """A streamed planning call: the draft `draft_plan` would have returned, and the ids of
    the tasks handed over while the reply streamed, in the order they were."""

    draft: PlanDraft
    handed_over: list[str]


class TaskStream:
    """The tasks of a plan reply that become complete as its text grows (see the module doc).

    Feed it the whole text so far each time; the text is expected to only grow."""

    def __init__(self) -> None:
        self._text = ""
        self._complete = 0  # elements of `tasks` complete so far

    def feed(self, text_so_far: str) -> list[dict[str, Any]]:
        """The task objects of `tasks` that became complete since the last feed, in order."""
        return [task for _, task in self.feed_indexed(text_so_far)]

    def feed_indexed(self, text_so_far: str) -> list[tuple[int, dict[str, Any]]]:
        """`feed`, each task with its index in `tasks`."""
        grown = text_so_far.removeprefix(self._text)
        self._text = text_so_far
        # A task completes when the next one opens, or the reply closes: not without a brace.
        if "{" not in grown and "}" not in grown:
            return []
        tasks, whole = _tasks_so_far(text_so_far)
        complete = tasks if whole else tasks[:-1]
        new = list(enumerate(complete))[self._complete :]
        self._complete = max(self._complete, len(complete))
        return [(index, task) for index, task in new if isinstance(task, dict)]


async def stream_plan(
    client: LLMClient,
    request: PlanRequest,
    max_tokens: int,
    on_task: TaskCallback,
    attempt: int = 1,
) -> StreamedDraft:
    """`draft_plan` with a streamed reply: `on_task(task, index)` gets each task as soon as
    it is complete and valid (see the module doc). Raises `LLMError` when no endpoint
    answers; tasks handed over before a stream failed stay handed over."""
    tasks = TaskStream()
    handover = _Handover(request.goal, on_task)

    async def on_text(text: str) -> None:
        for index, data in tasks.feed_indexed(text):
            await handover.offer(data, index)

    reply = await client.stream_json(
        planning_request(request, max_tokens), attempt, on_text=on_text
    )
    draft = plan_draft(reply, request.goal)
    if draft.plan is not None:
        handed_ids = {task.id for task in handover.handed_over}
        for index, task in enumerate(draft.plan.tasks):
            if task.id not in handed_ids:
                await handover.offer(task, index)
    return StreamedDraft(draft, [task.id for task in handover.handed_over])


def _tasks_so_far(text: str) -> tuple[list[Any], bool]:
    """The elements of the reply's `tasks` so far (the last one maybe partial), and whether
    the reply's JSON is complete."""
    start = text.find("{")
    if start < 0:
        return [], False
    try:
        # Complete JSON, whatever follows it (a closing fence, prose).
        value, whole = json.JSONDecoder(strict=False).raw_decode(text, start)[0], True
    except json.JSONDecodeError:
        try:
            value, whole = jiter.from_json(text[start:].encode(), partial_mode=True), False
        except ValueError:  # not JSON as it comes: wait for the whole reply
            return [], False
    if isinstance(value, dict) and "tasks" not in value and isinstance(value.get("plan"), dict):
        value = value["plan"]  # as parse_plan reads it
    tasks = value.get("tasks") if isinstance(value, dict) else None
    return (tasks if isinstance(tasks, list) else []), whole


class _Handover:
    """Hands tasks over in order, each once its dependencies are handed over and it is valid
    together with them; a task that is not is dropped (the whole plan's check reports it)."""

    def __init__(self, goal: str, on_task: TaskCallback) -> None:
        self._goal = goal
        self._on_task = on_task
        self.handed_over: list[Task] = []
        self._waiting: list[tuple[Task, int]] = []

    async def offer(self, data: dict[str, Any] | Task, index: int) -> None:
        """Take in one complete task; hand over what is ready."""
        try:
            self._waiting.append((Task.model_validate(data), index))
        except (ValueError, TypeError):
            return
        while (ready := self._next_ready()) is not None:
            task, task_index = ready
            if self._acceptable(task):
                self.handed_over.append(task)
                await self._on_task(task, task_index)

    def _next_ready(self) -> tuple[Task, int] | None:
        """The first waiting task whose dependencies are all handed over, taken out."""
        handed_ids = {task.id for task in self.handed_over}
        for position, (task, _) in enumerate(self._waiting):
            if set(task.depends_on) <= handed_ids:
                return self._waiting.pop(position)
        return None

    def _acceptable(self, task: Task) -> bool:
        """True when the task is valid with those handed over (a new id, references only
        upstream) and the engine refuses none of it."""
        try:
            plan = Plan(goal=self._goal, tasks=[*self.handed_over, task])
        except ValueError:
            return False
        return not plan_refusals(plan)
