"""Outputs too large for Temporal's history: kept in the blob store (a directory, or an
S3-compatible bucket), referenced from the history, loaded by the activities that use them,
shown by `output`, and removed by `cleanup`."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer
from temporalio.client import Client

from agentic.activities.blobs import Blobs, DirectoryBlobStore, S3BlobStore, check_history_size
from agentic.client import AgentClient
from agentic.core.blobs import blob_ref, blob_refs
from agentic.core.errors import ActionError, ErrorType
from agentic.core.messages import RunOptions, TaskStatus
from agentic.devstack import free_port, stop_process
from agentic.settings import Settings
from tests.conftest import TEST_SECRET
from tests.fakes.api_server import Reply
from tests.helpers import get, local_activity_span, poll, task, tasks_by_id

USER_COUNT = 30_000
USERS = [{"id": i, "name": f"user-{i}", "tags": ["a", "b", "c"]} for i in range(USER_COUNT)]
BUCKET = "agentic-blobs"


def large_output_plan(url: str, run_id: str) -> dict:
    """Fetch about 1.5 MB, read one item of it, filter it, list every name (a large result)
    and write that to a file."""
    return {
        "goal": f"large outputs ({run_id})",
        "tasks": [
            task("fetch", "api_call", get(url)),
            task("status", "data_transform",
                 {"input": "{{ tasks.fetch.output.status_code }}", "expression": "@"}, "fetch"),
            task("fourth", "data_transform",
                 {"input": "{{ tasks.fetch.output.body[3].id }}", "expression": "@"}, "fetch"),
            task("last", "data_transform",
                 {"input": "{{ tasks.fetch.output.body }}",
                  "expression": f"[?id >= `{USER_COUNT - 3}`].id"}, "fetch"),
            task("names", "data_transform",
                 {"input": "{{ tasks.fetch.output.body }}", "expression": "[*].name"}, "fetch"),
            task("save", "file_operation",
                 {"operation": "write", "path": f"{run_id}/names.json",
                  "content": "{{ tasks.names.output }}"}, "names"),
        ],
    }  # fmt: skip


def test_large_outputs_stay_out_of_the_history(stack, api, run_id):
    api.route("GET", f"/blobs/{run_id}", Reply(json=USERS))
    plan = large_output_plan(f"{api.url}/blobs/{run_id}", run_id)
    result = stack.run_plan(plan, run_id, "--approval", "none")
    assert result["status"] == "completed", result["error"]
    tasks = tasks_by_id(result)
    fetched = tasks["fetch"]["output"]
    assert fetched["status_code"] == 200  # small fields stay in the history
    stored = blob_ref(fetched["body"])
    assert stored is not None and stored.size > 1_000_000
    assert "in the blob store" in tasks["fetch"]["output_summary"]
    assert tasks["status"]["output"] == 200
    assert tasks["fourth"]["output"] == 3
    assert tasks["last"]["output"] == [USER_COUNT - 3, USER_COUNT - 2, USER_COUNT - 1]
    assert blob_ref(tasks["names"]["output"]) is not None
    names = [user["name"] for user in USERS]
    assert json.loads((stack.workspace / run_id / "names.json").read_text()) == names
    assert stored.key.startswith(run_id) and (Path(stack.env["BLOB_STORE"]) / stored.key).exists()

    history = stack.cli("history", run_id)
    assert history.returncode == 0 and len(history.stdout) < 200_000, history.stderr
    replayed = stack.cli("replay", run_id)
    assert replayed.returncode == 0 and replayed.stdout.startswith("compatible"), replayed.stderr

    saved = stack.workspace.parent / f"{run_id}-fetch.json"
    finished = stack.cli("output", run_id, "fetch", "--out", str(saved))
    assert finished.returncode == 0, finished.stderr
    assert json.loads(saved.read_text())["body"] == USERS
    assert "saved the output of fetch" in finished.stderr
    printed = stack.cli("output", run_id, "names")
    assert json.loads(printed.stdout) == names

    shown = stack.cli("result", run_id)
    assert "MB of JSON in the blob store" in shown.stdout


def test_output_names_what_it_cannot_show(stack, api, run_id):
    api.route("GET", f"/blobs/{run_id}", Reply(json={"small": True}))
    plan = {"goal": "one small output", "tasks": [task("fetch", "api_call", get(
        f"{api.url}/blobs/{run_id}"))]}  # fmt: skip
    assert stack.run_plan(plan, run_id, "--approval", "none")["status"] == "completed"
    printed = stack.cli("output", run_id, "fetch")
    assert json.loads(printed.stdout)["body"] == {"small": True}
    unknown = stack.cli("output", run_id, "nope")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == f"error: run {run_id} has no task 'nope' (its tasks: fetch)"
    missing_run = stack.cli("output", f"{run_id}-missing", "fetch")
    assert missing_run.returncode == 1 and "no run with id" in missing_run.stderr
    assert len(missing_run.stderr.strip().splitlines()) == 1


def test_cleanup_removes_the_outputs_of_ended_runs(stack, api, run_id):
    api.route("GET", f"/blobs/{run_id}", Reply(json=USERS))
    plan = {"goal": "large", "tasks": [task("fetch", "api_call", get(f"{api.url}/blobs/{run_id}"))]}
    assert stack.run_plan(plan, run_id, "--approval", "none")["status"] == "completed"
    kept = stack.cli_json("cleanup", "--older-than", "1")
    assert run_id not in kept["removed_runs"]
    planned = stack.cli_json("cleanup", "--older-than", "0", "--dry-run")
    assert run_id in planned["removed_runs"]
    assert stack.cli("output", run_id, "fetch").returncode == 0  # a dry run removes nothing
    removed = stack.cli("cleanup", "--older-than", "0")
    assert removed.returncode == 0 and run_id in removed.stdout
    gone = stack.cli("output", run_id, "fetch")
    assert gone.returncode == 1
    assert "no longer in the blob store" in gone.stderr and "cleanup" in gone.stderr


# ----- the stores themselves ------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_server() -> Iterator[dict[str, str]]:
    """moto's S3-compatible server on a free port, with credentials boto3 accepts; yields the
    environment that reaches it (set in this process too)."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    environment = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield environment
    server.stop()


@pytest.fixture(params=["directory", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Blobs:
    if request.param == "directory":
        return Blobs(DirectoryBlobStore(tmp_path / "blobs"), threshold_bytes=1024)
    request.getfixturevalue("s3_server")
    return Blobs(S3BlobStore(BUCKET, f"tests-{uuid.uuid4().hex[:6]}"), threshold_bytes=1024)


async def test_a_store_keeps_large_parts_and_gives_them_back(blobs):
    output = {"status_code": 200, "headers": {"a": "b"}, "body": USERS[:200]}
    kept = await blobs.offload(output, "run/with slash")
    assert kept["status_code"] == 200 and kept["headers"] == {"a": "b"}
    (ref,) = blob_refs(kept)
    assert ref.key.startswith("run%2Fwith%20slash/") and ref.content_type == "application/json"
    assert await blobs.load(kept) == output
    text = "x" * 5000
    text_ref = blob_ref(await blobs.offload(text, "run/with slash"))
    assert text_ref is not None and text_ref.content_type.startswith("text/plain")
    assert await blobs.load(text_ref.as_value()) == text
    assert await blobs.offload({"small": 1}, "run") == {"small": 1}
    (stored,) = await blobs.store.runs()
    assert stored.workflow_id == "run/with slash" and stored.count == 2
    assert await blobs.store.delete_run("run/with slash") == 2
    with pytest.raises(ActionError) as missing:
        await blobs.load(kept)
    assert missing.value.error_type == ErrorType.BLOB_MISSING and not missing.value.retryable


async def test_a_changed_blob_is_refused(blobs):
    ref = await blobs.put(USERS[:100], "run")
    await blobs.store.put(ref.key, b'["changed"]', "application/json")
    with pytest.raises(ActionError) as changed:
        await blobs.read(ref)
    assert changed.value.error_type == ErrorType.BLOB_CORRUPT


def test_an_output_too_large_for_the_history_is_not_retried():
    check_history_size({"small": 1})
    with pytest.raises(ActionError) as refused:
        check_history_size(["x" * 1000] * 2000)
    assert refused.value.error_type == ErrorType.OUTPUT_TOO_LARGE and not refused.value.retryable
    assert "BLOB_THRESHOLD_BYTES" in refused.value.message


def gated(plan: dict, after: str) -> dict:
    """`plan` with a task that waits for approval (mode risky) between `after` and the tasks
    that depend on it."""
    gate = task("gate", "data_transform", {"input": 0, "expression": "@"}, after,
                requires_approval=True)  # fmt: skip
    tasks = [
        {**entry, "depends_on": ["gate" if dep == after else dep for dep in entry["depends_on"]]}
        for entry in plan["tasks"]
    ]
    return {**plan, "tasks": [tasks[0], gate, *tasks[1:]]}


async def activity_workers(client: Client, workflow_id: str) -> dict[str, str]:
    """activity id -> the identity (pid@host) of the worker that started it, from the run's
    history; a local activity's is the worker that completed its workflow task."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    activity_ids: dict[int, str] = {}
    workers: dict[str, str] = {}
    task_workers: dict[int, str] = {}
    for event in history.events:
        if event.HasField("workflow_task_completed_event_attributes"):
            task_workers[event.event_id] = event.workflow_task_completed_event_attributes.identity
        elif local_activity_span(event) is not None:
            marker = event.marker_recorded_event_attributes
            local = json.loads(marker.details["data"].payloads[0].data)
            workers[local["activity_id"]] = task_workers[marker.workflow_task_completed_event_id]
        elif event.HasField("activity_task_scheduled_event_attributes"):
            activity_ids[event.event_id] = (
                event.activity_task_scheduled_event_attributes.activity_id
            )
        elif event.HasField("activity_task_started_event_attributes"):
            started = event.activity_task_started_event_attributes
            workers[activity_ids[started.scheduled_event_id]] = started.identity
    return workers


async def test_workers_share_outputs_through_an_s3_bucket(
    s3_server, stack, api, client, run_id, tmp_path
):
    """One worker process fetches and stores the body in the bucket, and stops; another one
    takes over and reads it from there."""
    api.route("GET", f"/blobs/{run_id}", Reply(json=USERS))
    queue = f"s3-{uuid.uuid4().hex[:6]}"
    env = {**s3_server, "TASK_QUEUE": queue, "BLOB_STORE": f"s3://{BUCKET}/runs"}
    settings = Settings(temporal_address=stack.address, task_queue=queue,
                        blob_store=f"s3://{BUCKET}/runs")  # fmt: skip
    plan = gated(large_output_plan(f"{api.url}/blobs/{run_id}", run_id), after="fetch")

    writer = stack.start_worker(env, log_path=tmp_path / "writer.log")
    agents = await AgentClient.connect(settings)
    handle = await agents.start(plan=plan, options=RunOptions(approval="risky"), workflow_id=run_id)

    async def gate_waits() -> bool:
        state = await handle.status()
        return {t.task_id: t.status for t in state.tasks}["gate"] == TaskStatus.WAITING_APPROVAL

    await poll(gate_waits, "the fetch to end and the gate to wait")
    stop_process(writer)
    reader = stack.start_worker(env, log_path=tmp_path / "reader.log")
    await handle.approve(task="gate")
    result = await asyncio.wait_for(handle.result(), 60)

    assert result.status == "completed", result.error
    workers = await activity_workers(client, run_id)
    # The fetch ran on the first process; every task reading its body, on the second.
    assert workers.pop("fetch").startswith(f"{writer.pid}@"), (workers, writer.pid)
    readers = {"status", "fourth", "last", "names"}
    assert readers <= set(workers), workers
    assert all(who.startswith(f"{reader.pid}@") for who in workers.values()), (workers, reader.pid)
    assert (await handle.output("fetch"))["body"] == USERS
    stored = {run.workflow_id: run for run in await S3BlobStore(BUCKET, "runs").runs()}
    assert stored[run_id].count == 2  # the fetched body, the names
    tasks = {t.task_id: t for t in result.tasks}
    assert tasks["last"].output == [USER_COUNT - 3, USER_COUNT - 2, USER_COUNT - 1]


def test_a_config_too_large_for_the_history_fails_its_task_at_once(stack, api, run_id):
    api.route("GET", f"/blobs/{run_id}", Reply(json=["x" * 1000] * 240))  # under the threshold
    fetches = [task(f"f{i}", "api_call", get(f"{api.url}/blobs/{run_id}")) for i in range(8)]
    joined = task(
        "joined", "data_transform",
        {"input": [f"{{{{ tasks.f{i}.output.body }}}}" for i in range(8)], "expression": "@"},
        *[f"f{i}" for i in range(8)],
    )  # fmt: skip
    result = stack.run_plan({"tasks": [*fetches, joined]}, run_id, "--approval", "none")
    assert result["status"] == "failed"
    failed = tasks_by_id(result)["joined"]
    assert failed["error"]["error_type"] == "InvalidConfig" and failed["attempts"] == 1
    assert "more than Temporal's history can hold" in failed["error"]["message"]


def test_a_secret_reference_in_a_stored_output_stays_text(stack, api, run_id):
    planted = [*USERS[:10000], {"note": "{{ secrets.TEST_TOKEN }}"}]
    api.route("GET", f"/blobs/{run_id}", Reply(json=planted))
    plan = {"tasks": [
        task("fetch", "api_call", get(f"{api.url}/blobs/{run_id}")),
        task("save", "file_operation", {"operation": "write", "path": f"{run_id}/saved.json",
                                        "content": "{{ tasks.fetch.output.body }}"}, "fetch"),
    ]}  # fmt: skip
    result = stack.run_plan(plan, run_id, "--approval", "none")
    assert result["status"] == "completed", result["error"]
    saved = (stack.workspace / run_id / "saved.json").read_text()
    assert TEST_SECRET not in saved and json.loads(saved)[-1] == planted[-1]
