"""Worker Versioning: a new build rolls out while the runs started on the old one finish there
(each run is pinned to the build it started on)."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path

from agentic.client import AgentClient, RunHandle
from agentic.core.messages import Phase, RunOptions
from agentic.devstack import temporal_cli
from agentic.errors import WorkerUnavailable
from agentic.settings import Settings
from tests.conftest import wait_until
from tests.helpers import poll, task, worker_for

PLAN = {"tasks": [
    task("nap", "wait", {"seconds": 1}),
    task("after", "data_transform", {"input": 1, "expression": "@"}, "nap"),
]}  # fmt: skip


async def awaits_approval(run: RunHandle) -> bool:
    """Whether a worker has taken the run's first workflow task (it answers queries then) and
    the run waits for its plan's approval."""
    try:
        return (await run.status()).phase == Phase.AWAITING_APPROVAL
    except WorkerUnavailable:
        return False


async def builds_after_approval(client: AgentClient, run: RunHandle) -> list[str]:
    """The build that completed each of the run's workflow tasks after the approval signal
    reached it, from its history."""
    history = await client.temporal.get_workflow_handle(run.workflow_id).fetch_history()
    events = list(history.events)
    approved = next(i for i, event in enumerate(events)
                    if event.HasField("workflow_execution_signaled_event_attributes"))  # fmt: skip
    return [event.workflow_task_completed_event_attributes.deployment_version.build_id
            for event in events[approved:]
            if event.HasField("workflow_task_completed_event_attributes")]  # fmt: skip


def make_current(address: str, deployment: str, build_id: str) -> None:
    """`temporal worker deployment set-current-version`, once the version has polled."""

    def done() -> bool:
        return subprocess.run(
            [temporal_cli(), "worker", "deployment", "set-current-version", "--address", address,
             "--deployment-name", deployment, "--build-id", build_id, "--yes"],
            capture_output=True, timeout=30,
        ).returncode == 0  # fmt: skip

    wait_until(done, 30, f"version {build_id} to become current", interval=0.3)


async def test_runs_stay_on_the_build_they_started_on(temporal_server, tmp_path: Path):
    deployment, queue = f"agentic-{uuid.uuid4().hex[:6]}", f"versions-{uuid.uuid4().hex[:6]}"

    def build(build_id: str) -> Settings:
        return Settings(temporal_address=temporal_server.address, task_queue=queue,
                        worker_deployment_name=deployment, worker_build_id=build_id,
                        workspace_dir=tmp_path)  # fmt: skip

    client = await AgentClient.connect(build("v1"))
    async with worker_for(build("v1")):
        await asyncio.to_thread(make_current, temporal_server.address, deployment, "v1")
        # The old run waits for its plan's approval until the new build is current.
        old_run = await client.start(plan=PLAN, options=RunOptions(approval="plan"))
        # A run is pinned by the build that completes its first workflow task.
        await poll(lambda: awaits_approval(old_run), "the old run to wait for approval")
        async with worker_for(build("v2")):
            await asyncio.to_thread(make_current, temporal_server.address, deployment, "v2")
            still_running = await old_run.is_running()
            new_run = await client.start(plan=PLAN, options=RunOptions(approval="none"))
            await old_run.approve(by="test")
            results = [await old_run.result(), await new_run.result()]

    assert still_running, "the old run must outlive the switch, or pinning is not tested"
    assert [result.status.value for result in results] == ["completed", "completed"]
    builds = []
    for run in (old_run, new_run):
        described = await client.temporal.get_workflow_handle(run.workflow_id).describe()
        versioning = described.raw_description.workflow_execution_info.versioning_info
        builds.append(versioning.deployment_version.build_id)
    assert builds == ["v1", "v2"]
    # Approved after the switch, the old run ran its plan on the old build.
    after_switch = await builds_after_approval(client, old_run)
    assert after_switch and set(after_switch) == {"v1"}, after_switch
