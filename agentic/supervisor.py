"""Several worker processes on one machine (`python worker.py --processes N`): a supervisor
starts N plain workers on the same task queues, starts a child again when it dies, and drains
them all on SIGTERM or SIGINT.

The children are `python -m agentic.worker` processes, each with its own Temporal client:
the supervisor never connects to Temporal, so nothing native is forked. Temporal shares the
work among them as it would among workers on several machines.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from agentic.settings import Settings, setting_sources

logger = structlog.get_logger("supervisor")

# A child that dies soon after it started waits longer each time before it is started again
# (1 s, 2 s, 4 s, ... 30 s), so one that cannot start does not spin; one that ran this long
# was healthy, and starts again at once.
FIRST_RESTART_DELAY_SECONDS = 1.0
MAX_RESTART_DELAY_SECONDS = 30.0
HEALTHY_AFTER_SECONDS = 30.0
# After WORKER_GRACEFUL_SHUTDOWN_SECONDS a child cancels its actions and closes; this long
# more, and the supervisor kills what is left.
DRAIN_MARGIN_SECONDS = 15.0
SUPERVISOR_PID_VARIABLE = "AGENTIC_SUPERVISOR_PID"


@dataclass
class Child:
    """One worker process slot: the process in it now, and how often it was started again."""

    number: int
    environment: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    restart_delay: float = 0.0


@dataclass
class Supervisor:
    """Keeps `processes` workers running until a signal, then drains them."""

    settings: Settings
    processes: int
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    children: list[Child] = field(default_factory=list)
    stop_signal: int = signal.SIGTERM
    killed: bool = False

    async def run(self) -> int:
        """Run until SIGTERM or SIGINT and the children's exit; 0 when all drained in time."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.on_signal, signum)
        self.children = [
            Child(number, child_environment(self.settings, number))
            for number in range(self.processes)
        ]
        logger.info("supervisor_started", processes=self.processes, supervisor_pid=os.getpid())
        keepers = [asyncio.create_task(self.keep_running(child)) for child in self.children]
        await self.stopping.wait()
        drain_seconds = self.settings.worker_graceful_shutdown_seconds + DRAIN_MARGIN_SECONDS
        _, late = await asyncio.wait(keepers, timeout=drain_seconds)
        if late:
            logger.error("worker_processes_not_drained", seconds=drain_seconds)
            self.kill()
            await asyncio.wait(late)
        logger.info("supervisor_stopped", killed=self.killed)
        return 1 if self.killed else 0

    async def keep_running(self, child: Child) -> None:
        """Start the child, and again each time it dies, until the supervisor stops."""
        while not self.stopping.is_set():
            started = time.monotonic()
            process = await self.start(child)
            exit_code = await process.wait()
            if self.stopping.is_set():
                logger.info(
                    "worker_process_exited",
                    child=child.number,
                    pid=process.pid,
                    exit_code=exit_code,
                )
                return
            lived = time.monotonic() - started
            child.restart_delay = next_restart_delay(child.restart_delay, lived)
            child.restarts += 1
            logger.warning(
                "worker_process_died",
                child=child.number,
                pid=process.pid,
                exit_code=exit_code,
                ran_seconds=round(lived, 1),
                restart_in_seconds=child.restart_delay,
                restarts=child.restarts,
            )
            with suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), child.restart_delay)

    async def start(self, child: Child) -> asyncio.subprocess.Process:
        """A new worker process in the child's slot; it inherits stdout and stderr."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agentic.worker", env=child.environment
        )
        child.process = process
        logger.info(
            "worker_process_started",
            child=child.number,
            pid=process.pid,
            metrics=child.environment.get("METRICS_ADDRESS"),
        )
        if self.stopping.is_set():  # the signal came while it was starting
            process.send_signal(self.stop_signal)
        return process

    def on_signal(self, signum: int) -> None:
        """The first signal is passed on to the children, which drain; a second kills them."""
        if self.stopping.is_set():
            logger.warning("supervisor_killing_workers", signal=signal.Signals(signum).name)
            self.kill()
            return
        self.stop_signal = signum
        self.stopping.set()
        logger.info(
            "supervisor_stopping",
            signal=signal.Signals(signum).name,
            graceful_seconds=self.settings.worker_graceful_shutdown_seconds,
        )
        for process in self.live_processes():
            with suppress(ProcessLookupError):  # it exited just now
                process.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL every child still running."""
        self.killed = True
        for process in self.live_processes():
            with suppress(ProcessLookupError):
                process.kill()

    def live_processes(self) -> list[asyncio.subprocess.Process]:
        """The children's processes that have not exited."""
        return [
            child.process
            for child in self.children
            if child.process is not None and child.process.returncode is None
        ]


def next_restart_delay(previous: float, lived_seconds: float) -> float:
    """How long to wait before starting a child again that ran `lived_seconds` and died."""
    if lived_seconds >= HEALTHY_AFTER_SECONDS:
        return 0.0
    return min(max(previous * 2, FIRST_RESTART_DELAY_SECONDS), MAX_RESTART_DELAY_SECONDS)


def child_environment(settings: Settings, number: int) -> dict[str, str]:
    """The environment of child `number`: the supervisor's, with the command line's settings
    (--address, --queues, ...), one process each, and its own metrics port."""
    environment = dict(os.environ)
    for source in setting_sources(settings):
        if source.source == "command line":
            environment[source.variable] = str(getattr(settings, source.variable.lower()))
    environment["WORKER_PROCESSES"] = "1"
    if script_dir_holds_agentic():  # `python /elsewhere/worker.py`, not installed
        paths = [str(Path(sys.path[0]).resolve()), environment.get("PYTHONPATH", "")]
        environment["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    environment[SUPERVISOR_PID_VARIABLE] = str(os.getpid())
    if settings.metrics_address:
        environment["METRICS_ADDRESS"] = metrics_address_of(settings.metrics_address, number)
    return environment


def script_dir_holds_agentic() -> bool:
    """Whether this process found the engine beside its script (sys.path[0]), where a child
    started as `python -m agentic.worker` in the current directory would not look."""
    package_root = Path(__file__).resolve().parent.parent
    return bool(sys.path[0]) and Path(sys.path[0]).resolve() == package_root


def metrics_address_of(address: str, number: int) -> str:
    """METRICS_ADDRESS's port plus the child's number: each child serves its own metrics."""
    host, _, port = address.rpartition(":")
    if not port.isdigit():  # each child then fails on it as a single worker would
        return address
    return f"{host}:{int(port) + number}"


def supervise(settings: Settings) -> int:
    """Run WORKER_PROCESSES workers until SIGTERM or SIGINT; the exit code."""
    return asyncio.run(Supervisor(settings, settings.worker_processes).run())
