"""The run: plan the goal, get approval, run the plan's DAG in parallel, analyse failures.

Deterministic workflow code: time, sleep and ids come from `workflow.*`; everything that
touches the world is an activity. Scheduling, failure decisions and edits are pure functions
(scheduling.py, decisions.py, approvals.py); running one round of a task is execution.py.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable, Iterator, Set
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.contrib.workflow_streams import WorkflowStream
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from agentic.core import events, policy
    from agentic.core.actions.base import counted
    from agentic.core.conditions import CONDITION_FALSE
    from agentic.core.errors import ErrorType
    from agentic.core.foreach import (
        allowed_failures,
        describe_items,
        item_id,
        item_index,
        parent_of,
    )
    from agentic.core.messages import (
        OUTCOME_ERROR_TYPES,
        AnalysisReply,
        AnswerRecord,
        AnswerRequest,
        ApprovalSignal,
        CancelSignal,
        CarriedState,
        DecisionRecord,
        EditRequest,
        EditResult,
        FailureDecision,
        ItemArchive,
        JoinerReply,
        JoinerRequest,
        LLMCall,
        LoopState,
        PatchDraft,
        PatchRequest,
        PauseSignal,
        Phase,
        PlanDraft,
        PlanPatch,
        PlanRequest,
        ReplanRecord,
        ReplanRequest,
        RunInput,
        RunMetrics,
        RunOptions,
        RunResult,
        RunState,
        RunStatus,
        StreamedTask,
        TaskFailure,
        TaskResult,
        TaskStatus,
        TokenUsage,
    )
    from agentic.core.patches import PatchRefused
    from agentic.core.plan import Plan, Task
    from agentic.core.references import UnresolvedReference
    from agentic.core.registry import ACTIONS
    from agentic.core.risk import edited_risk, risk_of
    from agentic.core.subplans import bind_inputs, goal_with_inputs
    from agentic.workflows import (
        budgets,
        conditions,
        decisions,
        foreach,
        loops,
        questions,
        replans,
        scheduling,
        subplans,
    )
    from agentic.workflows.approvals import Waiting, edited_plan, rejection
    from agentic.workflows.events import EventTeller
    from agentic.workflows.execution import (
        Parent,
        TaskFailed,
        cause_message,
        execute_action,
        resolved_config,
        summarize,
    )
    from agentic.workflows.loops import LoopRound
    from agentic.workflows.replans import describe_replan
    from agentic.workflows.rounds import run_round
    from agentic.workflows.streaming import kept_streamed, streamed_plan_note
    from agentic.workflows.visibility import (
        GOAL,
        GOAL_MAX_CHARS,
        PROGRESS_ROWS,
        STATUS,
        TASK_COUNT,
        answer_details,
        plan_summary,
        progress_details,
    )

WORKFLOW_NAME = "AgentRun"
# Runs started before this patch return every outcome as a completed execution.
OUTCOME_AS_EXECUTION_STATUS = "outcome-as-execution-status"
# Runs started before this patch do not name the LLM calls in their memo.
LLM_CALLS_IN_MEMO = "llm-calls-in-memo"
# Runs started before this patch run a modified config unapproved in approval mode plan.
PLAN_MODE_MODIFY = "plan-mode-modify-approval"
# Runs started before budgets existed replay without them (one had no task or LLM call limit).
BUDGETS = "run-budgets"
# Runs started before this patch never continue as new.
CONTINUE_AS_NEW = "continue-as-new"
# Runs started before this patch keep every item of a for-each in their state.
ITEM_ARCHIVE = "for-each-item-archive"
# Runs started before this patch run a loop's rounds in one history, however many.
LOOP_CONTINUE_AS_NEW = "loop-continue-as-new"
# Runs started before this patch neither join (answer the goal) nor replan.
REPLANNING = "joiner-and-replans"
# Runs started before this patch plan before they run anything.
STREAM_DISPATCH = "streaming-dispatch"
# Runs started before this patch show `running` in AgentStatus while a question waits.
AWAITING_ANSWER_STATUS = "awaiting-answer-status"
# Runs started before this patch end as cancelled when a task waiting for approval is stopped
# because another task failed the run.
STOP_IS_NO_CANCEL = "stopped-approval-wait-is-no-cancel"
# Runs started before this patch tell their events as they did (core/events.RunView.events_v2):
# a task started when it takes its slot, a large for-each's end as a retry, a for-each taken up
# after continue-as-new as started again, and no edits. Their event followers' long-poll
# Updates completed on those events, as their histories recorded and replay.
EVENTS_V2 = "events-told-v2"
# Runs started before this patch show no risk for a waiting task a person edited.
EDIT_TELLS_RISK = "edited-task-tells-its-risk"
# Runs started before this patch list a continued run with its last history's start, and
# carry into their next history the memo they started with, not the one they have.
FIRST_START_IN_MEMO = "first-start-in-memo"
CONTINUING = object()  # a loop stopped between rounds: its run continues as new
PLAN_ROUNDS = 2
NO_LLM = "no LLM is configured"
PROGRESS_EVERY = timedelta(seconds=1)  # a for-each's item counts in the Web UI's details
Verdict = tuple[bool, ApprovalSignal]


@workflow.defn(name=WORKFLOW_NAME)
class AgentRunWorkflow:
    """One agent run, from goal (or plan) to result."""

    @workflow.init
    def __init__(self, run_input: RunInput) -> None:
        self._options = run_input.options
        self._goal = run_input.goal_text
        self._plan: Plan | None = None
        self._phase = Phase.PLANNING
        self._tasks = events.TaskTable()
        self._outputs: dict[str, Any] = {}
        self._item_tasks: dict[str, Task] = {}  # a for-each's items, by id (`orders[3]`)
        self._archives: dict[str, ItemArchive] = {}  # large for-eaches' ended items
        self._item_jobs: dict[str, dict[str, asyncio.Task[None]]] = {}  # running, by for-each
        self._loops: dict[str, LoopState] = {}  # loops stopped to continue as new
        self._decisions: list[DecisionRecord] = []
        self._decisions_not_kept: dict[str, int] = {}  # a for-each's item decisions, counted
        self._analyses = 0
        self._usage = TokenUsage()
        self._llm_calls: list[LLMCall] = []
        self._plan_verdict: Verdict | None = None
        self._task_verdicts: dict[str, Verdict] = {}
        self._cancel: CancelSignal | None = None
        self._paused: PauseSignal | None = None
        self._pause_changes = 0
        self._run_error: str | None = None
        self._status: RunStatus | None = None
        self._published_status = ""
        self._started_at = workflow.now()
        self._execution_started_at = self._started_at
        self._budgeted = False
        self._result: RunResult | None = None
        self._histories = 1
        self._ended_here = 0  # tasks ended in this history
        self._continuing = False
        self._depth = run_input.depth  # 0 for a run, 1 for its child run, ...
        self._inputs = run_input.inputs
        self._rerun_of = run_input.rerun_of or ""  # a rerun: the run it runs again
        self._reused = {task.task_id: task for task in run_input.reused or []}
        self._rerun_children = run_input.rerun_children or {}  # by sub_plan task (or item) id
        self._resume_loops = dict(run_input.resume_loops or {})  # their rounds done, by task
        self._children: dict[str, str] = {}  # running child runs: task id -> workflow id
        self._signals_to_children: list[asyncio.Task[None]] = []
        self._progress_shown_at = workflow.now()
        self._joining = replans.joiner_on(self._options, run_input.plan is None, self._depth)
        self._replanning = False  # set in run(): runs recorded before replans replay without
        self._replans: list[ReplanRecord] = []
        self._patches: list[tuple[PlanPatch, ReplanRecord]] = []  # to apply, in order
        self._patch_waiting: ReplanRecord | None = None  # a patch awaiting approval
        self._answer: Any = None
        self._answer_note = ""
        self._streaming = False  # tasks arrive while the planner's reply streams
        self._stream_invalid: str | None = None  # the whole streamed plan was not valid
        self._streamed: list[str] = []
        self._stream_note = ""
        self._questions = questions.Questions()  # ask tasks waiting for a person's answer
        self._verdicts: list[events.Verdict] = []  # every verdict taken, for the events
        self._edits: list[events.Edit] = []  # every edit taken, for the events
        self._replans_in_flight = 0  # a person's replan being written (an async Update)
        self._events = EventTeller(WorkflowStream(run_input.stream_state))
        self._events_v2 = workflow.patched(EVENTS_V2)
        if run_input.carried is not None:
            resumed = self._restore(run_input.plan, run_input.carried)
            told_running = resumed if self._events_v2 else []
            self._events.start_from(self._event_view(), told_running)

    @workflow.run
    async def run(self, run_input: RunInput) -> RunResult:
        """Plan, approve, execute, and report."""
        self._budgeted = workflow.patched(BUDGETS)
        self._replanning = workflow.patched(REPLANNING)
        self._following = asyncio.create_task(self._events.follow(self._event_view))
        if run_input.carried is not None:
            await self._execute_and_join()
            return await self._finish(self._final_status())
        self._publish()
        if run_input.plan is None and self._streams():
            return await self._finish(await self._run_streamed())
        plan = run_input.plan or await self._plan_goal()
        if plan is None:
            return await self._finish(self._final_status())
        plan = self._with_inputs(plan)
        if plan is None:
            return await self._finish(self._final_status())
        self._adopt(plan)
        over = budgets.plan_over_budget(plan, self._options) if self._budgeted else None
        if over:
            self._run_error = over
            scheduling.mark_never_ran(self._tasks, TaskStatus.SKIPPED, "never ran: " + over)
            return await self._finish(self._final_status())
        # A child's inline plan was approved with its parent's plan.
        approved_by_parent = self._depth > 0 and run_input.plan is not None
        if self._options.approval == "plan" and not approved_by_parent:
            verdict = await self._await_plan_approval()
            if verdict is not None:
                return await self._finish(verdict)
        await self._execute_and_join()
        return await self._finish(self._final_status())

    # ----- signals, updates and queries ------------------------------------------------------

    @workflow.signal(name="approve")
    def approve(self, signal: ApprovalSignal) -> None:
        """Approve the plan, or with `task` one risky task."""
        self._record_verdict(True, signal)

    @workflow.signal(name="reject")
    def reject(self, signal: ApprovalSignal) -> None:
        """Reject the plan (the run ends as `rejected`), or with `task` skip one risky task."""
        self._record_verdict(False, signal)

    @workflow.signal(name="cancel")
    def cancel(self, signal: CancelSignal) -> None:
        """Stop scheduling, cancel running tasks, record which tasks never ran."""
        if self._cancel is None:
            self._cancel = signal

    @workflow.signal(name="planned_task")
    def planned_task(self, streamed: StreamedTask) -> None:
        """A task of the plan being streamed, from the planning activity: it joins the plan
        (and may start) unless it repeats one, does not fit the tasks so far, or the run's
        limits refuse it; the whole plan is checked when it has arrived."""
        task = streamed.task
        if not self._streaming or task.id in self._tasks:
            return  # a retried planning call hands over its tasks again
        if len(self._streamed) >= self._options.max_tasks:
            return
        allowed = self._options.llm_action_types
        if allowed and task.action_type not in allowed:
            return
        try:
            plan = Plan(goal=self._goal, tasks=[*(self._plan.tasks if self._plan else []), task])
        except ValidationError:
            return
        self._plan = plan
        self._tasks[task.id] = TaskResult(task_id=task.id, name=task.name,
                                          action_type=task.action_type)  # fmt: skip
        self._streamed.append(task.id)

    @workflow.signal(name="pause")
    def pause(self, signal: PauseSignal) -> None:
        """Start no new task until `resume`; running tasks finish; child runs pause too."""
        if self._phase != Phase.FINISHED and self._paused is None:
            self._paused = signal
            self._pause_changes += 1
            self._publish()
            self._tell_children("pause", signal)

    @workflow.signal(name="resume")
    def resume(self, signal: PauseSignal) -> None:
        """Schedule tasks again after `pause`, in child runs too."""
        if self._paused is not None:
            self._paused = None
            self._pause_changes += 1
            self._publish()
            self._tell_children("resume", signal)

    def _tell_children(self, name: str, signal: PauseSignal) -> None:
        """Signal the running child runs (the handler itself stays synchronous, so the pause
        holds before the run's next step)."""
        for child_id in self._children.values():
            child = workflow.get_external_workflow_handle(child_id)
            self._signals_to_children.append(asyncio.create_task(child.signal(name, signal)))

    @workflow.update(name="edit")
    def edit(self, request: EditRequest) -> EditResult:
        """Replace the plan (while it awaits approval) or a task's config (before it runs)."""
        plan, edited = self._edited(request)
        if request.plan is not None:
            self._adopt(plan)
        else:
            self._plan = plan
            self._tasks[edited].risk = self._risk_as_edited(plan.by_id[edited])
        workflow.logger.info("plan edited by %s: %s", request.by or "someone", edited)
        self._edits.append(events.Edit(request.by, None if request.plan is not None else edited))
        return EditResult(plan=plan, edited=edited)

    @edit.validator
    def _validate_edit(self, request: EditRequest) -> None:
        plan, edited = self._edited(request)
        # Only here, not in the handler: edits accepted before these rules replay as they were.
        over = budgets.plan_over_budget(plan, self._options)
        if over:
            raise ValueError(over)
        refused = policy.refusals(plan.tasks if edited == "plan" else [plan.by_id[edited]])
        if refused:
            raise ValueError("; ".join(refused))

    def _risk_as_edited(self, task: Task) -> str:
        if self._tasks[task.id].status != TaskStatus.WAITING_APPROVAL:
            return ""  # looked at when it runs
        if not workflow.patched(EDIT_TELLS_RISK):
            return ""
        try:
            config, _ = resolved_config(task, self._outputs, self._absent())
        except TaskFailed:
            config = None  # the attempt reports the problem
        return edited_risk(task, config)

    def _edited(self, request: EditRequest) -> tuple[Plan, str]:
        return edited_plan(self._waiting(), request)

    @workflow.update(name="replan")
    async def replan(self, request: ReplanRequest) -> ReplanRecord:
        """A person's replan: the planner writes a patch from the hint; it applies before the
        next task starts (in approval mode plan, once approved)."""
        self._replans_in_flight += 1
        try:
            draft = await self._draft_patch(hint=request.hint)
        finally:
            self._replans_in_flight -= 1
        if isinstance(draft, str):
            return self._record_replan("person", by=request.by, hint=request.hint, note=draft)
        reason = draft.patch.reason
        return self._propose(draft.patch, "person", by=request.by, hint=request.hint, reason=reason)

    @replan.validator
    def _validate_replan(self, request: ReplanRequest) -> None:
        if not self._replanning:
            raise ValueError("this run started before replanning existed: it cannot be replanned")
        if not request.hint.strip():
            raise ValueError("give a hint saying what should change, e.g. 'use the v2 endpoint'")
        if self._phase == Phase.FINISHED:
            raise ValueError("the run has ended: start a new run for more work")
        if self._phase != Phase.RUNNING or self._plan is None:
            raise ValueError(
                f"the run is {self._phase.value}: there is no running plan to patch yet (while "
                "the plan awaits approval, change it with edit)"
            )
        if self._patch_waiting is not None:
            raise ValueError(
                f"replan {self._patch_waiting.number} awaits approval: approve or reject it first"
            )
        if not replans.replans_left(self._options, self._replans):
            raise ValueError(replans.replan_budget_reached(self._options))

    @workflow.update(name="answer")
    def answer_question(self, request: AnswerRequest) -> AnswerRecord:
        """A person's answer to a task's question (an `ask`): it becomes the task's output."""
        self._questions.give(request)
        workflow.logger.info("task %s answered by %s", request.task, request.by or "someone")
        return AnswerRecord(task=request.task, value=request.value, by=request.by or "someone")

    @answer_question.validator
    def _validate_answer(self, request: AnswerRequest) -> None:
        refusal = self._questions.refusal(request)
        if refusal:
            raise ValueError(refusal)

    @workflow.query(name="status")
    def status(self) -> RunState:
        """The run as it is now, with outputs shortened to a summary."""
        tasks = [
            task.model_copy(
                update={"output": summarize(task.output), "items": self._item_counts(task)}
            )
            for task in self._plan_tasks()
        ]
        return RunState(
            workflow_id=workflow.info().workflow_id,
            goal=self._goal,
            phase=self._phase,
            status=self._status,
            error=self._run_error,
            plan=self._plan,
            tasks=tasks,
            decisions=self._decisions,
            decisions_not_kept=self._decisions_not_kept,
            usage=self._usage,
            llm_calls=self._llm_calls,
            cancel_requested=self._cancel is not None,
            approval=self._options.approval,
            paused=self._paused is not None,
            paused_by=self._paused.by if self._paused else "",
            answer=self._answer,
            answer_note=self._answer_note,
            rerun_of=self._rerun_of,
            replans=self._replans,
            questions=list(self._questions.waiting.values()),
        )

    @workflow.query(name="items")
    def items(self, task_id: str) -> list[TaskResult]:
        """A for-each's items (`orders[0]`, ...), outputs shortened to a summary; empty for
        a task that is not a for-each or has not started its items."""
        return [
            task.model_copy(update={"output": summarize(task.output)})
            for task in self._items_of(task_id)
        ]

    @workflow.query(name="item_results")
    def item_results(self, task_id: str) -> list[TaskResult]:
        """A for-each's items not archived, with their whole outputs (parts kept in the blob
        store as references): what a rerun takes of them."""
        return self._items_of(task_id)

    @workflow.query(name="item_archive")
    def item_archive(self, task_id: str) -> ItemArchive | None:
        """A large for-each's archived items: blob-store chunks of their results (None for
        another task)."""
        return self._archives.get(task_id)

    def _items_of(self, task_id: str) -> list[TaskResult]:
        """A for-each's items as the run holds them (none for another task)."""
        prefix = f"{task_id}["
        return [task for item, task in self._tasks.items() if item.startswith(prefix)]

    def _plan_tasks(self) -> list[TaskResult]:
        """The plan's tasks, without the items of its for-eaches (see the items query)."""
        return list(self._iter_plan_tasks())

    def _iter_plan_tasks(self) -> Iterator[TaskResult]:
        if self._plan is not None:
            tasks = self._tasks
            yield from (tasks[task.id] for task in self._plan.tasks if task.id in tasks)

    @workflow.query(name="output")
    def output(self, task_id: str) -> TaskResult | None:
        """One task with its whole output as the run holds it (parts kept in the blob store
        as references); None for a task not in the plan."""
        return self._tasks.get(task_id)

    @workflow.query(name="result")
    def result(self) -> RunResult | None:
        """The run's result once it ended (None before): also for a run that Temporal
        cancelled, whose execution carries no result of its own."""
        return self._result

    def _record_verdict(self, approved: bool, signal: ApprovalSignal) -> None:
        """Keep the first verdict on what waits now; a verdict on anything else is ignored,
        so an approval can never apply to a plan or a config nobody has seen yet."""
        if signal.task is None:
            if self._phase == Phase.AWAITING_APPROVAL or self._patch_waiting is not None:
                if self._plan_verdict is None:
                    self._verdicts.append(events.Verdict(approved, signal.by, signal.reason, None))
                self._plan_verdict = self._plan_verdict or (approved, signal)
            else:
                workflow.logger.warning("plan verdict ignored: the run is %s", self._phase.value)
            return
        task = self._tasks.get(signal.task)
        if task is None or task.status != TaskStatus.WAITING_APPROVAL:
            workflow.logger.warning("verdict for task %s ignored: not waiting", signal.task)
            return
        if signal.task not in self._task_verdicts:
            self._verdicts.append(events.Verdict(approved, signal.by, signal.reason, signal.task))
        self._task_verdicts.setdefault(signal.task, (approved, signal))

    def _waiting(self) -> Waiting:
        return Waiting(
            phase=self._phase,
            plan=self._plan,
            plan_verdict_given=self._plan_verdict is not None,
            tasks=self._tasks,
            task_verdicts=frozenset(self._task_verdicts),
        )

    # ----- planning and approval -------------------------------------------------------------

    def _with_inputs(self, plan: Plan) -> Plan | None:
        """A child run's plan with its inputs filled in; None (the run fails) when the plan
        uses an input not given, or a config is not valid once filled."""
        if self._inputs is None:
            return plan
        try:
            return bind_inputs(plan, self._inputs)
        except (UnresolvedReference, ValueError) as error:
            self._run_error = f"the sub-plan's inputs do not fit its plan: {error}"
            return None

    async def _plan_goal(
        self, rounds: int = PLAN_ROUNDS, request: PlanRequest | None = None
    ) -> Plan | None:
        """A valid plan for the goal, with a repair round; None (the run fails) without one."""
        request = request or self._plan_request()
        for _ in range(rounds):
            draft = await self._draft("plan_goal", request)
            if draft is None:
                return None
            refused = _disallowed_actions(draft.plan, self._options.llm_action_types)
            if draft.plan is not None and not refused:
                return draft.plan
            request = self._plan_request(draft, refused)
        self._run_error = "the planner's reply was not a valid plan: " + "; ".join(request.errors)
        return None

    def _plan_request(self, rejected: PlanDraft | None = None, refused: Any = ()) -> PlanRequest:
        """The planning request; after a rejected draft, its repair round."""
        request = PlanRequest(goal=goal_with_inputs(self._goal, self._inputs),
                              action_types=self._options.llm_action_types,
                              allow_hosts=self._options.allow_hosts)  # fmt: skip
        if rejected is None:
            return request
        errors = [*rejected.errors, *refused]
        return request.model_copy(update={"previous_reply": rejected.reply, "errors": errors})

    async def _draft(self, activity: str, request: PlanRequest) -> PlanDraft | None:
        """One planning activity's draft; None when the run must end (a budget, a failure)."""
        over = budgets.llm_over_budget(self._usage, self._options) if self._budgeted else None
        if over:
            self._run_error = over
            return None
        try:
            draft: PlanDraft = await self._llm_activity(activity, request, PlanDraft,
                                                        "plan the goal")  # fmt: skip
        except ActivityError as error:
            if isinstance(error.cause, CancelledError):
                self._note_cancellation()
            else:
                self._run_error = f"planning failed: {cause_message(error)}"
            return None
        return draft

    # ----- streaming dispatch ----------------------------------------------------------------

    def _streams(self) -> bool:
        """Whether the plan streams in, tasks starting as they arrive: not when a person
        approves the whole plan first, nor for a child run's goal (its inputs fill the plan)."""
        if not self._options.stream_plan or self._options.approval == "plan":
            return False
        return self._inputs is None and workflow.patched(STREAM_DISPATCH)

    async def _run_streamed(self) -> RunStatus:
        """Plan with a streamed reply while the tasks that arrived run; then run the rest. A
        whole plan that is not valid stops the streamed tasks and goes to the repair round;
        what completed stays completed, never repeated."""
        self._streaming = True
        executor = asyncio.create_task(self._execute_streamed())
        draft = await self._draft("plan_goal_streamed", self._plan_request())
        self._streaming = False
        if draft is None:
            await executor
            return self._final_status()
        refused = [
            *_disallowed_actions(draft.plan, self._options.llm_action_types),
            *self._changed_after_streaming(draft.plan),
        ]
        if draft.plan is not None and not refused:
            # As for a plan that did not stream: too big a plan ends the run, unrepaired.
            self._run_error = budgets.plan_over_budget(draft.plan, self._options)
            if self._run_error is None:
                self._take_streamed(draft.plan)
            await executor
            return self._final_status()
        self._stream_invalid = "; ".join([*draft.errors, *refused])
        await executor
        completed = [t for t in self._streamed if self._tasks[t].status == TaskStatus.COMPLETED]
        self._stream_invalid = None
        plan = await self._plan_goal(PLAN_ROUNDS - 1, self._plan_request(draft, refused))
        self._stream_note = streamed_plan_note(self._streamed, completed, plan, self._plan)
        if plan is None:
            return self._final_status()
        self._adopt(plan, keep=kept_streamed(completed, self._plan, plan))
        over = budgets.plan_over_budget(plan, self._options)
        if over:
            self._run_error = over
            return self._final_status()
        await self._execute_and_join()
        return self._final_status()

    async def _execute_streamed(self) -> None:
        """Run the tasks as they stream in, then the whole plan once it arrived."""
        await workflow.wait_condition(lambda: self._plan is not None or not self._streaming)
        if self._plan is not None and not self._must_stop():
            await self._execute_and_join()

    def _changed_after_streaming(self, plan: Plan | None) -> list[str]:
        """Why the whole plan cannot take up the streamed tasks as they ran (none: it can)."""
        if plan is None or self._plan is None:
            return []
        changed = [t.id for t in self._plan.tasks if plan.by_id.get(t.id) != t]
        return [f"tasks changed after they were streamed: {', '.join(changed)}"] if changed else []

    def _take_streamed(self, plan: Plan) -> None:
        """The whole plan has arrived: its tasks not streamed join the run, pending."""
        self._plan = plan
        self._goal = self._goal or plan.goal
        for task in plan.tasks:
            if task.id not in self._tasks:
                self._tasks[task.id] = TaskResult(task_id=task.id, name=task.name,
                                                  action_type=task.action_type)  # fmt: skip
        self._publish_plan(plan)

    def _adopt(self, plan: Plan, keep: frozenset[str] = frozenset()) -> None:
        """Take `plan` as the run's, each task pending (but those in `keep`, as they are)."""
        self._plan = plan
        self._goal = self._goal or plan.goal
        self._tasks = events.TaskTable({
            task.id: self._tasks[task.id]
            if task.id in keep
            else TaskResult(task_id=task.id, name=task.name, action_type=task.action_type)
            for task in plan.tasks
        })  # fmt: skip
        for task_id, earlier in self._reused.items():  # a rerun: taken as they are, never run
            if task_id in self._tasks and task_id not in keep:
                self._tasks[task_id] = earlier.model_copy(update={"reused_from": self._rerun_of})
                self._outputs[task_id] = earlier.output
        self._publish_plan(plan)

    def _publish_plan(self, plan: Plan) -> None:
        workflow.upsert_memo(
            {"goal": self._goal, "plan": plan_summary([task.label for task in plan.tasks])}
        )
        workflow.upsert_search_attributes(
            [GOAL.value_set(self._goal[:GOAL_MAX_CHARS]), TASK_COUNT.value_set(len(plan.tasks))]
        )

    async def _await_plan_approval(self) -> RunStatus | None:
        """None when approved; otherwise the status the run ends with."""
        self._set_phase(Phase.AWAITING_APPROVAL)
        approved, signal = await self._await_verdict(lambda: self._plan_verdict)
        if self._cancel is not None:
            reason = "the run was cancelled before approval"
            scheduling.mark_never_ran(self._tasks, TaskStatus.CANCELLED, reason)
            return RunStatus.CANCELLED
        if approved:
            return None
        self._run_error = "plan " + rejection(signal)
        scheduling.mark_never_ran(self._tasks, TaskStatus.SKIPPED, "the plan was rejected")
        return RunStatus.REJECTED

    async def _await_verdict(self, verdict: Callable[[], Verdict | None]) -> Verdict:
        """Wait for `verdict()` (or a cancel); no answer in time counts as a rejection."""
        timeout = self._options.approval_timeout_seconds
        try:
            await workflow.wait_condition(
                lambda: verdict() is not None or self._cancel is not None,
                timeout=timedelta(seconds=timeout),
            )
        except TimeoutError:
            return False, ApprovalSignal(by="timeout", reason=f"no approval within {timeout:g}s")
        except asyncio.CancelledError:
            if workflow.cancellation_reason() is None and workflow.patched(STOP_IS_NO_CANCEL):
                raise  # the run stopped the waiting task (another task failed it): no cancel
            self._note_cancellation()
        return verdict() or (False, ApprovalSignal(reason="the run was cancelled"))

    def _note_cancellation(self) -> None:
        """The workflow itself was cancelled (`cancel`, the Web UI, `temporal workflow cancel`)."""
        if self._cancel is None:
            reason = workflow.cancellation_reason() or "the workflow was cancelled through Temporal"
            self._cancel = CancelSignal(reason=reason)

    async def _approved(self, task: Task, modified: bool = False) -> bool:
        """Approval for a risky task (mode `risky`; in mode `plan`, a config the analyst
        modified after the plan was approved); False when it is rejected.

        While it waits, the task holds no execution slot; once approved it waits for one."""
        mode = self._options.approval
        unseen_change = mode == "plan" and modified and workflow.patched(PLAN_MODE_MODIFY)
        if mode != "risky" and not unseen_change:
            return True
        reason = await self._risk_of(task)
        if not reason:
            return True
        result = self._tasks[task.id]
        previous_status = result.status
        result.risk, result.status = reason, TaskStatus.WAITING_APPROVAL
        self._publish()
        approved, signal = await self._await_verdict(lambda: self._task_verdicts.get(task.id))
        self._task_verdicts.pop(task.id, None)
        if self._cancel is not None:
            raise asyncio.CancelledError()  # recorded as cancelled, like every unfinished task
        if not approved:
            result.status, result.reason = TaskStatus.SKIPPED, "approval " + rejection(signal)
            self._publish()
            return False
        result.approved_by = signal.by or "someone"
        if task.id not in self._item_tasks:  # an item's slot is its for-each's (_run_items)
            await workflow.wait_condition(lambda: scheduling.has_free_slot(self._schedule()))
        result.status = previous_status
        self._publish()
        return True

    async def _risk_of(self, task: Task) -> str:
        """Why the task needs approval: its rule, or a look at the world (an overwrite)."""
        try:
            config, _ = resolved_config(task, self._outputs, self._absent())
        except TaskFailed:
            return ""  # the attempt reports the problem
        reason, check = risk_of(task, config)
        if check is None:
            return reason
        activity_id = f"{task.id}:{check.activity_suffix}"
        summary = f"{task.label}: {check.question}"
        try:
            found = await execute_action(task, check.config, activity_id, self._options,
                                         summary, check.action_type)  # fmt: skip
        except TaskFailed:
            return ""  # e.g. a path the workspace refuses: the attempt reports it and fails
        return check.reason if found.output.get(check.flag) else ""

    # ----- execution -------------------------------------------------------------------------

    def _schedule(self) -> scheduling.Schedule:
        assert self._plan is not None
        options = self._options
        executing_items = sum(
            1 for jobs in self._item_jobs.values() for item in jobs
            if self._tasks[item].status in scheduling.EXECUTING_STATUSES
        )  # fmt: skip
        return scheduling.Schedule(self._plan, self._tasks, options.max_parallel,
                                   options.max_parallel_per_host, executing_items)  # fmt: skip

    async def _execute_plan(self) -> None:
        if self._phase != Phase.RUNNING:
            self._execution_started_at = workflow.now()
        self._set_phase(Phase.RUNNING)
        running: dict[str, asyncio.Task[None]] = {}
        budget = self._options.max_run_seconds
        deadline = asyncio.create_task(self._run_deadline(budget)) if budget else None
        while not self._must_stop():
            if self._patches:
                await self._apply_patches()
            scheduling.skip_blocked(self._schedule())
            continuing = self._time_to_continue()
            if self._paused is None and not continuing:
                self._start_ready_tasks(running)
            if (
                not running
                and not self._patches
                and not self._streaming
                and (
                    continuing
                    or self._paused is None
                    or not scheduling.has_pending(self._schedule())
                )
            ):
                break
            await self._wait_for_change(running)
            running = self._without_finished(running)
        if deadline is not None:
            deadline.cancel()
        await self._stop_running(running)
        if self._continuing and not self._must_stop():
            await self._continue_as_new()
        self._close_unfinished()

    def _time_to_continue(self) -> bool:
        """Whether this history has grown enough for the run to go on in a new one (tasks
        still to start, and Temporal's suggestion or `continue_as_new_after_tasks` tasks ended
        here): then no task starts, and once the running ones end, the run continues as new."""
        if self._streaming:
            return False
        if self._continuing or not scheduling.has_pending(self._schedule()):
            return self._continuing
        self._continuing = self._history_full() and workflow.patched(CONTINUE_AS_NEW)
        return self._continuing

    async def _continue_as_new(self) -> None:
        """Go on in a new history with the same workflow id, carrying the run's state."""
        await workflow.wait_condition(self._no_replan_in_flight)
        self._events.tell(self._event_view())
        self._events.close()
        await workflow.wait_condition(workflow.all_handlers_finished)
        carried = CarriedState(
            tasks=[task for task in self._tasks.values() if not self._recreated(task)],
            decisions=self._decisions,
            analyses=self._analyses,
            usage=self._usage,
            llm_calls=self._llm_calls,
            paused=self._paused,
            pause_changes=self._pause_changes,
            published_status=self._published_status,
            started_at=self._started_at,
            execution_started_at=self._execution_started_at,
            histories=self._histories,
            archives=self._archives,
            decisions_not_kept=self._decisions_not_kept,
            loops=self._loops,
            joining=self._joining,
            replans=self._replans,
            patches=[patch for patch, _ in self._patches],
            streamed_tasks=self._streamed,
            stream_note=self._stream_note,
        )
        workflow.logger.info("continuing as new after %d tasks in this history", self._ended_here)
        workflow.continue_as_new(
            RunInput(
                goal=self._goal,
                plan=self._plan,
                options=self._options,
                carried=carried,
                depth=self._depth,
                rerun_of=self._rerun_of or None,
                reused=self._reused_items_left(),
                rerun_children=self._rerun_children or None,
                resume_loops=self._resume_loops or None,
                stream_state=self._events.state(),
            ),
            task_timeout=subplans.inherited_task_timeout(),
            memo=self._next_memo(),
        )

    def _next_memo(self) -> dict[str, Any] | None:
        """The next history's memo: this one's as it is now (Temporal would carry the memo the
        run started with), and when the run started, for `list` (None: as before the patch)."""
        if not workflow.patched(FIRST_START_IN_MEMO):
            return None
        return {**workflow.memo(), "started_at": self._started_at.isoformat()}

    def _reused_items_left(self) -> list[TaskResult] | None:
        """A rerun's items not taken yet (their for-each has not reached them): the next
        history takes them (the rest are in its carried state)."""
        left = [task for task_id, task in self._reused.items() if task_id not in self._tasks]
        return left or None

    def _recreated(self, task: TaskResult) -> bool:
        """An item of a large for-each that has not started: recreated in the next history,
        so not carried into it."""
        parent = parent_of(task.task_id)
        return parent in self._archives and task.status == TaskStatus.PENDING and not task.attempts

    def _restore(self, plan: Plan | None, carried: CarriedState) -> list[str]:
        """Take up the run where its previous history left it; the tasks that were running
        (a for-each or a loop that stopped to continue as new), to be run again."""
        self._plan = plan
        self._phase = Phase.RUNNING
        self._tasks = events.TaskTable({task.task_id: task for task in carried.tasks})
        resumed = []
        for task in self._tasks.values():
            # A for-each that stopped starting items to continue as new is taken up again.
            if task.status == TaskStatus.RUNNING and parent_of(task.task_id) is None:
                task.status = TaskStatus.PENDING
                resumed.append(task.task_id)
        self._outputs = {
            task.task_id: task.output
            for task in carried.tasks
            if task.status == TaskStatus.COMPLETED
        }
        self._decisions = carried.decisions
        self._analyses = carried.analyses
        self._usage = carried.usage
        self._llm_calls = carried.llm_calls
        self._paused = carried.paused
        self._pause_changes = carried.pause_changes
        self._published_status = carried.published_status
        self._started_at = carried.started_at
        self._execution_started_at = carried.execution_started_at
        self._histories = carried.histories + 1
        self._archives = dict(carried.archives)
        self._decisions_not_kept = dict(carried.decisions_not_kept)
        self._loops = dict(carried.loops)
        self._joining = carried.joining
        self._streamed = list(carried.streamed_tasks)
        self._stream_note = carried.stream_note
        self._replans = list(carried.replans)
        waiting = self._replans[len(self._replans) - len(carried.patches) :]
        self._patches = list(zip(carried.patches, waiting, strict=True))
        return resumed

    async def _wait_for_change(self, running: dict[str, asyncio.Task[None]]) -> None:
        """Until a job ends, a slot frees for a ready task, the run pauses/resumes or stops."""
        pause_changes, streaming = self._pause_changes, self._streaming

        def changed() -> bool:
            schedule = self._schedule()
            startable = (
                self._paused is None
                and not self._continuing
                and bool(scheduling.startable_tasks(schedule))
            )
            return (
                self._must_stop()
                or bool(self._patches)
                or self._streaming != streaming
                or self._pause_changes != pause_changes
                or any(job.done() for job in running.values())
                or startable
            )

        try:
            await workflow.wait_condition(changed)
        except asyncio.CancelledError:
            self._note_cancellation()

    async def _run_deadline(self, max_seconds: float) -> None:
        """One durable timer for the run's wall-clock budget, from the start of execution
        (planning and waiting for the plan's approval do not count): when it fires, the run
        stops."""
        so_far = (workflow.now() - self._execution_started_at).total_seconds()
        await workflow.sleep(max(max_seconds - so_far, 0.001))
        elapsed = (workflow.now() - self._execution_started_at).total_seconds()
        self._run_error = self._run_error or budgets.run_time_exceeded(elapsed, self._options)

    def _without_finished(self, running: dict[str, asyncio.Task[None]]) -> dict[str, Any]:
        for job in running.values():
            if job.done() and not job.cancelled():
                job.result()  # a bug in a task's coroutine fails the workflow task, visibly
                self._ended_here += 1
        return {task_id: job for task_id, job in running.items() if not job.done()}

    def _start_ready_tasks(self, running: dict[str, asyncio.Task[None]]) -> None:
        for task in scheduling.startable_tasks(self._schedule()):
            self._tasks[task.id].status = TaskStatus.RUNNING
            running[task.id] = asyncio.create_task(self._run_task(task.id))

    def _must_stop(self) -> bool:
        return (
            self._cancel is not None
            or self._run_error is not None
            or self._stream_invalid is not None
        )

    async def _stop_running(self, running: dict[str, asyncio.Task[None]]) -> None:
        for job in running.values():
            job.cancel()
        for task_id, job in running.items():
            try:
                await job
            except asyncio.CancelledError:
                result = self._tasks[task_id]
                result.status = TaskStatus.CANCELLED
                result.reason = self._stop_reason()
                result.finished_at = workflow.now()

    def _close_unfinished(self) -> None:
        if self._cancel is not None:
            status, reason = TaskStatus.CANCELLED, "never ran: " + self._stop_reason()
        elif self._run_error is not None or self._stream_invalid is not None:
            status, reason = TaskStatus.SKIPPED, "never ran: " + self._stop_reason()
        else:
            status, reason = TaskStatus.SKIPPED, "never ran: its dependencies did not complete"
        scheduling.mark_never_ran(self._tasks, status, reason)

    def _stop_reason(self) -> str:
        if self._cancel is not None:
            who = f" by {self._cancel.by}" if self._cancel.by else ""
            why = f": {self._cancel.reason}" if self._cancel.reason else ""
            return f"run cancelled{who}{why}"
        if self._stream_invalid is not None:
            return f"the streamed plan was not valid ({self._stream_invalid})"
        return self._run_error or ""

    # ----- one task --------------------------------------------------------------------------

    def _current(self, task_id: str) -> Task:
        item = self._item_tasks.get(task_id)
        if item is not None:
            return item
        assert self._plan is not None
        return self._plan.by_id[task_id]

    async def _run_task(self, task_id: str) -> None:
        """Run a task (its loop's rounds, for a task that repeats) until it completes or a
        decision ends it."""
        result = self._tasks[task_id]
        resumed = task_id in self._loops  # a loop taken up in a new history: decided before
        if not resumed and not await self._condition_holds(self._current(task_id)):
            return
        if self._current(task_id).for_each is not None:
            await self._run_for_each(task_id)
            return
        if not resumed and not await self._approved(self._current(task_id)):
            return
        await workflow.wait_condition(lambda: self._paused is None)
        result.started_at = result.started_at if resumed else workflow.now()
        done: Done | object | None
        if self._current(task_id).repeat is None:
            done = await self._run_rounds(task_id)
        else:
            done = await self._run_loop(task_id)
            if done is CONTINUING:
                return
        if isinstance(done, Done):
            result.output, result.error = done.output, None
            result.output_summary = done.summary
            result.status = TaskStatus.COMPLETED
            self._outputs[task_id] = done.output
        self._finish_task(result)

    async def _run_rounds(self, task_id: str, loop: LoopRound | None = None) -> Done | None:
        """Run the task's action (for a loop, this round of it) until it completes; None when
        a decision ended the task instead. A `modify` in a loop changes this round only.
        TaskFailed when a loop's round cannot be made (see loops.round_task)."""
        result = self._tasks[task_id]
        round_number = 1
        modified_round: Task | None = None
        while True:
            # An edit or a modify may have changed the task since the last round.
            current = modified_round or self._runnable(task_id, loop)
            try:
                result.status = TaskStatus.RUNNING
                config, deferred = resolved_config(current, self._outputs, self._absent())
                output, attempts = await run_round(
                    current, config, round_number, self._options, deferred,
                    loop_round=loop.number if loop else 0, parent=self._as_parent(task_id),
                )  # fmt: skip
            except TaskFailed as failed:
                result.attempts += failed.failure.attempts
                result.error = failed.failure
                next_task = await self._handle_failure(current, failed.failure, loop is None)
                modified = next_task is not None and next_task is not current
                if next_task is None or (
                    modified and not await self._approved(next_task, modified=True)
                ):
                    return None
                if loop is not None and modified:
                    modified_round = next_task
                round_number += 1
                continue
            result.attempts += attempts
            return Done(output, ACTIONS[current.action_type].describe(output))

    def _as_parent(self, task_id: str) -> Parent:
        """This run, as a child run started by the task sees it."""

        def started(child_id: str) -> None:
            self._tasks[task_id].child_run_id = child_id
            self._children[task_id] = child_id

        def ended(result: RunResult) -> None:
            self._children.pop(task_id, None)
            self._account_llm(result.usage, result.llm_calls)

        def options_left() -> RunOptions:
            elapsed = (workflow.now() - self._execution_started_at).total_seconds()
            return budgets.left_for_child(self._options, self._usage, elapsed)

        def ask(config: Any) -> Any:
            return self._questions.ask(self._tasks[task_id], config, self._options, self._publish)

        rerun = self._rerun_children.get(task_id)
        return Parent(self._depth, options_left, started, ended, self._must_stop, ask, rerun)

    def _runnable(self, task_id: str, loop: LoopRound | None) -> Task:
        task = self._current(task_id)
        return task if loop is None else loops.round_task(task, loop)

    async def _run_loop(self, task_id: str) -> Done | object | None:
        """Run the rounds of a task's loop until its `until` holds; the list of their outputs.
        Reaching `repeat.max` first fails the task (LoopLimit). When its history has grown
        enough, it stops between rounds (CONTINUING) and goes on in the run's next history,
        its outputs so far kept in the blob store."""
        result = self._tasks[task_id]
        repeat = self._current(task_id).repeat
        assert repeat is not None
        kept = self._loops.pop(task_id, None) or LoopState(index=0)
        outputs: list[Any] = []  # this history's rounds'
        if task_id in self._resume_loops:  # a rerun goes on after the earlier run's rounds
            outputs = self._resume_loops.pop(task_id)
            kept = LoopState(index=len(outputs), previous=outputs[-1])
            result.rounds = len(outputs)
        loop = LoopRound(kept.index, kept.previous)
        may_continue = workflow.patched(LOOP_CONTINUE_AS_NEW)
        while loop.index < repeat.max:
            await workflow.wait_condition(lambda: self._paused is None)
            try:
                done = await self._run_rounds(task_id, loop)
                if done is None:
                    result.done_rounds = rounds_done(kept, outputs)
                    return None
                outputs.append(done.output)
                result.rounds = loop.number
                if await loops.until_holds(self._current(task_id), loop, done.output,
                                           self._options):  # fmt: skip
                    output = await self._loop_output(task_id, kept, outputs)
                    return Done(output, f"{counted(loop.number, 'round')}; last: {done.summary}")
            except TaskFailed as failed:
                self._fail_task(result, failed.failure)
                result.done_rounds = rounds_done(kept, outputs)
                return None
            loop = LoopRound(loop.index + 1, done.output)
            if may_continue:
                self._ended_here += 1
                if self._history_full():
                    kept = await self._archive_rounds(task_id, kept, outputs)
                    self._loops[task_id] = kept.model_copy(
                        update={"index": loop.index, "previous": loop.previous}
                    )
                    result.status = TaskStatus.PENDING
                    return CONTINUING
        message = f"reached repeat.max ({repeat.max} rounds) before {repeat.until!r} held"
        self._fail_task(result, TaskFailure(message=message, error_type=ErrorType.LOOP_LIMIT))
        return None

    def _history_full(self) -> bool:
        """Whether this history has grown enough for the run to go on in a new one:
        `continue_as_new_after_tasks` tasks (and loop rounds) ended here, or Temporal suggests
        it."""
        return (
            self._ended_here >= self._options.continue_as_new_after_tasks
            or workflow.info().is_continue_as_new_suggested()
        )

    async def _archive_rounds(self, task_id: str, kept: LoopState, outputs: list[Any]) -> LoopState:
        """`kept` with this history's rounds' outputs added to the blob store."""
        rounds = [
            TaskResult(task_id=item_id(task_id, kept.rounds + index), status=TaskStatus.COMPLETED,
                       output=output)
            for index, output in enumerate(outputs)
        ]  # fmt: skip
        refs = await foreach.archive(rounds, self._options)
        return kept.model_copy(
            update={"chunks": [*kept.chunks, *refs], "rounds": kept.rounds + len(outputs)}
        )

    async def _loop_output(self, task_id: str, kept: LoopState, outputs: list[Any]) -> Any:
        """Every round's output, in order: from this history's, and the blob store's for a
        loop that went on across histories."""
        task = self._current(task_id)
        if not kept.chunks:
            return await loops.loop_output(task, outputs, self._options)
        kept = await self._archive_rounds(task_id, kept, outputs)
        return await foreach.join_archive(task, kept.chunks, kept.rounds, self._options)

    async def _run_for_each(self, task_id: str) -> None:
        """Run a for-each's items (each as a task of its own, `orders[3]`) within max_parallel
        and max_parallel_per_host, then complete it with their outputs in order, or fail it
        when more than max_failures failed. When the run continues as new meanwhile, it stops
        starting items and is taken up again in the new history."""
        result = self._tasks[task_id]
        task = self._current(task_id)
        result.started_at = result.started_at or workflow.now()
        try:
            count = await foreach.item_count(task, self._outputs, self._absent(), self._options)
            if count > self._options.max_items:
                raise TaskFailed(foreach.too_many_items(count, self._options))
        except TaskFailed as failed:
            self._fail_task(result, failed.failure)
            self._finish_task(result)
            return
        if (count > foreach.ARCHIVE_AFTER_ITEMS and task_id not in self._archives
                and workflow.patched(ITEM_ARCHIVE)):  # fmt: skip
            self._archives[task_id] = ItemArchive()
        ids = self._add_items(task, count)
        result.items = self._items_by_status(task_id)
        await self._run_items(task_id, ids)
        if any(self._tasks[i].status == TaskStatus.PENDING for i in ids if i in self._tasks):
            if self._must_stop():  # cancelled or failed: its items never ran
                raise asyncio.CancelledError()
            await self._archive_items(task_id, [i for i in ids if i in self._tasks])
            return  # continuing as new: taken up again in the new history (see _restore)
        await self._end_for_each(task, [i for i in ids if i in self._tasks], count)
        self._finish_task(result)

    def _add_items(self, task: Task, count: int) -> list[str]:
        """The ids of the items not archived; each one's task and state (kept when the run
        continued as new)."""
        archive = self._archives.get(task.id)
        ids = []
        for index in range(count):
            if archive is not None and foreach.is_archived(archive, index):
                continue
            item = item_id(task.id, index)
            ids.append(item)
            if item not in self._tasks and item in self._reused:  # a rerun takes it as it was
                self._tasks[item] = self._reused[item].model_copy(
                    update={"reused_from": self._rerun_of}
                )
                self._outputs[item] = self._reused[item].output
            state = self._tasks.setdefault(
                item, TaskResult(task_id=item, name=f"{task.name}[{index}]",
                                 action_type=task.action_type)
            )  # fmt: skip
            try:
                self._item_tasks[item] = foreach.item_task(task, index)
            except TaskFailed as failed:
                if state.status == TaskStatus.PENDING:
                    self._fail_task(state, failed.failure)
        return ids

    async def _run_items(self, task_id: str, ids: list[str]) -> None:
        """Start the pending items as slots free up, until all ended (or the run stops or
        continues as new); each runs as a task does (approval, retries, analysis)."""
        running: dict[str, asyncio.Task[None]] = {}
        self._item_jobs[task_id] = running
        queue = foreach.ItemQueue(ids, scheduling.host_of(self._current(task_id)))
        ended_since_archived = 0
        try:
            while True:
                for item, job in list(running.items()):
                    if job.done():
                        job.result()  # a bug in an item's coroutine fails the workflow task
                        del running[item]
                        self._ended_here += 1
                        ended_since_archived += 1
                if workflow.now() >= self._progress_shown_at + PROGRESS_EVERY:
                    self._show_progress()
                if ended_since_archived >= foreach.ARCHIVE_AFTER_ITEMS:
                    ids = await self._archive_items(task_id, ids)
                    queue = replace(queue, ids=ids, first=0)
                    ended_since_archived = 0
                if not self._must_stop() and self._paused is None and not self._time_to_continue():
                    for item in queue.startable(self._tasks, self._item_tasks, running,
                                                self._options):  # fmt: skip
                        self._tasks[item].status = TaskStatus.RUNNING
                        running[item] = asyncio.create_task(self._run_task(item))
                if self._must_stop():  # cancelled, or failed: the running items stop too
                    await self._stop_running(running)
                    return
                if not running and self._items_over(ids):
                    return
                await self._wait_for_items(running)
        except asyncio.CancelledError:
            await self._stop_running(running)
            raise
        finally:
            del self._item_jobs[task_id]

    def _items_over(self, ids: list[str]) -> bool:
        """Whether no item will start any more: none pending, or the run stops or continues
        as new (while it is paused, pending items wait)."""
        pending = any(self._tasks[item].status == TaskStatus.PENDING for item in ids)
        return not pending or self._must_stop() or self._continuing

    async def _wait_for_items(self, running: dict[str, asyncio.Task[None]]) -> None:
        """Until an item ends or asks a question (freeing its slot), the run pauses or
        resumes, or it must stop."""
        pause_changes, asked = self._pause_changes, self._questions.asked
        await workflow.wait_condition(
            lambda: (
                any(job.done() for job in running.values())
                or self._pause_changes != pause_changes
                or self._must_stop()
                or self._questions.asked != asked
            )
        )

    def _item_counts(self, task: TaskResult) -> dict[str, int] | None:
        """A for-each's items by status, as they are now (None for other tasks: a for-each's
        `items` is set once it has its items)."""
        return None if task.items is None else self._items_by_status(task.task_id)

    def _items_by_status(self, task_id: str) -> dict[str, int]:
        counts = Counter(item.status.value for item in self._items_of(task_id))
        archive = self._archives.get(task_id)
        if archive is not None:
            counts.update(archive.counts)
        return dict(sorted(counts.items()))

    async def _archive_items(self, task_id: str, ids: list[str]) -> list[str]:
        """For a large for-each, keep its ended items in the blob store and out of the run's
        state: the ids of the items still in it."""
        archive = self._archives.get(task_id)
        if archive is None:
            return ids
        ended = [item for item in ids if self._tasks[item].status in foreach.ENDED_STATUSES]
        if not ended:
            return ids
        for item in ended:
            self._tasks[item].output = self._outputs.get(item)
        items = [self._tasks[item] for item in ended]
        refs = await foreach.archive(items, self._options)
        indices = [item_index(item) for item in ended]
        self._archives[task_id] = foreach.archived(archive, items, refs, indices)
        for item in ended:
            del self._tasks[item]
            self._outputs.pop(item, None)
            self._item_tasks.pop(item, None)
        return [item for item in ids if item in self._tasks]

    async def _end_for_each(self, task: Task, ids: list[str], count: int) -> None:
        """Complete the for-each with its items' outputs (null for those that did not
        complete), or fail it when more than max_failures items did not complete."""
        if task.id in self._archives:
            await self._end_archived(task, ids, count)
            return
        result = self._tasks[task.id]
        result.items = self._items_by_status(task.id)
        items = [self._tasks[item] for item in ids]
        result.attempts = sum(item.attempts for item in items)
        result.item_errors = foreach.item_errors(items)
        allowed = allowed_failures(task.max_failures, len(ids))
        if len(result.item_errors) > allowed:
            failure = foreach.too_many_failures(result.item_errors, len(result.item_errors),
                                                len(ids), allowed)  # fmt: skip
            self._fail_task(result, failure)
            return
        outputs = [self._outputs.get(item) for item in ids]
        try:
            output = await loops.loop_output(task, outputs, self._options)
        except TaskFailed as failed:
            self._fail_task(result, failed.failure)
            return
        result.output, result.error, result.status = output, None, TaskStatus.COMPLETED
        result.output_summary = describe_items(result.items or {}, len(ids))
        self._outputs[task.id] = output

    async def _end_archived(self, task: Task, ids: list[str], count: int) -> None:
        """_end_for_each for a large for-each: its items are joined from its archive."""
        await self._archive_items(task.id, [i for i in ids if i in self._tasks])
        archive = self._archives[task.id]
        result = self._tasks[task.id]
        result.items = self._items_by_status(task.id)
        result.attempts = archive.attempts
        result.item_errors = archive.errors
        failed = count - archive.counts.get(TaskStatus.COMPLETED.value, 0)
        allowed = allowed_failures(task.max_failures, count)
        if failed > allowed:
            failure = foreach.too_many_failures(archive.errors, failed, count, allowed)
            self._fail_task(result, failure)
            return
        try:
            output = await foreach.join_archive(task, archive.chunks, count, self._options)
        except TaskFailed as failed:
            self._fail_task(result, failed.failure)
            return
        result.output, result.error, result.status = output, None, TaskStatus.COMPLETED
        result.output_summary = describe_items(result.items or {}, count)
        self._outputs[task.id] = output

    def _fail_task(self, result: TaskResult, failure: TaskFailure) -> None:
        """End a task as failed without failure analysis (its action did not fail)."""
        result.status, result.error, result.reason = TaskStatus.FAILED, failure, failure.message

    async def _condition_holds(self, task: Task) -> bool:
        """True for a task without a `when`; otherwise its condition decides, and a task whose
        condition is false ends skipped (no error), one whose condition fails, failed."""
        if task.when is None:
            return True
        assert self._plan is not None
        result = self._tasks[task.id]
        upstream = self._plan.ancestors(task.id)
        try:
            holds = await conditions.decide(
                task, upstream, self._outputs, self._absent(), self._options
            )
        except TaskFailed as failed:
            self._fail_task(result, failed.failure)
            return False
        if not holds:
            result.status, result.reason = TaskStatus.SKIPPED, CONDITION_FALSE
            result.condition_false = True
            result.finished_at = workflow.now()
        return holds

    def _absent(self) -> Set[str]:
        """The tasks skipped by their own condition: references to their outputs are null."""
        if self._plan is None:
            return frozenset()
        return conditions.SkippedByCondition(self._plan.by_id, self._tasks)

    def _finish_task(self, result: TaskResult) -> None:
        result.finished_at = workflow.now()
        if result.started_at is not None:
            result.duration_seconds = (result.finished_at - result.started_at).total_seconds()
        if parent_of(result.task_id) is None:
            self._show_progress()

    def _show_progress(self) -> None:
        """The Web UI's current details: each task's status, a for-each's item counts (not
        recorded in the history: served by the workflow when asked)."""
        # After every task that ends: only the rows shown are looked at (a plan of thousands).
        shown = list(itertools.islice(self._iter_plan_tasks(), PROGRESS_ROWS))
        tasks = [task.model_copy(update={"items": self._item_counts(task)}) if task.items else task
                 for task in shown]  # fmt: skip
        # Every plan task has its TaskResult (adopting a plan, a patch or a streamed task makes
        # them), so the plan says how many there are.
        details = progress_details(tasks, len(self._plan.tasks) if self._plan else 0)
        if self._replans:
            details += "\n\n" + "\n".join(f"- {describe_replan(r)}" for r in self._replans)
        if self._answer is not None or self._answer_note:
            details = answer_details(self._answer, self._answer_note) + "\n\n" + details
        workflow.set_current_details(details)
        self._progress_shown_at = workflow.now()

    # ----- joining and replanning ------------------------------------------------------------

    async def _execute_and_join(self) -> None:
        """Run the plan; then ask the joiner, and run the patches it asks for, until it
        answers (or the run must stop, or the joiner cannot answer)."""
        await self._execute_with_patches()
        while self._joining and self._replanning and not self._must_stop():
            reply = await self._join()
            if reply is not None and reply.patch is not None:
                self._propose(reply.patch, "joiner", reason=reply.patch.reason)
            # A person's replan asked while the joiner answered comes first.
            await workflow.wait_condition(self._no_replan_in_flight)
            if not self._patches:
                self._answer = reply.answer if reply is not None else None
                self._show_progress()
                return
            await self._execute_with_patches()  # a patch came (a person's, or the joiner's)
            if reply is None:
                return

    async def _execute_with_patches(self) -> None:
        """Run the plan until every task ended and no patch waits to be applied (a person's
        replan may still be being written when the last task ends)."""
        while True:
            await self._execute_plan()
            if not self._replanning:
                return
            await workflow.wait_condition(self._no_replan_in_flight)
            if not self._patches or self._must_stop():
                return

    async def _join(self) -> JoinerReply | None:
        """The joiner's answer or patch; None (and the reason noted) when it cannot answer."""
        assert self._plan is not None
        over = budgets.llm_over_budget(self._usage, self._options)
        if over:
            self._answer_note = "no answer: " + over
            return None
        request = JoinerRequest(
            goal=self._goal,
            tasks=replans.task_views(self._plan, self._tasks),
            may_replan=replans.replans_left(self._options, self._replans) > 0,
            action_types=self._options.llm_action_types,
            allow_hosts=self._options.allow_hosts,
        )
        summary = "join: answer the goal, or replan"
        try:
            return await self._llm_activity("join", request, JoinerReply, summary)
        except ActivityError as error:
            if isinstance(error.cause, CancelledError):
                self._note_cancellation()
            else:
                self._answer_note = "no answer: " + _no_llm_note(error)
            return None

    async def _draft_patch(
        self, reason: str = "", hint: str = "", failed_task: str | None = None
    ) -> PatchDraft | str:
        """The planner's patch for the plan as it runs now (the analyst's reason for a failed
        task, or a person's hint), or why there is none."""
        assert self._plan is not None
        over = budgets.llm_over_budget(self._usage, self._options)
        if over:
            return over
        request = PatchRequest(
            goal=self._goal,
            tasks=replans.task_views(self._plan, self._tasks),
            reason=reason,
            hint=hint,
            failed_task=failed_task,
            action_types=self._options.llm_action_types,
            allow_hosts=self._options.allow_hosts,
        )
        summary = "replan: " + (request.hint or request.reason)[:80]
        try:
            return await self._llm_activity("plan_patch", request, PatchDraft, summary)
        except ActivityError as error:
            if isinstance(error.cause, CancelledError):
                raise asyncio.CancelledError() from error
            return _no_llm_note(error)

    async def _replan_after_failure(
        self, task: Task, decision: FailureDecision, source: str
    ) -> tuple[FailureDecision, str]:
        """The analyst's `replan`: ask the planner for a patch that takes over the failed task's
        work. Without one, the engine's own rule decides instead."""
        draft = await self._draft_patch(reason=decision.reason, failed_task=task.id)
        if isinstance(draft, str):
            self._record_replan("analyst", reason=decision.reason, task_id=task.id, note=draft)
            return decisions.fallback_decision(task, f"no plan patch ({draft})"), "fallback"
        self._propose(draft.patch, "analyst", reason=decision.reason, task_id=task.id)
        return decision, source

    def _record_replan(self, source: str, note: str = "", **fields: Any) -> ReplanRecord:
        """Record a replan asked for (it counts in max_replans); with a note, one that got no
        patch."""
        record = ReplanRecord(
            number=len(self._replans) + 1,
            source=source,
            at=workflow.now(),
            status="refused" if note else "proposed",
            note=note,
            **fields,
        )
        self._replans.append(record)
        return record

    def _propose(self, patch: PlanPatch, source: str, **fields: Any) -> ReplanRecord:
        """Queue a patch: the run applies it before it starts another task."""
        added = [task.id for task in patch.add]
        record = self._record_replan(source, added=added, removed=patch.remove, **fields)
        self._patches.append((patch, record))
        workflow.logger.info(replans.describe_replan(record))
        return record

    async def _apply_patches(self) -> None:
        """Apply the queued patches, in order: each checked against the plan as it is now (in
        approval mode plan, once a person approved it)."""
        assert self._plan is not None
        while self._patches and not self._must_stop():
            patch, record = self._patches[0]
            approved = self._options.approval != "plan" or await self._patch_approved(record)
            self._patches.pop(0)
            if not approved:
                continue
            try:
                plan = replans.apply_patch(self._plan, self._tasks, patch, self._options)
            except PatchRefused as refused:
                record.status, record.note = "refused", str(refused)
                continue
            self._take_patch(plan, patch, record)

    async def _patch_approved(self, record: ReplanRecord) -> bool:
        """A person's verdict on a patch (approval mode plan), given as on a plan."""
        record.status = "awaiting_approval"
        self._patch_waiting, self._plan_verdict = record, None
        self._publish()
        approved, signal = await self._await_verdict(lambda: self._plan_verdict)
        self._patch_waiting, self._plan_verdict = None, None
        self._publish()
        if self._cancel is not None:
            record.status, record.note = "refused", "the run was cancelled before approval"
            return False
        if not approved:
            record.status, record.note = "rejected", rejection(signal)
        return approved

    def _take_patch(self, plan: Plan, patch: PlanPatch, record: ReplanRecord) -> None:
        """Adopt a checked patch: the new plan, its new tasks pending, removed tasks gone."""
        for task_id in patch.remove:
            self._tasks.pop(task_id, None)
        for task in patch.add:
            self._tasks[task.id] = TaskResult(
                task_id=task.id, name=task.name, action_type=task.action_type
            )
        self._plan = plan
        record.status = "applied"
        if record.task_id is not None and record.task_id in self._tasks:
            self._tasks[record.task_id].replanned = True
        workflow.logger.info(replans.describe_replan(record))
        workflow.upsert_memo({"plan": plan_summary([task.label for task in plan.tasks])})
        workflow.upsert_search_attributes([TASK_COUNT.value_set(len(plan.tasks))])
        self._show_progress()

    # ----- failure analysis ------------------------------------------------------------------

    async def _handle_failure(
        self, task: Task, failure: TaskFailure, into_plan: bool = True
    ) -> Task | None:
        """Ask for a decision and apply it: the task to run again, or None when it is over.
        `into_plan`: a modified config replaces the plan's (not for a loop's round, whose
        config is the plan's with the round filled in)."""
        assert self._plan is not None
        result = self._tasks[task.id]
        result.status = TaskStatus.ANALYZING
        decision, source = await self._decide(task, failure)
        applied = decisions.apply_decision(self._plan, task, decision)
        if applied.action == "replan":
            decision, source = await self._replan_after_failure(task, decision, source)
            applied = decisions.apply_decision(self._plan, task, decision)
        if task.id in self._item_tasks:
            if into_plan and applied.next_task is not None:
                self._item_tasks[task.id] = applied.next_task
        elif into_plan:
            self._plan = applied.plan
        self._keep_decision(
            DecisionRecord(task_id=task.id, decision=decision, applied=applied.action,
                           source=source, error=failure, at=workflow.now(), note=applied.note)
        )  # fmt: skip
        ended = decisions.ending(applied, decision, source)
        if ended is not None:
            result.status, result.reason = ended
        if applied.action == "fail_workflow" and self._run_error is None:
            self._run_error = f"task {task.id!r} failed: {failure.message}"
        return applied.next_task

    def _keep_decision(self, record: DecisionRecord) -> None:
        """Record a decision; of a for-each's items', the first ITEM_DECISIONS_KEPT only (the
        others are counted: each item keeps its own error and reason)."""
        parent = parent_of(record.task_id)
        if parent is not None:
            kept = sum(1 for other in self._decisions if parent_of(other.task_id) == parent)
            if kept >= foreach.ITEM_DECISIONS_KEPT:
                self._decisions_not_kept[parent] = self._decisions_not_kept.get(parent, 0) + 1
                return
        self._decisions.append(record)

    async def _decide(self, task: Task, failure: TaskFailure) -> tuple[FailureDecision, str]:
        """The analyst's decision, or the engine's own when it cannot be asked or answer."""
        assert self._plan is not None
        note = decisions.budget_note(self._options, self._decisions, self._analyses, task.id)
        if note:
            return decisions.fallback_decision(task, note), "fallback"
        over = budgets.llm_over_budget(self._usage, self._options) if self._budgeted else None
        if over:
            self._run_error = self._run_error or over
            return decisions.fallback_decision(task, over), "fallback"
        self._analyses += 1
        may_replan = self._replanning and replans.replans_left(self._options, self._replans) > 0
        request = decisions.analysis_request(
            self._goal, self._plan, task, failure, self._outputs, self._decisions, may_replan
        )
        summary = f"analyse failure of {task.label}"
        try:
            reply = await self._llm_activity(
                "analyze_failure", request, AnalysisReply, summary, about_task=task.id
            )
        except ActivityError as error:
            if isinstance(error.cause, CancelledError):
                raise asyncio.CancelledError() from error
            return decisions.fallback_decision(task, _no_analysis_note(error)), "fallback"
        return reply.decision, "analyst"

    async def _llm_activity(
        self, name: str, request: Any, result_type: type, summary: str, about_task: str = ""
    ) -> Any:
        """Run an LLM activity and account for what it spent, whether it answered or failed
        (against `about_task` too: the analyst's calls count for the task they were about).

        Its start-to-close timeout leaves room for a few requests, each bounded by the LLM
        client's own (shorter) timeout, so people see the client's clear message."""
        request_seconds = self._options.llm_timeout_seconds
        try:
            reply = await workflow.execute_activity(
                name,
                request,
                result_type=result_type,
                task_queue=self._options.llm_task_queue,
                summary=summary,
                start_to_close_timeout=timedelta(seconds=request_seconds * 3 + 30),
                heartbeat_timeout=timedelta(seconds=self._options.heartbeat_timeout_seconds),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=2),
                    maximum_attempts=self._options.llm_max_attempts,
                ),
            )
        except ActivityError as error:
            self._account_llm(*spent_by(error), about_task=about_task)
            raise
        self._account_llm(reply.usage, reply.calls, about_task=about_task)
        return reply

    def _account_llm(self, usage: TokenUsage, calls: list[LLMCall], about_task: str = "") -> None:
        """Add an LLM activity's tokens and calls to the run; the memo names who answered."""
        self._usage = self._usage.plus(usage)
        if about_task:
            calls = [call.model_copy(update={"task": about_task}) for call in calls]
        self._llm_calls.extend(calls)
        if calls and workflow.patched(LLM_CALLS_IN_MEMO):
            memo: dict[str, Any] = {"llm": [call_label(c) for c in self._llm_calls[-20:]]}
            if self._usage.cost_usd:  # runs of unpriced calls keep the memo they had
                memo["cost_usd"] = round(self._usage.cost_usd, 6)
            workflow.upsert_memo(memo)

    # ----- visibility and result -------------------------------------------------------------

    def _set_phase(self, phase: Phase) -> None:
        self._phase = phase
        self._publish()

    def _visible_status(self) -> str:
        if self._status is not None:
            return self._status.value
        if self._paused is not None:
            return "paused"
        waiting = self._patch_waiting is not None or any(
            t.status == TaskStatus.WAITING_APPROVAL for t in self._tasks.values()
        )
        if waiting:
            return "awaiting_approval"
        if self._questions.waiting and workflow.patched(AWAITING_ANSWER_STATUS):
            return "awaiting_answer"
        return self._phase.value

    def _publish(self) -> None:
        """Keep the AgentStatus search attribute (the Web UI's list, `list --status`) current."""
        visible = self._visible_status()
        if visible != self._published_status:
            self._published_status = visible
            workflow.upsert_search_attributes([STATUS.value_set(visible)])

    def _final_status(self) -> RunStatus:
        if self._cancel is not None:
            return RunStatus.CANCELLED
        if self._run_error is None and self._plan is not None:
            self._run_error = scheduling.missed_critical(self._schedule())
        return RunStatus.FAILED if self._run_error is not None else RunStatus.COMPLETED

    async def _finish(self, status: RunStatus) -> RunResult:
        """The run's result; a run that did not complete ends its workflow execution as
        Failed (or Canceled), so Temporal's own views say what happened."""
        await workflow.wait_condition(self._no_replan_in_flight)
        if self._signals_to_children:  # a child that ended meanwhile refuses its signal
            await asyncio.gather(*self._signals_to_children, return_exceptions=True)
        if status == RunStatus.CANCELLED and self._run_error is None:
            self._run_error = self._stop_reason()
        for _, record in self._patches:
            record.status, record.note = "refused", "the run stopped first: " + self._stop_reason()
        self._patches.clear()
        self._status = status
        self._set_phase(Phase.FINISHED)
        self._result = self._build_result(status)
        self._events.tell(self._event_view())
        self._events.close()
        await workflow.wait_condition(workflow.all_handlers_finished)
        if workflow.patched(OUTCOME_AS_EXECUTION_STATUS):
            raise_for_outcome(self._result)
        return self._result

    def _no_replan_in_flight(self) -> bool:
        return self._replans_in_flight == 0

    def _event_view(self) -> events.RunView:
        """What the events are read from (core/events.py)."""
        return events.RunView(
            phase=self._phase, status=self._status, error=self._run_error,
            plan_tasks=[task.id for task in self._plan.tasks] if self._plan else [],
            tasks=self._tasks, decisions=self._decisions, verdicts=self._verdicts,
            llm_calls=self._llm_calls, replans=self._replans,
            patch_waiting=self._patch_waiting.number if self._patch_waiting else 0,
            streaming=self._streaming, paused_by=self._paused.by if self._paused else None,
            answered=self._answer is not None, item_counts=self._counts_of,
            edits=self._edits if self._events_v2 else (), events_v2=self._events_v2,
        )  # fmt: skip

    def _counts_of(self, task_id: str) -> dict[str, int] | None:
        task = self._tasks.get(task_id)
        return self._item_counts(task) if task is not None else None

    def _build_result(self, status: RunStatus) -> RunResult:
        finished_at = workflow.now()
        tasks = self._plan_tasks()
        return RunResult(
            workflow_id=workflow.info().workflow_id,
            goal=self._goal,
            status=status,
            error=self._run_error,
            plan=self._plan,
            tasks=tasks,
            decisions=self._decisions,
            decisions_not_kept=self._decisions_not_kept,
            usage=self._usage,
            llm_calls=self._llm_calls,
            metrics=compute_metrics(tasks),
            answer=self._answer,
            answer_note=self._answer_note,
            rerun_of=self._rerun_of,
            replans=self._replans,
            streamed_tasks=self._streamed,
            stream_note=self._stream_note,
            started_at=self._started_at,
            finished_at=finished_at,
            duration_seconds=(finished_at - self._started_at).total_seconds(),
        )


def rounds_done(kept: LoopState, outputs: list[Any]) -> list[Any] | None:
    """What a loop that stopped completed, for a rerun to go on from: its rounds' outputs
    (None when there were none, or some were kept in the blob store by an earlier history:
    a rerun then starts it again)."""
    if kept.chunks or not outputs:
        return None
    return list(outputs)


@dataclass(frozen=True)
class Done:
    """A task's output once it completed, and what it holds in one line."""

    output: Any
    summary: str


def spent_by(error: ActivityError) -> tuple[TokenUsage, list[LLMCall]]:
    """The tokens a failed LLM activity spent and the calls that were answered, carried in
    its error's details."""
    cause = error.cause
    details = getattr(cause, "details", None) if isinstance(cause, ApplicationError) else None
    first = details[0] if details else None
    if not isinstance(first, dict):
        return TokenUsage(), []
    usage = TokenUsage.model_validate(first.get("usage") or {})
    calls = [LLMCall.model_validate(call) for call in first.get("calls") or []]
    return usage, calls


def _disallowed_actions(plan: Plan | None, allowed: list[str]) -> list[str]:
    """What a plan written by the LLM may not do: action types outside `allowed`."""
    if plan is None or not allowed:
        return []
    return [
        f"task {task.id!r}: action_type {task.action_type!r} is not allowed in plans the LLM "
        f"writes; use one of {', '.join(allowed)}"
        for task in plan.tasks
        if task.action_type not in allowed
    ]


def _no_analysis_note(error: ActivityError) -> str:
    note = _no_llm_note(error)
    return f"no analysis: {note}" if note == NO_LLM else f"no analysis ({note})"


def _no_llm_note(error: ActivityError) -> str:
    """Why an LLM activity gave nothing, in a few words."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == "LLMNotConfigured":
        return NO_LLM
    return cause_message(error)


def call_label(call: LLMCall) -> str:
    """One LLM call for the memo: what for, who answered, how, with which prompt."""
    return (
        f"{call.purpose}: {call.model}@{call.endpoint} ({call.mode}, prompt {call.prompt_version})"
    )


def raise_for_outcome(result: RunResult) -> None:
    """End a run that did not complete as Temporal reports it: Canceled when Temporal's
    cancellation ended it, else Failed with an error whose type names the outcome and whose
    details carry the whole result (read back by `result`, `start --wait` and `watch`)."""
    if result.status == RunStatus.COMPLETED:
        return
    message = result.error or f"run {result.status.value}"
    if result.status == RunStatus.CANCELLED and workflow.cancellation_reason() is not None:
        raise CancelledError(message)
    raise ApplicationError(
        message, result, type=OUTCOME_ERROR_TYPES[result.status], non_retryable=True
    )


def compute_metrics(tasks: list[TaskResult]) -> RunMetrics:
    """Counts by status, success rate, mean duration of the tasks that ran."""
    counts = {status: sum(1 for t in tasks if t.status == status) for status in TaskStatus}
    durations = [t.duration_seconds for t in tasks if t.duration_seconds is not None]
    return RunMetrics(
        total_tasks=len(tasks),
        completed=counts[TaskStatus.COMPLETED],
        failed=counts[TaskStatus.FAILED],
        skipped=counts[TaskStatus.SKIPPED],
        cancelled=counts[TaskStatus.CANCELLED],
        success_rate=counts[TaskStatus.COMPLETED] / len(tasks) if tasks else 0.0,
        average_task_duration_seconds=sum(durations) / len(durations) if durations else None,
        total_attempts=sum(t.attempts for t in tasks),
    )
