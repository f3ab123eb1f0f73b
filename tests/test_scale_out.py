"""Scaling out is configuration: more worker processes on one task queue share the runs (and
one dying loses nothing), and actions can have a task queue, and workers, of their own."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections import Counter

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from agentic.client import AgentClient
from agentic.core.messages import RunOptions
from agentic.settings import Settings
from tests.conftest import REPO, wait_until
from tests.fakes.api_server import Reply
from tests.helpers import get, task, tasks_by_id

RUNS = 100


def small_plan(api_url: str, run: int) -> dict:
    return {"goal": f"scale-out run {run}", "tasks": [
        task("fetch", "api_call", get(f"{api_url}?run={run}")),
        task("pause", "wait", {"seconds": 0.3}),
        task("double", "data_transform",
             {"input": "{{ tasks.fetch.output.body.run }}", "expression": "[@, @]"}, "fetch"),
        task("check", "data_transform",
             {"input": "{{ tasks.double.output }}", "expression": "length(@)"}, "double", "pause"),
    ]}  # fmt: skip


async def identities(client: Client, workflow_id: str) -> tuple[Counter, set[str]]:
    """The history's event types (counted), and the workers that took its tasks."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    counted: Counter = Counter()
    workers: set[str] = set()
    for event in history.events:
        counted[event.event_type] += 1
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            workers.add(event.workflow_task_started_event_attributes.identity)
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            workers.add(event.activity_task_started_event_attributes.identity)
    return counted, workers


async def test_three_workers_share_100_runs_and_one_dying_loses_nothing(
    stack, client, api, tmp_path
):
    path = f"/scale/{uuid.uuid4().hex[:6]}"
    api.route("GET", path, lambda request: Reply(json={"run": int(request.query["run"][0])},
                                                  delay=0.1))  # fmt: skip
    queue = f"scale-{uuid.uuid4().hex[:6]}"
    workers = [
        stack.start_worker({"TASK_QUEUE": queue}, log_path=tmp_path / f"worker{n}.log")
        for n in range(3)
    ]
    settings = Settings(temporal_address=stack.address, task_queue=queue)
    agents = await AgentClient.connect(settings)
    prefix = f"scale-{uuid.uuid4().hex[:6]}"
    handles = [
        await agents.start(plan=small_plan(f"{api.url}{path}", run),
                           options=RunOptions(approval="none", max_parallel=4),
                           workflow_id=f"{prefix}-{run}")
        for run in range(RUNS)
    ]  # fmt: skip
    wait_until(lambda: len(api.calls("GET", path)) >= RUNS // 4, 60, "a quarter of the calls")
    workers[0].kill()  # SIGKILL: no goodbye, in-flight work is lost with it

    results = await asyncio.gather(*(handle.result() for handle in handles))

    assert [r.status.value for r in results] == ["completed"] * RUNS
    for run, result in enumerate(results):
        tasks = {t.task_id: t for t in result.tasks}
        assert tasks["double"].output == [run, run] and tasks["check"].output == 2
    every_worker: set[str] = set()
    for handle in handles:
        counted, workers_of_run = await identities(client, handle.workflow_id)
        assert counted[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED] == 1
        # fetch, a GET, is a local read (again as a regular activity only when it outlived
        # its budget on a busy worker); the wait is a timer; the two data_transforms are
        # computed in the workflow
        scheduled = counted[EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
        assert counted[EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED] == scheduled <= 1
        assert counted[EventType.EVENT_TYPE_TIMER_FIRED] == 1
        every_worker |= workers_of_run
    assert len(every_worker) == 3, f"work went to {sorted(every_worker)}"


def test_actions_can_run_on_workers_of_their_own(stack, api, run_id, tmp_path):
    api.route("GET", f"/queues/{run_id}", Reply(json={"ok": True}))
    queue = f"runs-{run_id[-6:]}"
    env = {"TASK_QUEUE": queue, "ACTION_TASK_QUEUE": f"{queue}-actions"}
    runs_log, actions_log = tmp_path / "runs.log", tmp_path / "actions.log"
    stack.start_worker({**env, "WORKER_QUEUES": "workflows,llm"}, log_path=runs_log)
    stack.start_worker({**env, "WORKER_QUEUES": "actions"}, log_path=actions_log)
    plan = {"tasks": [task("call", "api_call", get(f"{api.url}/queues/{run_id}"))]}

    result = stack.run_plan(plan, run_id, "--approval", "none", env=env)

    assert result["status"] == "completed"
    assert tasks_by_id(result)["call"]["output"]["body"] == {"ok": True}
    assert run_id in actions_log.read_text() and "action_completed" in actions_log.read_text()
    assert "action_completed" not in runs_log.read_text()


def test_a_worker_told_to_serve_something_unknown_says_so(stack):
    finished = subprocess.run(
        [sys.executable, "worker.py", "--queues", "workflows,gpu"], cwd=REPO, env=stack.env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert finished.returncode == 1
    assert finished.stderr.strip() == (
        "error: invalid setting: worker_queues: gpu: a worker serves any of workflows, actions, "
        "llm (comma-separated)"
    )
