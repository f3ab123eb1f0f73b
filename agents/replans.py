"""Plan patches from the LLM: what a running plan looks like to it, reading the patch in its
reply, and the planner's prompt when a failure or a person asks for a patch.

A patch reply is `{"add": [<tasks>], "remove": [<task ids>], "reason": "..."}` (the joiner's
replan carries the same fields). It is checked against the plan as it runs (core/patches.py)
before it leaves the activity, so an invalid patch goes back to the LLM once, with its errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from agentic.agents.analyst import DATA_NOTICE, data_block, truncated_json
from agentic.agents.client import JSONRequest, LLMClient
from agentic.agents.planner import plan_outline_schema, planner_system_prompt
from agentic.agents.replies import reply_object, reply_with_repair
from agentic.core.errors import ErrorType
from agentic.core.messages import PatchDraft, PatchRequest, PlanPatch, TaskView
from agentic.core.patches import PatchRefused, parse_added, patched_plan
from agentic.core.plan import Plan, Task

MAX_TASKS_CHARS = 16_000
# What the worker refuses in tasks a patch adds (where they connect): errors for the repair.
TaskCheck = Callable[[list[Task]], Awaitable[list[str]]]
PATCH_MARKER = "Plan patch requested for the run of: "

PATCH_RULES = """\
## Patching a running plan
The plan is already running: some tasks completed, failed or were skipped; others have not
started ("pending"). Do not answer with a whole plan: answer with a patch, one JSON object
{"add": [<task>, ...], "remove": ["<task id>", ...], "reason": "<one or two sentences>"}.
- "add": new tasks, in the task format above, with ids not in the plan. They may depend on
  any task of the plan and use the output of a completed one ("{{ tasks.<id>.output }}").
- "remove": ids of tasks that have not started (status "pending") and should not run. To
  replace a pending task, remove it and add a task with the same id.
- Never remove or repeat a task that completed: its effects happened. Build on its output.
- Tasks that depend on a failed or skipped task never run: remove them, and add tasks that
  reach the goal another way."""


def task_table(views: list[TaskView]) -> str:
    """The tasks as the LLM sees them: each plan entry with its status, output and error."""
    rows = [view.model_dump(exclude_defaults=True) for view in views]
    return truncated_json(rows, MAX_TASKS_CHARS)


def running_plan(goal: str, views: list[TaskView]) -> tuple[Plan, dict[str, str]]:
    """The plan the views describe, and each task's status."""
    plan = Plan.model_validate({"goal": goal, "tasks": [view.task for view in views]})
    return plan, {str(view.task["id"]): view.status for view in views}


async def parse_patch(
    data: dict[str, Any],
    goal: str,
    views: list[TaskView],
    action_types: list[str],
    check: TaskCheck | None = None,
) -> tuple[PlanPatch | None, list[str]]:
    """The patch in a reply's object, checked against the running plan (and by `check`); or
    None and why."""
    add, remove = data.get("add") or [], data.get("remove") or []
    if not isinstance(add, list) or not isinstance(remove, list):
        return None, ['"add" must be a list of tasks and "remove" a list of task ids']
    tasks, problems = parse_added(add)
    if problems:
        return None, problems
    plan, statuses = running_plan(goal, views)
    try:
        patched_plan(plan, statuses, tasks, [str(task_id) for task_id in remove], action_types)
    except PatchRefused as refused:
        return None, refused.problems
    refused_by_worker = await check(tasks) if check is not None else []
    if refused_by_worker:
        return None, refused_by_worker
    reason = str(data.get("reason") or "")
    return PlanPatch(add=tasks, remove=[str(task_id) for task_id in remove], reason=reason), []


def patch_schema(action_types: list[str]) -> dict[str, Any]:
    """The patch reply's JSON schema (tasks as in a plan's outline)."""
    task = plan_outline_schema(action_types)["properties"]["tasks"]["items"]
    return {
        "type": "object",
        "properties": {
            "add": {"type": "array", "items": task},
            "remove": {"type": "array", "items": {"type": "string"}},
            "reason": {"type": "string"},
        },
        "required": ["add", "remove", "reason"],
        "additionalProperties": False,
    }


def patch_messages(request: PatchRequest) -> list[dict]:
    """The user message asking for a patch: why, and the run so far."""
    why = [f"Why a patch is needed: {request.reason}"] if request.reason else []
    if request.failed_task:
        why.append(
            f"Task {request.failed_task!r} failed and will not run again; the tasks that "
            "depend on it will not run unless you replace them."
        )
    if request.hint:
        why.append(f"A person asked for this change: {request.hint}")
    content = "\n".join(
        [
            f"{PATCH_MARKER}{request.goal}",
            "",
            *why,
            "",
            DATA_NOTICE,
            "",
            "The plan's tasks, in order, each with its status and output:",
            data_block("tasks", task_table(request.tasks)),
            "",
            "Answer with the patch as one JSON object.",
        ]
    )
    return [{"role": "user", "content": content}]


async def draft_patch(
    client: LLMClient,
    request: PatchRequest,
    max_tokens: int,
    attempt: int = 1,
    check: TaskCheck | None = None,
) -> PatchDraft:
    """The planner's patch for a running plan: one call and one repair call. Raises
    `LLMError` when there is no valid patch."""
    llm_request = JSONRequest(
        purpose="replan",
        system=planner_system_prompt(request.action_types) + "\n\n" + PATCH_RULES,
        messages=patch_messages(request),
        schema_name="plan_patch",
        schema=patch_schema(request.action_types),
        max_tokens=max_tokens,
    )

    async def parse(text: str) -> tuple[PlanPatch | None, list[str]]:
        data, problems = reply_object(text)
        if data is None:
            return None, problems
        return await parse_patch(data, request.goal, request.tasks, request.action_types, check)

    patch, usage, calls = await reply_with_repair(
        client,
        llm_request,
        parse,
        lambda errors: (
            "the planner's patch is not valid after a repair round: " + "; ".join(errors)
        ),
        ErrorType.INVALID_PATCH,
        attempt,
    )
    return PatchDraft(patch=patch, usage=usage, calls=calls)
