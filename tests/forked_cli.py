"""`python cli.py ARGS` without paying for the imports every time.

Each CLI command the tests run used to be a new interpreter that spent most of its 1.5-2 s
importing the engine before doing a few milliseconds of work. A `CliForkServer` is one process
per test session that has imported what `python cli.py` imports (and nothing more) and forks a
fresh child for each command. The child is what a new `python cli.py ARGS` process would be,
minus the imports: its own pid, the caller's working directory, environment (set before the
command reads any of it), argv, stdin, and stdout and stderr as pipes to the caller; its exit
code, or the signal that ended it, is the returncode. A command that exceeds its timeout is
killed, as `subprocess.run` does. Anything that would differ from a new interpreter falls back
to a real `python cli.py` process: an interpreter setting in the environment (PYTHON*) that is
not the server's, or a server whose imports wrote anything (the tests must see such output).

The server runs this file as a script: `python tests/forked_cli.py SOCKET`.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import locale
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CLI = REPO / "cli.py"
_HEADER = struct.Struct("!I")


def _interpreter_env(env: dict[str, str]) -> dict[str, str]:
    """The variables Python reads when it starts (its own settings, the locale), which a forked
    child cannot change."""
    return {
        key: value
        for key, value in env.items()
        if key.startswith(("PYTHON", "LC_")) or key == "LANG"
    }


class CliForkServer:
    """One forking server for `python cli.py` commands (see the module's docstring)."""

    def __init__(self, env: dict[str, str], directory: Path) -> None:
        self.env = dict(env)
        self.socket_path = str(directory / "cli.sock")
        self.log_path = directory / "cli-server.log"
        self.usable = False
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), self.socket_path],
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while not os.path.exists(self.socket_path):
            if self.process.poll() is not None or time.monotonic() > deadline:
                return  # every command then runs as its own process
            time.sleep(0.02)
        # Importing the CLI printed nothing: a new interpreter would print nothing either.
        self.usable = not self.log_path.read_bytes()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def run(
        self, args: list[str], env: dict[str, str], cwd: Path, timeout: float | None
    ) -> subprocess.CompletedProcess[str]:
        """`subprocess.run([sys.executable, "cli.py", *args], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=timeout)`, forked from the server."""
        command = [sys.executable, "cli.py", *args]
        if (
            not self.usable
            or self.process.poll() is not None
            or _interpreter_env(env) != _interpreter_env(self.env)
        ):
            return subprocess.run(
                command,
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(self.socket_path)
            body = json.dumps({"args": args, "env": env, "cwd": str(cwd)}).encode()
            stdin = _stdin()
            try:
                fds = [stdin, out_write, err_write]
                socket.send_fds(connection, [_HEADER.pack(len(body))], fds)
            finally:
                if stdin != 0:
                    os.close(stdin)
            connection.sendall(body)
        finally:
            os.close(out_write)
            os.close(err_write)
        return _collect(command, connection, out_read, err_read, timeout)


_shared: CliForkServer | None = None


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path = REPO, timeout: float | None = 120
) -> subprocess.CompletedProcess[str]:
    """`python cli.py ARGS` for tests without a stack: forked from a server this process
    starts on first use (with that call's environment) and stops when it exits."""
    global _shared
    if _shared is None:
        directory = Path(tempfile.mkdtemp(prefix="agentic-tests-cli-"))
        _shared = CliForkServer(env, directory)
        atexit.register(_shared.stop)
        atexit.register(shutil.rmtree, directory, True)
    return _shared.run(args, env, cwd, timeout)


def _stdin() -> int:
    """The caller's stdin, which `subprocess.run` passes on; /dev/null if it has none."""
    try:
        os.fstat(0)
        return 0
    except OSError:
        return os.open(os.devnull, os.O_RDONLY)


def _collect(
    command: list[str],
    connection: socket.socket,
    out_read: int,
    err_read: int,
    timeout: float | None,
) -> subprocess.CompletedProcess[str]:
    """Read the child's stdout and stderr to their ends and its returncode (the server first
    sends the child's pid, then how it ended), killing it past `timeout`."""
    deadline = None if timeout is None else time.monotonic() + timeout
    told = connection.fileno()  # the server's lines: the child's pid, then its returncode
    chunks: dict[int, list[bytes]] = {out_read: [], err_read: [], told: []}
    selector = selectors.DefaultSelector()
    for source in chunks:
        selector.register(source, selectors.EVENT_READ)
    pid: int | None = None
    timed_out = False
    try:
        while selector.get_map():
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if timed_out:
                wait = 10.0  # killed: only what is left in the pipes
            ready = selector.select(wait)
            if not ready:
                if timed_out:
                    break
                timed_out = True
                if pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                continue
            for key, _ in ready:
                data = connection.recv(65536) if key.fd == told else os.read(key.fd, 65536)
                if data:
                    chunks[key.fd].append(data)
                    if key.fd == told and pid is None:
                        pid = _pid_from(b"".join(chunks[told]))
                else:
                    selector.unregister(key.fd)
    finally:
        selector.close()
        connection.close()
        os.close(out_read)
        os.close(err_read)
    stdout = _text(b"".join(chunks[out_read]))
    stderr = _text(b"".join(chunks[err_read]))
    if timed_out:
        raise subprocess.TimeoutExpired(command, timeout or 0, output=stdout, stderr=stderr)
    lines = b"".join(chunks[told]).decode().splitlines()
    if len(lines) != 2:
        raise RuntimeError(f"the CLI fork server did not say how the command ended: {lines}")
    return subprocess.CompletedProcess(command, int(lines[1]), stdout, stderr)


def _pid_from(data: bytes) -> int | None:
    first, newline, _ = data.partition(b"\n")
    return int(first) if newline else None


def _text(data: bytes) -> str:
    """Bytes as `subprocess.run(text=True)` decodes them."""
    text = data.decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _receive(connection: socket.socket) -> tuple[dict[str, Any], list[int]]:
    header, fds, _, _ = socket.recv_fds(connection, _HEADER.size, 3)
    while len(header) < _HEADER.size:  # pragma: no cover - a header comes whole
        header += connection.recv(_HEADER.size - len(header))
    (size,) = _HEADER.unpack(header)
    body = b""
    while len(body) < size:
        data = connection.recv(size - len(body))
        if not data:
            raise EOFError("the request ended early")
        body += data
    return json.loads(body), fds


def _run_command(request: dict[str, Any], fds: list[int]) -> None:
    """In the forked child: become `python cli.py ARGS` and never return."""
    code = 1
    try:
        os.chdir(request["cwd"])
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        sys.argv = ["cli.py", *request["args"]]
        import runpy

        try:
            runpy.run_path(str(CLI), run_name="__main__")
            code = 0
        except SystemExit as done:
            if done.code is None:
                code = 0
            elif isinstance(done.code, int):
                code = done.code
            else:
                print(done.code, file=sys.stderr)
                code = 1
        except BaseException:
            sys.excepthook(*sys.exc_info())
            code = 1
        import threading

        threading._shutdown()  # type: ignore[attr-defined]  # as the interpreter does at exit
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                code = code or 120  # as Python does when it cannot flush at exit
        os._exit(code)


def _serve(socket_path: str) -> None:
    sys.path[0] = str(REPO)  # what `python cli.py` has first on its path
    from agentic.cli import main  # noqa: F401  # what cli.py imports

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path + ".tmp")
    listener.listen(64)
    os.rename(socket_path + ".tmp", socket_path)
    listener.settimeout(1.0)  # to reap the supervisors that ended while none comes
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:
        _reap()
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        try:
            request, fds = _receive(connection)
        except (OSError, EOFError, ValueError):
            connection.close()
            continue
        supervisor = os.fork()
        if supervisor == 0:
            listener.close()
            child = os.fork()
            if child == 0:
                connection.close()
                _run_command(request, fds)
            for fd in fds:
                os.close(fd)
            connection.sendall(f"{child}\n".encode())
            _, status = os.waitpid(child, 0)
            connection.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
            os._exit(0)
        for fd in fds:
            os.close(fd)
        connection.close()


def _reap() -> None:
    """Collect the supervisors that ended."""
    while True:
        try:
            ended, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not ended:
            return


if __name__ == "__main__":
    _serve(sys.argv[1])
