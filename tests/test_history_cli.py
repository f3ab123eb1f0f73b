"""`history` saves a run's history as Temporal JSON; `replay` replays saved histories, or every
run of a workflow id, against the current code: 0 compatible, 1 not (naming the event and the
task), 2 bad input, always without a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from typing import Any

import pytest
from temporalio.client import WorkflowHistory

from agentic.codec import new_key
from agentic.devstack import temporal_cli
from tests.conftest import REPO
from tests.forked_cli import run_cli
from tests.helpers import task

COMMITTED = REPO / "tests" / "histories" / "v1_data_pipeline_completed.json"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`python cli.py ARGS` with no server: `replay --file` needs none."""
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    env.pop("PAYLOAD_ENCRYPTION_KEYS", None)
    return run_cli(list(args), env)


def scheduled(history: dict[str, Any], activity_id: str) -> dict[str, Any]:
    """The ActivityTaskScheduled event of `activity_id` in a history's JSON."""
    return next(
        event
        for event in history["events"]
        if event.get("activityTaskScheduledEventAttributes", {}).get("activityId") == activity_id
    )


def assert_one_error_line(finished: subprocess.CompletedProcess[str], code: int) -> str:
    assert finished.returncode == code, finished.stderr
    assert "Traceback" not in finished.stdout + finished.stderr
    [line] = finished.stderr.splitlines()
    assert line.startswith("error: ")
    return line


def test_a_committed_history_replays_from_a_file():
    events = len(json.loads(COMMITTED.read_text())["events"])

    replayed = cli("replay", "--file", str(COMMITTED))

    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert replayed.stdout == f"compatible: 1 run, {events} events replayed against this code\n"
    assert replayed.stderr == ""


def rename_activity_type(history: dict[str, Any]) -> None:
    # The SDK's message names the activity type, not the event: the CLI finds the event.
    attributes = scheduled(history, "transform")["activityTaskScheduledEventAttributes"]
    attributes["activityType"]["name"] = "renamed_action"


def change_activity_id(history: dict[str, Any]) -> None:
    scheduled(history, "transform")["activityTaskScheduledEventAttributes"]["activityId"] = "x"


@pytest.mark.parametrize("change", [rename_activity_type, change_activity_id])
def test_a_changed_history_fails_naming_the_event_and_the_task(change, tmp_path):
    history = json.loads(COMMITTED.read_text())
    event_id = scheduled(history, "transform")["eventId"]
    change(history)
    doctored = tmp_path / "doctored.json"
    doctored.write_text(json.dumps(history))

    replayed = cli("replay", "--file", str(doctored))

    assert replayed.returncode == 1, replayed.stdout + replayed.stderr
    assert "Traceback" not in replayed.stdout + replayed.stderr
    assert replayed.stderr == ""
    failure, verdict = replayed.stdout.splitlines()
    assert f"does not replay at event {event_id} (ActivityTaskScheduled, task " in failure
    assert "Nondeterminism" in failure
    if change is rename_activity_type:
        assert "task transform" in failure and "type renamed_action" in failure
    else:
        assert "activity command 'transform'" in failure
    assert verdict == "not compatible: 1 of 1 run did not replay against this code"


def test_files_that_are_not_histories_are_one_line(tmp_path):
    not_json = tmp_path / "not.json"
    not_json.write_text("{ nope")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"tasks": [task("t", "data_transform", {"input": 1})]}))

    missing = assert_one_error_line(cli("replay", "--file", str(tmp_path / "missing.json")), 2)
    malformed = assert_one_error_line(cli("replay", "--file", str(not_json)), 2)
    not_history = assert_one_error_line(cli("replay", "--file", str(plan)), 2)
    neither = assert_one_error_line(cli("replay"), 2)

    assert "cannot read history file" in missing and "No such file" in missing
    assert "is not valid JSON: line 1, column 3" in malformed
    assert f"{plan} is not a Temporal history" in not_history
    assert "give a workflow id, or --file FILE" in neither


def chain_plan(run_id: str) -> dict[str, Any]:
    """Three tasks one after another: with CONTINUE_AS_NEW_AFTER_TASKS=1, three runs."""
    steps = [
        task(
            f"s{i}",
            "data_transform",
            {"input": i, "expression": "@"},
            *([f"s{i - 1}"] if i else []),
        )
        for i in range(3)
    ]
    return {"goal": f"a chain of runs ({run_id})", "tasks": steps}


@pytest.fixture
def chain(stack, run_id) -> str:
    """A finished run that continued as new: one workflow id, several runs."""
    result = stack.run_plan(chain_plan(run_id), run_id, "--approval", "none",
                            env={"CONTINUE_AS_NEW_AFTER_TASKS": "1"})  # fmt: skip
    assert result["status"] == "completed", result
    return run_id


def test_history_saves_the_latest_run_and_replay_accepts_it(stack, chain, tmp_path):
    saved = tmp_path / "history.json"

    written = stack.cli("history", chain, "--out", str(saved))
    printed = stack.cli("history", chain)

    assert written.returncode == 0, written.stderr
    history = WorkflowHistory.from_json(chain, saved.read_text())
    events = len(json.loads(saved.read_text())["events"])
    assert events == len(history.events) > 3
    assert history.events[-1].HasField("workflow_execution_completed_event_attributes")
    [note] = written.stderr.splitlines()
    assert note.startswith(f"saved {events} events (") and note.endswith(
        f" of run {history.run_id} to {saved}"
    )
    assert printed.returncode == 0, printed.stderr
    assert WorkflowHistory.from_json(chain, printed.stdout).events == history.events
    replayed = stack.cli("replay", "--file", str(saved))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert replayed.stdout == f"compatible: 1 run, {events} events replayed against this code\n"


def test_history_of_one_run_of_a_chain(stack, chain, tmp_path):
    latest = stack.cli("history", chain)
    first = json.loads(latest.stdout)["events"][0]["workflowExecutionStartedEventAttributes"]
    first_run = first["firstExecutionRunId"]

    older = stack.cli("history", chain, "--run-id", first_run)

    assert older.returncode == 0, older.stderr
    started = json.loads(older.stdout)["events"][0]["workflowExecutionStartedEventAttributes"]
    assert started["originalExecutionRunId"] == first_run != first["originalExecutionRunId"]
    assert "continuedExecutionRunId" not in started


def test_replay_of_an_id_replays_every_run_of_the_chain(stack, chain):
    runs = [json.loads(stack.cli("history", chain).stdout)]
    while "continuedExecutionRunId" in (
        started := runs[0]["events"][0]["workflowExecutionStartedEventAttributes"]
    ):
        previous = stack.cli("history", chain, "--run-id", started["continuedExecutionRunId"])
        runs.insert(0, json.loads(previous.stdout))
    events = sum(len(run["events"]) for run in runs)

    replayed = stack.cli("replay", chain)

    assert len(runs) >= 3
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert replayed.stdout == (
        f"compatible: {len(runs)} runs, {events} events replayed against this code\n"
    )


def test_unknown_runs_are_one_line(stack, run_id):
    unknown_replay = assert_one_error_line(stack.cli("replay", run_id), 2)
    unknown_history = assert_one_error_line(stack.cli("history", run_id), 1)
    unknown_run = assert_one_error_line(
        stack.cli("history", run_id, "--run-id", str(uuid.uuid4())), 1
    )

    assert f"no run with id {run_id!r}" in unknown_replay
    assert f"no run with id {run_id!r}" in unknown_history
    assert f"of workflow {run_id!r}" in unknown_run


def test_an_encrypted_run_replays_with_its_keys(stack, run_id):
    keys = f"k:{new_key()}"
    env = {"PAYLOAD_ENCRYPTION_KEYS": keys, "TASK_QUEUE": f"replay-{uuid.uuid4().hex[:6]}"}
    stack.start_worker(env)
    plan = {"tasks": [task("t", "data_transform", {"input": [1, 2], "expression": "sum(@)"})]}
    assert stack.run_plan(plan, run_id, "--approval", "none", env=env)["status"] == "completed"

    with_keys = stack.cli("replay", run_id, env=env)
    without_keys = stack.cli("replay", run_id)

    assert with_keys.returncode == 0, with_keys.stdout + with_keys.stderr
    assert with_keys.stdout.startswith("compatible: 1 run, ")
    assert "set PAYLOAD_ENCRYPTION_KEYS" in assert_one_error_line(without_keys, 2)


def test_the_saved_file_is_what_the_temporal_cli_prints(stack, chain, tmp_path):
    saved = tmp_path / "history.json"
    stack.cli("history", chain, "--out", str(saved))
    shown = subprocess.run(
        [temporal_cli(), "workflow", "show", "--workflow-id", chain, "--output", "json",
         "--address", stack.address, "--namespace", "default"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert shown.returncode == 0, shown.stderr
    ours = WorkflowHistory.from_json(chain, saved.read_text())
    theirs = WorkflowHistory.from_json(chain, shown.stdout)
    assert list(ours.events) == list(theirs.events)
