"""A sub_plan's round: a child run of this workflow, with the task's inputs, the parent's
approval mode and network policy, and the budgets the parent has left. Its output is the
child's task outputs by task id."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import CancelledError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from agentic.core.actions.base import ChildRunConfig
    from agentic.core.blobs import holds_blobs
    from agentic.core.errors import ErrorType
    from agentic.core.messages import (
        ChildRerun,
        RunInput,
        RunOptions,
        RunResult,
        RunStatus,
        result_in_failure,
    )
    from agentic.core.plan import Plan, Task
    from agentic.workflows.execution import (
        Parent,
        TaskFailed,
        failure,
        transform_in_activity,
    )
    from agentic.workflows.visibility import plan_details, run_memo, run_search_attributes

WORKFLOW_NAME = "AgentRun"  # agent_run.py's, which imports this module
# Child runs and continued histories get their run's workflow task timeout.
INHERIT_TASK_TIMEOUT = "inherit-task-timeout"


def child_run_id(activity_id: str) -> str:
    """`<parent's workflow id>.<task>`: the child run of a sub_plan's round (`run-1.report`,
    `run-1.regions[2]`, `run-1.report:round2`), the same in every history of the parent."""
    return f"{workflow.info().workflow_id}.{activity_id}"


async def run_child(
    task: Task,
    config: ChildRunConfig,
    activity_id: str,
    options: RunOptions,
    outputs: dict[str, Any],
    parent: Parent,
) -> tuple[Any, int]:
    """Run the sub-plan as a child run and wait for it; TaskFailed when it did not complete
    (the analyst may retry it: a new child run), asyncio.CancelledError when it was
    cancelled."""
    depth = parent.depth + 1
    child_options = parent.options_left() or options
    if depth > child_options.max_depth:
        message = (
            f"a sub-plan here would be a run at depth {depth}, more than max_depth "
            f"({child_options.max_depth}); flatten a level into its parent plan"
        )
        raise TaskFailed(failure(message, ErrorType.TOO_DEEP))
    if config.template:
        message = (
            f"template {config.template!r} was not put in place when the run started (a run "
            "started by the CLI, the API, the console or a schedule does it)"
        )
        raise TaskFailed(failure(message, ErrorType.INVALID_CONFIG))
    plan = Plan.model_validate(config.plan) if config.plan is not None else None
    child_input = RunInput(
        goal=config.goal or (plan and plan.goal) or f"sub-plan {task.label}",
        plan=plan,
        options=child_options,
        inputs=await _inputs(task, config, activity_id, options, outputs),
        depth=depth,
    )
    if parent.rerun is not None:
        child_input = as_rerun(child_input, parent.rerun)
    child_id = child_run_id(activity_id)
    handle = await workflow.start_child_workflow(
        WORKFLOW_NAME,
        child_input,
        id=child_id,
        result_type=RunResult,
        task_queue=workflow.info().task_queue,
        static_summary=f"sub-plan {task.label}",
        memo=run_memo(child_input),
        static_details=plan_details(plan) if plan is not None else "The LLM plans the goal.",
        search_attributes=run_search_attributes(child_input),
        task_timeout=inherited_task_timeout(),
    )
    parent.started(child_id)
    try:
        result = await handle
    except ChildWorkflowError as error:
        if isinstance(error.cause, CancelledError):
            if parent.stopping():
                raise asyncio.CancelledError() from error
            message = f"child run {child_id} was cancelled on its own ('status {child_id}')"
            raise TaskFailed(failure(message, ErrorType.SUB_PLAN_FAILED)) from None
        carried = result_in_failure(error.cause)
        if carried is None:
            message = f"child run {child_id} ended without a result ({error.cause or error})"
            raise TaskFailed(failure(message, ErrorType.SUB_PLAN_FAILED, retryable=True)) from None
        result = carried
    parent.ended(result)
    if result.status != RunStatus.COMPLETED:
        message = f"child run {child_id} {result.status.value}: {result.error or 'no reason'}"
        raise TaskFailed(failure(message, ErrorType.SUB_PLAN_FAILED, retryable=True))
    return {child_task.task_id: child_task.output for child_task in result.tasks}, 1


def inherited_task_timeout() -> timedelta | None:
    """This run's workflow task timeout, for its child runs and its next history (None,
    Temporal's default of 10 s, in runs recorded before)."""
    if not workflow.patched(INHERIT_TASK_TIMEOUT):
        return None
    return workflow.info().task_timeout


def as_rerun(child_input: RunInput, rerun: ChildRerun) -> RunInput:
    """The child's input as a rerun of the child the earlier run ran: its tasks in `rerun`
    taken as they were, its requests keeping their idempotency keys where unchanged."""
    scoped = child_input.options.model_copy(update={"idempotency_scope": rerun.key_scope})
    update = {"options": scoped, "rerun_of": rerun.rerun_of, "reused": rerun.reused,
              "rerun_children": rerun.children or None,
              "resume_loops": rerun.resume_loops or None}  # fmt: skip
    return child_input.model_copy(update=update)


async def _inputs(
    task: Task,
    config: ChildRunConfig,
    activity_id: str,
    options: RunOptions,
    outputs: dict[str, Any],
) -> dict[str, Any]:
    """The inputs, resolved: by an activity when they refer to outputs kept in the blob store
    (the workflow never loads them). TaskFailed when, resolved, they are too large to be a
    run's input (the history would hold them)."""
    if not outputs:
        return dict(config.inputs)
    resolved = await transform_in_activity(
        task, config.inputs, "@", f"{activity_id}:inputs", f"{task.label}: resolve its inputs",
        options, outputs=outputs,
    )  # fmt: skip
    if holds_blobs(resolved) or not isinstance(resolved, dict):
        message = (
            "the sub-plan's inputs, resolved, are larger than the blob threshold: a child run's "
            "inputs are in its history; pass a smaller part (a path into the output), or give "
            "the child the list with for_each on this task"
        )
        raise TaskFailed(failure(message, ErrorType.INVALID_INPUT))
    return resolved
