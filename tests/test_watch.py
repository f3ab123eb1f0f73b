"""`watch` in a pseudo-terminal: the live view shows each task, waits, and the result."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import threading

from tests.conftest import REPO, wait_until
from tests.fakes.api_server import Reply
from tests.helpers import get, task

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """A command running in a pseudo-terminal, with everything it printed so far."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        self.process = subprocess.Popen(
            args, cwd=REPO, env={**env, "TERM": "xterm-256color", "COLUMNS": "160"},
            stdin=slave, stdout=slave, stderr=slave, close_fds=True,
        )  # fmt: skip
        os.close(slave)
        self._master = master
        self._chunks: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def wait(self, timeout: float) -> int:
        """The command's exit code, once it ended and all it printed has been read (the
        process may end before the reader has taken its last lines)."""
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        return code

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._master, 4096)
            except OSError:
                return
            if not data:
                return
            self._chunks.append(data.decode(errors="replace"))

    @property
    def screen(self) -> str:
        """All output so far, without terminal control codes."""
        return ANSI.sub("", "".join(self._chunks))


def test_watch_shows_tasks_live_then_the_result(stack, api, run_id):
    api.route("GET", f"/watch/{run_id}", Reply(json={"n": 1}))
    api.route("POST", f"/watch/{run_id}", Reply(201, json={"saved": True}))
    plan = {"tasks": [
        task("fetch", "api_call", get(f"{api.url}/watch/{run_id}")),
        task("save", "api_call", {"method": "POST", "url": f"{api.url}/watch/{run_id}"}, "fetch"),
    ]}  # fmt: skip
    started = stack.cli("start", "--plan", str(stack.write_plan(plan)), "--id", run_id)
    assert started.returncode == 0, started.stderr

    terminal = Terminal([sys.executable, "cli.py", "watch", run_id], stack.env)
    wait_until(lambda: "waiting_approval" in terminal.screen, 30, "the waiting task on screen")
    screen = terminal.screen
    assert f"run {run_id}: running (approval: risky)" in screen
    assert "fetch" in screen and "completed" in screen
    assert "needs approval: sends POST" in screen
    assert f"python cli.py approve {run_id} --task save" in screen

    stack.cli("approve", run_id, "--task", "save")

    assert terminal.wait(timeout=60) == 0
    final = terminal.screen
    assert f"run {run_id}: completed" in final
    assert "tasks: 2/2 completed" in final


def test_start_watch_follows_the_run_it_started(stack, api, run_id):
    api.route("GET", f"/start-watch/{run_id}", Reply(json={"n": 2}, delay=0.5))
    plan = stack.write_plan(
        {"tasks": [task("only", "api_call", get(f"{api.url}/start-watch/{run_id}"))]}
    )

    terminal = Terminal(
        [sys.executable, "cli.py", "start", "--plan", str(plan), "--id", run_id, "--watch"],
        stack.env,
    )

    assert terminal.wait(timeout=60) == 0
    screen = terminal.screen
    assert f"started {run_id}" in screen
    assert "no task of this plan needs approval" in screen
    assert f"run {run_id}: completed" in screen and "tasks: 1/1 completed" in screen


def test_the_readme_hello_plan_with_watch(stack):
    (stack.workspace / "hello" / "adults.json").unlink(missing_ok=True)

    terminal = Terminal(
        [sys.executable, "cli.py", "start", "--plan", "examples/hello.json", "--watch"], stack.env
    )

    assert terminal.wait(timeout=60) == 0, terminal.screen
    screen = terminal.screen
    assert "pending" in screen, "the first view shows the tasks that wait for others"
    assert ": completed" in screen and "tasks: 4/4 completed" in screen
    assert "wrote" in screen and "hello/adults.json" in screen


def test_status_of_a_run_still_going_through_a_pipe(stack, api, run_id):
    api.route("GET", f"/pending/{run_id}", Reply(json={}, delay=20))
    plan = {"tasks": [
        task("slow", "api_call", get(f"{api.url}/pending/{run_id}")),
        task("after", "wait", {"seconds": 0}, "slow"),
    ]}  # fmt: skip
    stack.cli("start", "--plan", str(stack.write_plan(plan)), "--id", run_id)
    wait_until(lambda: api.calls("GET", f"/pending/{run_id}"), 30, "the slow call")

    shown = stack.cli("status", run_id)

    assert shown.returncode == 0, shown.stderr
    assert "running" in shown.stdout and "pending" in shown.stdout
    assert "\x1b[" not in shown.stdout, "no colour codes through a pipe"
    stack.cli("cancel", run_id)
