"""Worker processes for `bench/run.py`: the engine's (`python worker.py`) and the bare one
(`python -m bench.bare_worker`), each its own process so its memory is its own.

Both get the engine worker's settings (concurrency, pollers, cache, sticky timeout), read from
the same settings `python worker.py` reads, so the two differ only in what they run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from agentic.devstack import stop_process, stop_with_parent
from agentic.runtime import STICKY_QUEUE_TIMEOUT
from agentic.settings import Settings
from bench.bare_worker import READY_LINE as BARE_READY_LINE
from bench.large_pages import peak_rss_mb

REPO = Path(__file__).resolve().parent.parent
ENGINE_READY_LINE = "worker_ready"
STARTUP_TIMEOUT_SECONDS = 60


@dataclass
class WorkerProcess:
    """A worker process started by the bench, logging to `log_path`."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    ready_line: str
    processes: int = 1  # more: a supervisor and this many workers under it, each logging ready

    @property
    def pid(self) -> int:
        return self.process.pid

    def peak_rss_mb(self) -> float:
        """Its peak resident set size so far (VmHWM), in MB; with a supervisor, the sum of
        each process's peak (at least the peak of their sum)."""
        return sum(alive_peak_rss_mb(pid) for pid in process_tree(self.pid))

    def cpu_seconds(self) -> float:
        """The CPU time it (and the processes under it) has used so far, user and system."""
        return cpu_seconds(self.pid) + sum(cpu_seconds(pid) for pid in children(self.pid))

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT_SECONDS) -> WorkerProcess:
        """Block until its ready line is logged (once per process); a worker that exits or
        hangs is an error."""
        deadline = time.monotonic() + timeout
        while self.log_path.read_text().count(self.ready_line) < self.processes:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log_path.read_text()[-2000:]
                raise RuntimeError(f"the {self.name} worker did not start:\n{tail}")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, as when a machine dies."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        stop_process(self.process)


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system) process `pid` has used so far, and its children that
    ended and were waited for, from /proc; 0 for a process that is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # the stat fields 14 to 17: utime, stime, cutime, cstime, in ticks
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def alive_peak_rss_mb(pid: int) -> float:
    """Process `pid`'s peak RSS in MB; 0 for a process that is gone."""
    try:
        return peak_rss_mb(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue  # ended while we looked
        if parent == pid:
            found.append(int(stat.parent.name))
    return found


def process_tree(pid: int) -> list[int]:
    """`pid` and the processes under it (a supervisor's workers)."""
    return [pid, *(below for child in children(pid) for below in process_tree(child))]


def launch(
    name: str, command: list[str], env: dict[str, str], log_path: Path, ready: str
) -> WorkerProcess:
    """Start a worker process (not waiting for it: see `WorkerProcess.wait_ready`)."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=stop_with_parent,
        )  # fmt: skip
    return WorkerProcess(name, process, log_path, ready)


def engine_worker(
    address: str,
    task_queue: str,
    log_path: Path,
    allow_hosts: str,
    extra: dict[str, str],
    processes: int = 1,
) -> WorkerProcess:
    """`python worker.py` on `task_queue`, with the engine's default settings; with
    `processes` > 1, `python worker.py --processes N` (a supervisor and N workers)."""
    root = log_path.parent
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": address,
        "TASK_QUEUE": task_queue,
        "WORKSPACE_DIR": str(root / "workspace"),
        "BLOB_STORE": str(root / "blobs"),
        "HTTP_ALLOW_HOSTS": allow_hosts,
        "LOG_LEVEL": "INFO",  # worker_ready is an INFO line
        "METRICS_ADDRESS": "",  # several workers at once: not one port for all
        **extra,
    }
    command = [sys.executable, "worker.py"]
    if processes > 1:
        command += ["--processes", str(processes)]
    worker = launch("engine", command, env, log_path, ENGINE_READY_LINE)
    worker.processes = processes
    return worker


def bare_worker(address: str, task_queue: str, log_path: Path, settings: Settings) -> WorkerProcess:
    """`python -m bench.bare_worker` on `task_queue`, with the engine worker's settings."""
    root = log_path.parent
    command = [
        sys.executable, "-m", "bench.bare_worker", "--address", address,
        "--task-queue", task_queue, "--workspace", str(root / "workspace"),
        "--max-activities", str(settings.worker_max_concurrent_activities),
        "--max-workflow-tasks", str(settings.worker_max_concurrent_workflow_tasks),
        "--max-cached", str(settings.worker_max_cached_workflows),
        "--workflow-pollers", str(settings.worker_workflow_task_pollers),
        "--activity-pollers", str(settings.worker_activity_task_pollers),
        "--sticky-timeout", str(STICKY_QUEUE_TIMEOUT.total_seconds()),
    ]  # fmt: skip
    return launch("bare", command, dict(os.environ), log_path, BARE_READY_LINE)


def wait_all(*workers: WorkerProcess) -> None:
    """Wait until every worker is ready (they start in parallel)."""
    for worker in workers:
        worker.wait_ready()
