"""Determinism: every run this test session recorded replays under the current workflow code."""

from __future__ import annotations

from temporalio import workflow
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from runtime import build_replayer
from workflows.agent_run import WORKFLOW_NAME


async def test_recorded_histories_replay_without_nondeterminism(stack, client):
    query = f"WorkflowType = '{WORKFLOW_NAME}' AND ExecutionStatus != 'Running'"
    histories = [
        history async for history in client.list_workflows(query, limit=200).map_histories()
    ]
    assert histories, "no finished runs to replay; this test runs after the others"

    async def each_history():
        for history in histories:
            yield history

    replayer = build_replayer()
    results = await replayer.replay_workflows(each_history(), raise_on_replay_failure=False)

    failures = {run_id: str(error) for run_id, error in results.replay_failures.items()}
    assert failures == {}, f"{len(failures)} of {len(histories)} histories failed to replay"


@workflow.defn(name=WORKFLOW_NAME, sandboxed=False)
class ChangedAgentRun:
    """A deliberately different AgentRun: it starts with a timer the histories never saw."""

    @workflow.run
    async def run(self, run_input: dict) -> None:
        await workflow.sleep(1)


async def test_a_changed_workflow_fails_to_replay(stack, client):
    query = f"WorkflowType = '{WORKFLOW_NAME}' AND ExecutionStatus = 'Completed'"
    histories = client.list_workflows(query, limit=3).map_histories()
    replayer = Replayer(workflows=[ChangedAgentRun], data_converter=pydantic_data_converter)

    results = await replayer.replay_workflows(histories, raise_on_replay_failure=False)

    assert results.replay_failures, "the replayer must notice a workflow that changed"
    assert all("nondetermin" in str(error).lower() for error in results.replay_failures.values())
