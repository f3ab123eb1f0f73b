"""`python worker.py --processes N`: N plain workers on the same task queue under one
supervisor, which starts a killed one again and drains them all on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from agentic.client import AgentClient
from agentic.core.messages import RunOptions
from agentic.settings import Settings
from agentic.supervisor import MAX_RESTART_DELAY_SECONDS, next_restart_delay
from tests.conftest import REPO, STARTUP_TIMEOUT_SECONDS, Stack, wait_until
from tests.helpers import task


@dataclass
class Supervised:
    """A `worker.py --processes 2` process, its log, and its task queue."""

    process: subprocess.Popen[Any]
    log_path: Path
    task_queue: str

    def events(self, name: str) -> list[dict[str, Any]]:
        """The JSON log lines of event `name`, supervisor's and children's."""
        lines = self.log_path.read_text().splitlines()
        records = [json.loads(line) for line in lines if line.startswith("{")]
        return [record for record in records if record.get("event") == name]

    def ready_pids(self) -> list[int]:
        """The pids of the children that have said worker_ready, in order."""
        return [record["pid"] for record in self.events("worker_ready")]


def start_supervisor(stack: Stack, log_path: Path, processes: str = "2") -> Supervised:
    """Start `python worker.py --processes N` on a task queue of its own; wait for N ready."""
    task_queue = f"procs-{uuid.uuid4().hex[:8]}"
    with log_path.open("a") as log:
        process = subprocess.Popen(
            [sys.executable, "worker.py", "--processes", processes],
            cwd=REPO, env={**stack.env, "TASK_QUEUE": task_queue, "LOG_FORMAT": "json"},
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    stack.processes.append(process)
    supervised = Supervised(process, log_path, task_queue)

    def all_ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"supervisor exited: {log_path.read_text()[-3000:]}")
        return len(supervised.ready_pids()) >= int(processes)

    wait_until(all_ready, STARTUP_TIMEOUT_SECONDS, f"{processes} worker processes")
    return supervised


@pytest.fixture(scope="module")
def supervised(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Supervised]:
    """One supervisor with two children, shared by the tests that leave it running."""
    supervised = start_supervisor(stack, tmp_path_factory.mktemp("procs") / "workers.log")
    yield supervised
    supervised.process.terminate()
    supervised.process.wait(timeout=60)


def timed_plan(seconds: float) -> dict[str, Any]:
    """A run that waits on a durable timer, then computes something."""
    return {"goal": "processes", "tasks": [
        task("pause", "wait", {"seconds": seconds}),
        task("sum", "data_transform", {"input": [1, 2, 3], "expression": "sum(@)"}, "pause"),
    ]}  # fmt: skip


async def workflow_task_pids(client: Client, workflow_id: str) -> list[int]:
    """The pids of the workers that took the run's workflow tasks (identity `pid@host`)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [
        int(event.workflow_task_started_event_attributes.identity.partition("@")[0])
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
    ]


async def first_workflow_task_pid(client: Client, workflow_id: str) -> int:
    """The pid of the worker that took the run's first workflow task, once one did."""
    for _ in range(300):
        pids = await workflow_task_pids(client, workflow_id)
        if pids:
            return pids[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no workflow task of {workflow_id} started in 30 s")


async def test_two_worker_processes_both_take_work(stack, client, supervised):
    children = set(supervised.ready_pids())
    agents = await AgentClient.connect(
        Settings(temporal_address=stack.address, task_queue=supervised.task_queue)
    )
    worked: set[int] = set()
    for _batch in range(5):  # runs go to whichever worker polls first: a few batches at most
        handles = [
            await agents.start(plan=timed_plan(0.2), options=RunOptions(approval="none"))
            for _ in range(8)
        ]
        results = await asyncio.gather(*(handle.result() for handle in handles))
        assert [result.status.value for result in results] == ["completed"] * 8
        for handle in handles:
            worked |= set(await workflow_task_pids(client, handle.workflow_id))
        if worked == children:
            break
    assert worked == children, f"children {children}, work done by {worked}"
    assert supervised.process.pid not in worked  # the supervisor never connects


async def test_a_killed_worker_process_is_started_again_and_the_run_goes_on(
    stack, client, supervised
):
    agents = await AgentClient.connect(
        Settings(temporal_address=stack.address, task_queue=supervised.task_queue)
    )
    handle = await agents.start(plan=timed_plan(2), options=RunOptions(approval="none"))
    # the child that took the first workflow task keeps the run in its cache during the timer
    holder = await first_workflow_task_pid(client, handle.workflow_id)
    ready_before = len(supervised.ready_pids())
    os.kill(holder, signal.SIGKILL)

    result = await handle.result()

    assert result.status.value == "completed"
    assert {t.task_id: t.output for t in result.tasks}["sum"] == 6
    wait_until(lambda: len(supervised.ready_pids()) > ready_before, STARTUP_TIMEOUT_SECONDS,
               "a new worker process")  # fmt: skip
    died = [record for record in supervised.events("worker_process_died")
            if record["pid"] == holder]  # fmt: skip
    assert len(died) == 1 and died[0]["exit_code"] == -signal.SIGKILL
    assert supervised.process.poll() is None
    alive = [pid for pid in supervised.ready_pids() if pid_alive(pid)]
    assert len(alive) == 2 and holder not in alive


def test_sigterm_drains_every_worker_process_and_the_supervisor_exits_0(stack, tmp_path):
    supervised = start_supervisor(stack, tmp_path / "workers.log")
    children = supervised.ready_pids()

    supervised.process.send_signal(signal.SIGTERM)

    assert supervised.process.wait(timeout=60) == 0
    assert not any(pid_alive(pid) for pid in children)
    exited = {record["pid"]: record["exit_code"]
              for record in supervised.events("worker_process_exited")}  # fmt: skip
    assert exited == dict.fromkeys(children, 0)
    assert len(supervised.events("worker_stopped")) == 2
    assert not supervised.events("worker_process_died")


@pytest.mark.parametrize(
    ("arguments", "environment", "given"),
    [(["--processes", "0"], {}, "'0'"), (["--processes", "abc"], {}, "'abc'"),
     ([], {"WORKER_PROCESSES": "-1"}, "'-1'")],
)  # fmt: skip
def test_a_bad_number_of_processes_is_one_line(arguments, environment, given):
    finished = subprocess.run(
        [sys.executable, "worker.py", *arguments], cwd=REPO,
        env={**os.environ, **environment}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert finished.returncode == 1
    assert finished.stderr == (
        f"error: invalid setting: worker_processes: {given}: give a number of processes, 1 or "
        "more, or auto (one per core)\n"
    )


def test_a_child_that_keeps_dying_waits_longer_each_time():
    delays = [0.0]
    for _ in range(8):
        delays.append(next_restart_delay(delays[-1], lived_seconds=0.5))
    assert delays[1:] == [1, 2, 4, 8, 16, MAX_RESTART_DELAY_SECONDS, 30, 30]
    assert next_restart_delay(30, lived_seconds=3600) == 0  # it was healthy: at once


def pid_alive(pid: int) -> bool:
    """Whether process `pid` is still running (the supervisor reaps its children)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_plug_in_that_cannot_load_stops_the_supervisor_before_any_child():
    finished = subprocess.run(
        [sys.executable, "worker.py", "--processes", "2"], cwd=REPO,
        env={**os.environ, "ACTION_MODULES": "no_such_plugin_module"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert finished.returncode == 1
    assert finished.stderr.startswith("error: cannot import the action plug-in")
    assert len(finished.stderr.splitlines()) == 1
    assert "worker_process_started" not in finished.stdout + finished.stderr
