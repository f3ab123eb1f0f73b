"""Determinism: histories recorded by earlier versions, and runs of every outcome recorded now,
replay under the current workflow code; a changed workflow does not.

tests/histories/v0_*.json were recorded by the engine before runs ended as Failed/Canceled
executions (commit da49c0e, with RECORD_HISTORIES=DIR pytest); they prove that the
`workflow.patched` guards keep old runs replaying. v1_*.json were recorded by the engine with
the blob store and continue-as-new: a completed pipeline, decisions (modify, skip,
fail_workflow), approvals given and refused, cancellations, a pause, polls, large outputs, and
a run continued as new (v1_continued_as_new_1..4, one file per history of the chain). v2_*.json
ran their data_transforms as local activities (commit 2967c0f); v3_*.json compute them in the
workflow. v4_*.json have conditions (`when`): branches taken and not taken, a join, a
condition decided by an activity over a stored output, and one that fails its task; and
loops (`repeat`): cursor pagination, a null cursor left out, `max` reached; and for-eaches:
items in parallel, failures within and over `max_failures`, item approvals, a map over a map,
and a map continued as new twice (v4_foreach_continued_as_new_1..3). v5_subplan_*.json have
sub-plans: a for-each of child runs with inputs (the parent and one child), and a child's task
approved through the parent's id (the parent and the child). A parent's file name gives its
workflow id after `@`: its children's ids begin with it. v5_foreach_archive_1..3 are a
450-item for-each that keeps its ended items in the blob store, continued as new twice;
v5_loop_continued_as_new_1..4 a 12-round loop that stopped between rounds to continue as new.
v6_*.json have the joiner and plan patches: a goal answered, the joiner's replan (a for-each
added after the first results), the analyst's replan of a failed task, a person's replan (an
Update) of a running plan, and a patch that waited for approval in approval mode plan;
v6_streamed_plan*.json a plan whose first task ran while the rest streamed in (planned_task
signals), and a streamed plan found invalid at its end and repaired, its completed task kept.
v7_ask.json has an `ask` task answered through the `answer` Update (two refused answers
before it, which the Update's validator kept out of the history).
v8_ask_awaiting_answer.json the same question with the run's AgentStatus `awaiting_answer`
while it waited (patch awaiting-answer-status).
v9_events_followed.json a run whose events a reader followed (`events --follow`): the stream's
long-poll Update in the history, beside the `answer` Update.
v10_failed_while_waiting.json a run failed by one task while another waited for approval: the
waiting task stopped with the run's error, the run failed, not cancelled (patch
stopped-approval-wait-is-no-cancel).
v11_rerun_failed.json a rerun (`rerun --failed`) of a pipeline that failed at its last task: the
two earlier tasks taken as they were (reused), the last one run again.
v12_rerun_for_each_failed_items.json a rerun (`rerun --failed`) of a for-each that failed at one
item: the four completed items taken from the input as they were, the failed one run again.
v12_rerun_sub_plan_*.json a rerun (`rerun --failed`) of a sub-plan whose child failed at its
last task: the parent starts its child as a rerun of the earlier child (its input's
rerun_children), and the child takes its two completed tasks as they were.
v12_rerun_loop_from_round.json a rerun (`rerun --failed`) of a loop that failed in its third
round: it goes on from that round (its input's resume_loops), the first two rounds' outputs
taken as they were.
v13_local_read*.json ran their reads as local activities (patch local-reads): a GET, a
read-only query and a file read as markers, then a POST as a regular activity; a slow GET over
its 0.5 s budget run again as a regular activity; a GET failing past its 1 s budget (503s)
moved to a regular activity that completed.
v14_*.json ran with a workflow task timeout of 2 s (WORKFLOW_TASK_TIMEOUT_SECONDS) that child
runs and continued histories inherit (patch inherit-task-timeout): a for-each of sub-plans (the
parent and one child) and a 12-round loop continued as new (v14_loop_continued_as_new_1..4).
v15_edit_waiting_task.json a task waiting for approval whose config a person edited (`edit
--task`), then approved: the waiting task tells the edited config's risk (patch
edited-task-tells-its-risk).
v15_first_start_continued_1..3 a 3-task chain continued as new after every task: each next
history's memo is the last one's with the run's start (`started_at`, which `list` shows) (patch
first-start-in-memo).
v15_events_followed_risky_before.json was recorded by the engine of commit 0b9d755 (the last to
land before patch events-told-v2): `events --follow` read a run while its
risky task's overwrite check ran, a person edited the waiting task, then approved it. The
follower's long-poll Update completed on `save started`, told before `save waits for approval`,
and nothing was told of the edit. v15_events_followed_risky.json is the same run under the
patch: no `save started` before the approval, and `save's config edited by erin`; the Updates
complete where those events are told.
v15_landed_*.json were recorded by the same engine of 0b9d755 running its own tests: the
console's run page following a run through approvals (its stream's long-poll Updates in the
history), `events --follow` from plan to end, and a for-each whose items ask one by one.
v15_archive_heartbeats.json a 250-item for-each that archived its items and joined them with
the run's heartbeat timeout (patch item-archive-heartbeats).
"""

from __future__ import annotations

from pathlib import Path

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from agentic.histories import load_history, replay_histories
from agentic.runtime import DATA_CONVERTER, build_replayer
from agentic.workflows.agent_run import WORKFLOW_NAME
from tests.conftest import wait_until
from tests.fakes.api_server import Reply
from tests.helpers import get, task

HISTORIES = Path(__file__).parent / "histories"


def committed_histories() -> list[WorkflowHistory]:
    paths = sorted(HISTORIES.glob("*.json"))
    assert paths, f"no recorded histories in {HISTORIES}"
    return [load_history(path) for path in paths]


async def replay_failures(replayer: Replayer, histories: list[WorkflowHistory]) -> dict:
    """run id -> where and why it did not replay (the CLI's `replay` says the same)."""
    report = await replay_histories(histories, replayer)
    return {failure.run_id: failure.describe() for failure in report.failures}


def how_it_ended(history: WorkflowHistory) -> str:
    """The history's last event type, with the error type of a failed execution."""
    last = history.events[-1]
    ended = EventType.Name(last.event_type).removeprefix("EVENT_TYPE_")
    if last.HasField("workflow_execution_failed_event_attributes"):
        failure = last.workflow_execution_failed_event_attributes.failure
        ended += f" {failure.application_failure_info.type}"
    return ended


async def test_committed_histories_replay_without_nondeterminism():
    histories = committed_histories()

    failures = await replay_failures(build_replayer(), histories)

    assert failures == {}, f"{len(failures)} of {len(histories)} histories failed to replay"


async def test_runs_of_every_outcome_replay(stack, api, client, run_id):
    api.route("GET", f"/replay/{run_id}/ok", Reply(json={"ok": True}))
    api.route("GET", f"/replay/{run_id}/bad", Reply(404, json={}))
    api.route("GET", f"/replay/{run_id}/slow", Reply(json={}, delay=30))
    ok, bad, slow = (get(f"{api.url}/replay/{run_id}/{name}") for name in ("ok", "bad", "slow"))
    stack.run_plan({"tasks": [task("ok", "api_call", ok)]}, f"{run_id}-completed")
    stack.run_plan(
        {"tasks": [task("bad", "api_call", bad)]}, f"{run_id}-failed", "--max-retries", "0"
    )
    rejected = stack.write_plan({"tasks": [task("ok", "api_call", ok)]})
    stack.cli("start", "--plan", str(rejected), "--approval", "plan", "--id", f"{run_id}-rejected")
    wait_until(
        lambda: stack.cli("reject", f"{run_id}-rejected", "--reason", "no").returncode == 0,
        30,
        "the plan to wait for approval",
        interval=0.3,
    )
    stack.cli("start", "--plan", str(stack.write_plan({"tasks": [task("s", "api_call", slow)]})),
              "--id", f"{run_id}-cancelled")  # fmt: skip
    wait_until(lambda: api.calls("GET", f"/replay/{run_id}/slow"), 30, "the slow call")
    stack.cli("cancel", f"{run_id}-cancelled")
    outcomes = ("completed", "failed", "rejected", "cancelled")
    ended = {outcome: stack.cli_json("result", f"{run_id}-{outcome}", "--wait")["status"]
             for outcome in outcomes}  # fmt: skip

    histories = [
        await client.get_workflow_handle(f"{run_id}-{outcome}").fetch_history()
        for outcome in outcomes
    ]

    assert ended == {outcome: outcome for outcome in outcomes}
    assert [how_it_ended(history) for history in histories] == [
        "WORKFLOW_EXECUTION_COMPLETED",
        "WORKFLOW_EXECUTION_FAILED RunFailed",
        "WORKFLOW_EXECUTION_FAILED RunRejected",
        "WORKFLOW_EXECUTION_CANCELED",
    ]
    assert await replay_failures(build_replayer(), histories) == {}


@workflow.defn(name=WORKFLOW_NAME, sandboxed=False)
class ChangedAgentRun:
    """A deliberately different AgentRun: it starts with a timer the histories never saw."""

    @workflow.run
    async def run(self, run_input: dict) -> None:
        await workflow.sleep(1)


async def test_a_changed_workflow_fails_to_replay():
    histories = committed_histories()[:3]
    replayer = Replayer(workflows=[ChangedAgentRun], data_converter=DATA_CONVERTER)

    failures = await replay_failures(replayer, histories)

    assert len(failures) == len(histories), "the replayer must notice a workflow that changed"
    assert all("nondetermin" in error.lower() for error in failures.values())
