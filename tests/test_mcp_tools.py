"""MCP servers' tools as actions (issue 22): a real MCP server written with the `mcp` SDK
(tests/fakes/mcp_server.py), over stdio (started by the worker) and over streamable HTTP, used
through the CLI and a worker process started with MCP_SERVERS."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from agentic.devstack import free_port, port_open, stop_process
from agentic.settings import Settings
from tests.conftest import REPO, wait_until
from tests.helpers import task, tasks_by_id

TOKEN = "mcp-token-for-tests"


@pytest.fixture(scope="module")
def http_server():
    """The test server over streamable HTTP on a free port (it wants the bearer TOKEN, which
    the worker sends from a secret), stopped after the module."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.mcp_server", "http", str(port), TOKEN],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_until(lambda: port_open("127.0.0.1", port), 30, "the MCP server over HTTP")
    yield port
    stop_process(process)


@pytest.fixture(scope="module")
def mcp_env(stack, http_server, tmp_path_factory):
    """A worker with three MCP servers: `tools` (stdio), `remote` (HTTP, a secret header) and
    `gone` (a command that exits at once: the worker starts without it)."""
    markers = tmp_path_factory.mktemp("mcp-markers")
    servers = {
        "tools": {
            "command": [sys.executable, "-m", "tests.fakes.mcp_server"],
            "env": {"CRASH_MARKER_DIR": str(markers)},
        },
        "remote": {
            "url": f"http://127.0.0.1:{http_server}/mcp",
            "headers": {"Authorization": "Bearer {{ secrets.MCP_TOKEN }}"},
        },
        "gone": {"command": [sys.executable, "-c", "raise SystemExit(1)"]},
    }
    env = {
        "MCP_SERVERS": json.dumps(servers),
        "TASK_QUEUE": f"mcp-{uuid.uuid4().hex[:6]}",
        "HTTP_ALLOW_HOSTS": f"{stack.env['HTTP_ALLOW_HOSTS']},127.0.0.1:{http_server}",
        "AGENTIC_SECRET_MCP_TOKEN": TOKEN,
        "AGENTIC_SECRET_MCP_TOKEN_HOSTS": f"127.0.0.1:{http_server}",
        "CRASH_MARKER_DIR": str(markers),
    }
    log_path = markers / "worker.log"
    stack.start_worker(env, log_path=log_path)
    return {**env, "_log": str(log_path), "_markers": str(markers)}


def cli_env(mcp_env):
    return {key: value for key, value in mcp_env.items() if not key.startswith("_")}


def test_actions_lists_each_tool_with_its_server(stack, mcp_env):
    listed = stack.cli("actions", "--json", env=cli_env(mcp_env))

    assert listed.returncode == 0, listed.stderr
    rows = {row["action_type"]: row for row in map(json.loads, listed.stdout.splitlines())}
    assert {"mcp.tools.lookup", "mcp.tools.delete_thing", "mcp.remote.stats"} <= set(rows)
    assert not any(action.startswith("mcp.gone.") for action in rows)
    lookup = rows["mcp.tools.lookup"]
    assert "MCP server tools (stdio)" in lookup["description"]
    assert "Look a person up by key" in lookup["description"]
    assert lookup["config_schema"]["required"] == ["key"]
    assert "MCP server remote (http://127.0.0.1" in rows["mcp.remote.lookup"]["description"]
    human = stack.cli("actions", env=cli_env(mcp_env))
    assert "mcp.tools.delete_thing" in human.stdout
    warned = "warning: MCP server 'gone' could not be reached, its tools are not listed: "
    assert f"{warned}MCPError: Connection closed" in human.stderr.splitlines()
    assert "mcp_server_unavailable" not in human.stderr, "one line, not a log line too"


def test_an_unreachable_server_is_one_line_and_the_worker_starts(stack, mcp_env):
    log = Path(mcp_env["_log"]).read_text()
    lines = [line for line in log.splitlines() if "mcp_server_unavailable" in line]
    assert len(lines) == 1 and "gone" in lines[0]
    assert "worker_ready" in log


def test_a_plan_runs_tools_over_stdio_and_http(stack, mcp_env, run_id):
    plan = {"tasks": [
        task("who", "mcp.tools.lookup", {"key": "ada"}),
        task("sum", "mcp.remote.stats", {"numbers": [1, 2, 3]}),
        task("again", "mcp.remote.lookup", {"key": "{{ tasks.who.output }}"}, "who"),
    ]}  # fmt: skip

    result = stack.run_plan(plan, run_id, "--approval", "none", env=cli_env(mcp_env))

    assert result["status"] == "completed", result["error"]
    tasks = tasks_by_id(result)
    assert tasks["who"]["output"] == "Ada Lovelace", "the text content"
    assert tasks["sum"]["output"] == {"count": 3, "total": 6}, "the structured content"
    assert tasks["again"]["output"] == "unknown", "a reference filled at run time"


def test_a_bad_argument_or_unknown_tool_is_refused_before_the_run(stack, mcp_env):
    bad = stack.write_plan({"tasks": [task("who", "mcp.tools.lookup", {"key": 3})]})
    refused = stack.cli("validate", str(bad), env=cli_env(mcp_env))
    assert refused.returncode != 0
    assert "key: 3 is not of type 'string'" in refused.stderr

    unknown = stack.write_plan({"tasks": [task("x", "mcp.tools.nope", {})]})
    refused = stack.cli("validate", str(unknown), env=cli_env(mcp_env))
    assert refused.returncode != 0
    assert "unknown action_type 'mcp.tools.nope'" in refused.stderr


def test_a_tools_own_error_is_not_retried(stack, mcp_env, run_id):
    plan = {"tasks": [task("bad", "mcp.tools.broken", {"reason": "on purpose"}, critical=False)]}

    result = stack.run_plan(plan, run_id, "--approval", "none", env=cli_env(mcp_env))

    failed = tasks_by_id(result)["bad"]
    assert failed["error"]["error_type"] == "McpToolError"
    assert "the tool failed: on purpose" in failed["error"]["message"]
    assert failed["attempts"] == 1
    calls = (Path(mcp_env["_markers"]) / "broken-calls").read_text()
    assert calls == "1", "the tool was called once"


def test_a_crashed_server_is_started_again_and_the_retry_succeeds(stack, mcp_env, run_id):
    plan = {"tasks": [task("crash", "mcp.tools.crash_once", {"marker": run_id})]}

    result = stack.run_plan(plan, run_id, "--approval", "none", env=cli_env(mcp_env))

    assert result["status"] == "completed", result["error"]
    crashed = tasks_by_id(result)["crash"]
    assert crashed["output"] == "survived"
    assert crashed["attempts"] == 2, "the first attempt died with the server"


def test_a_destructive_tool_waits_for_approval_a_read_only_one_does_not(stack, mcp_env, run_id):
    plan = {"tasks": [
        task("who", "mcp.tools.lookup", {"key": "alan"}),
        task("drop", "mcp.tools.delete_thing", {"name": "alan"}, "who"),
    ]}  # fmt: skip
    path = str(stack.write_plan(plan))

    started = stack.cli("start", "--plan", path, "--id", run_id, "--approval", "risky",
                        env=cli_env(mcp_env))  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert "drop (MCP tool delete_thing of tools is destructive (destructiveHint))" in (
        started.stdout
    )
    assert "who (" not in started.stdout
    wait_until(
        lambda: stack.cli("approve", run_id, "--task", "drop", env=cli_env(mcp_env)).returncode
        == 0, 30, "the approval to be taken",
    )  # fmt: skip
    result = stack.cli_json("result", run_id, "--wait", env=cli_env(mcp_env))
    assert result["status"] == "completed", result["error"]
    assert tasks_by_id(result)["drop"]["output"] == "deleted alan"
    assert tasks_by_id(result)["drop"]["approved_by"]


def test_mcp_servers_file_adds_servers_and_a_bad_one_is_one_line(tmp_path):
    servers = tmp_path / "servers.json"
    servers.write_text(json.dumps({"files": {"command": ["server-files"]}}))
    settings = Settings(mcp_servers={"web": {"url": "https://example.com/mcp"}},
                        mcp_servers_file=servers)  # fmt: skip
    assert sorted(settings.mcp_server_settings()) == ["files", "web"]

    servers.write_text(json.dumps({"files": {"command": ["x"], "url": "https://example.com"}}))
    with pytest.raises(ValueError, match=r"servers.json: give either \"command\" \(stdio\)"):
        Settings(mcp_servers_file=servers).mcp_server_settings()
    with pytest.raises(ValueError, match=r"MCP server name 'a\.b': use letters"):
        Settings(mcp_servers={"a.b": {"command": ["x"]}})
    servers.write_text("garbage")
    with pytest.raises(ValueError, match=r"servers.json: not valid JSON \(Expecting value"):
        Settings(mcp_servers_file=servers).mcp_server_settings()
    with pytest.raises(ValueError, match=r'unknown field "cmd": a server takes "command"'):
        Settings(mcp_servers={"x": {"cmd": ["server"]}})


def child_pids(pid: int) -> list[int]:
    """The child processes of `pid` (Linux: /proc)."""
    listed = Path(f"/proc/{pid}/task").glob("*/children")
    return [int(child) for path in listed for child in path.read_text().split()]


def running(pid: int) -> bool:
    """True while `pid` exists and is no zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_stdio_server_is_the_workers_child_and_stops_with_it(stack, tmp_path):
    servers = {"only": {"command": [sys.executable, "-m", "tests.fakes.mcp_server"],
                        "env": {"CRASH_MARKER_DIR": str(tmp_path)}}}  # fmt: skip
    env = {"MCP_SERVERS": json.dumps(servers), "TASK_QUEUE": f"mcp-{uuid.uuid4().hex[:6]}"}
    worker = stack.start_worker(env, log_path=tmp_path / "worker.log")
    children = [
        pid for pid in child_pids(worker.pid)
        if b"tests.fakes.mcp_server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]  # fmt: skip
    assert len(children) == 1, "the worker started the server"

    stop_process(worker)

    wait_until(lambda: not running(children[0]), 15, "the server to stop with the worker")


async def test_an_http_server_is_connected_to_only_at_the_address_checked(http_server, monkeypatch):
    """DNS rebinding: the name passes the check before connecting (loopback, allowed), then
    resolves to cloud metadata where the MCP SDK's client connects; that connection is
    refused by the policy, not made."""
    from agentic.activities.mcp import McpConnection, McpUnavailable
    from agentic.activities.network import NetworkPolicy
    from agentic.activities.secrets import SecretStore
    from agentic.core.mcp import McpServerSetting
    from agentic.core.network import parse_rules

    answers = ["127.0.0.1", "169.254.169.254"]
    lookups = []

    async def rebinding_resolve(host: str, port: int):
        lookups.append(host)
        text = answers[min(len(lookups), 2) - 1]
        return [(text, ipaddress.ip_address(text))]

    monkeypatch.setattr("agentic.activities.network._resolve", rebinding_resolve)
    setting = McpServerSetting(url=f"http://rebind.test:{http_server}/mcp")
    policy = NetworkPolicy(parse_rules([f"127.0.0.1:{http_server}"]))
    connection = McpConnection("rebound", setting, SecretStore({}), policy)

    refused = r"not allowed by the network policy \(169\.254\.169\.254"
    with pytest.raises(McpUnavailable, match=refused):
        await connection.client()
    await connection.close()

    assert lookups[:2] == ["rebind.test", "rebind.test"]


async def test_a_server_that_cannot_be_reached_says_what_to_check(http_server):
    """A command that is not there, a port nobody listens on, a token the server refuses:
    each reason says which, not only the MCP SDK's words."""
    from agentic.activities.mcp import discover_tools
    from agentic.activities.network import NetworkPolicy
    from agentic.activities.secrets import SecretStore
    from agentic.core.mcp import McpServerSetting
    from agentic.core.network import parse_rules
    from agentic.core.registry import ACTIONS

    closed = free_port()
    servers = {
        "no-command": McpServerSetting(command=["no-such-mcp-server", "--stdio"]),
        "no-listener": McpServerSetting(url=f"http://127.0.0.1:{closed}/mcp"),
        "bad-token": McpServerSetting(url=f"http://127.0.0.1:{http_server}/mcp",
                                      headers={"Authorization": "Bearer wrong"}),
    }  # fmt: skip
    policy = NetworkPolicy(parse_rules([f"127.0.0.1:{closed}", f"127.0.0.1:{http_server}"]))

    assert await discover_tools(servers, SecretStore({}), policy) == []

    reasons = ACTIONS.unavailable()
    assert reasons["mcp.no-command."] == (
        "command 'no-such-mcp-server' not found: give its full path, or install it on the PATH"
    )
    assert reasons["mcp.no-listener."].startswith(
        f"cannot connect to http://127.0.0.1:{closed}/mcp"
    )
    assert reasons["mcp.bad-token."] == (
        f"http://127.0.0.1:{http_server}/mcp answered 401 Unauthorized (its headers, or the "
        "secrets they name, were refused)"
    )


def probe_server(marker: Path) -> list[str]:
    """A command that notes in `marker` that it was started (then exits, saying on stderr)."""
    noise = "import sys; print('NOISE', file=sys.stderr)"
    return [sys.executable, "-c", f"{noise}; open({str(marker)!r}, 'a').write('started\\n')"]


def test_a_command_starts_an_mcp_server_only_when_it_needs_the_tools(stack, tmp_path):
    """`validate` of a plan of built-in actions starts no server; one that uses a tool starts
    that tool's server only (not the others, nor reads an OpenAPI document); `actions`, which
    lists them all, starts every one."""
    marker, other = tmp_path / "started", tmp_path / "other-started"
    spec = tmp_path / "spec.json"
    env = {
        "MCP_SERVERS": json.dumps({"probe": {"command": probe_server(marker)},
                                   "other": {"command": probe_server(other)}}),
        "OPENAPI_SERVICES": json.dumps({"svc": {"spec": str(spec)}}),  # not there: not read
    }  # fmt: skip
    builtin = stack.write_plan(
        {"tasks": [task("t", "data_transform", {"input": 1, "expression": "@"})]}
    )
    tool = stack.write_plan({"tasks": [task("t", "mcp.probe.anything", {})]})

    assert stack.cli("validate", str(builtin), env=env).returncode == 0
    assert not marker.exists(), "no server started for a plan without tools"

    refused = stack.cli("validate", str(tool), env=env)
    assert refused.returncode != 0
    assert marker.read_text() == "started\n", "started once, to find its tools"
    assert not other.exists(), "a server whose tools the plan does not use is not started"
    assert "MCP server 'probe' could not be reached to list its tools" in refused.stderr
    assert "NOISE" not in refused.stderr, "a server's own stderr is not the CLI's output"

    listed = stack.cli("actions", env=env)
    assert listed.returncode != 0, "actions reads every OpenAPI document"
    assert f"OPENAPI_SERVICES svc: spec {spec}: cannot read it" in listed.stderr


def test_reading_and_approving_a_run_that_uses_tools_starts_no_server(stack, mcp_env, run_id):
    """status, list, graph, events, approve and result of a run whose plan uses MCP tools,
    from a CLI given the servers: none of them is started (nor an OpenAPI document read)."""
    plan = {"tasks": [
        task("who", "mcp.tools.lookup", {"key": "alan"}),
        task("drop", "mcp.tools.delete_thing", {"name": "alan"}, "who"),
    ]}  # fmt: skip
    started = stack.cli("start", "--plan", str(stack.write_plan(plan)), "--id", run_id,
                        "--approval", "risky", env=cli_env(mcp_env))  # fmt: skip
    assert started.returncode == 0, started.stderr
    marker = Path(mcp_env["_markers"]) / f"{run_id}-started"
    servers = json.loads(mcp_env["MCP_SERVERS"])
    servers["tools"]["command"] = probe_server(marker)
    missing_spec = {"svc": {"spec": str(marker.with_suffix(".json"))}}
    env = {**cli_env(mcp_env), "MCP_SERVERS": json.dumps(servers),
           "OPENAPI_SERVICES": json.dumps(missing_spec)}  # fmt: skip
    wait_until(
        lambda: stack.cli("approve", run_id, "--task", "drop", env=env).returncode == 0,
        30, "the approval to be taken",
    )  # fmt: skip

    reads = [["status", run_id], ["status", run_id, "--json"], ["list"], ["graph", run_id],
             ["events", run_id], ["result", run_id, "--wait"]]  # fmt: skip
    for command in reads:
        read = stack.cli(*command, env=env)
        assert read.returncode == 0, (command, read.stderr)
        assert not marker.exists(), f"{command[0]} started an MCP server"
    assert tasks_by_id(stack.cli_json("result", run_id, env=env))["drop"]["output"] == (
        "deleted alan"
    )


def test_a_run_that_used_a_tool_is_read_without_its_server(stack, mcp_env, run_id):
    """status, result and graph of a run that used MCP tools, from a CLI that has no
    MCP_SERVERS (or whose server is down): the plan's tools are stand-ins, not errors."""
    plan = {"tasks": [task("who", "mcp.tools.lookup", {"key": "ada"})]}
    assert stack.run_plan(plan, run_id, "--approval", "none", env=cli_env(mcp_env))[
        "status"] == "completed"  # fmt: skip
    elsewhere = {"MCP_SERVERS": "{}", "TASK_QUEUE": mcp_env["TASK_QUEUE"]}

    status = stack.cli_json("status", run_id, env=elsewhere)
    result = stack.cli_json("result", run_id, env=elsewhere)
    drawn = stack.cli("graph", run_id, env=elsewhere)

    assert tasks_by_id(status)["who"]["status"] == "completed"
    assert tasks_by_id(result)["who"]["output"] == "Ada Lovelace"
    assert status["plan"]["tasks"][0]["action_config"] == {"key": "ada"}
    assert "mcp.tools.lookup" in drawn.stdout, drawn.stderr


def test_a_stdio_servers_env_may_name_secrets_but_not_bound_ones():
    from agentic.activities.mcp import McpConnection, McpUnavailable
    from agentic.activities.network import NetworkPolicy
    from agentic.activities.secrets import Secret, SecretStore
    from agentic.core.mcp import McpServerSetting
    from agentic.core.network import parse_rules

    bound_to_api = tuple(parse_rules(["api.example.com"]))
    secrets = SecretStore({"TOKEN": Secret("tok-123"), "BOUND": Secret("b-456", bound_to_api)})
    setting = McpServerSetting(command=["server"], env={"TOKEN": "{{ secrets.TOKEN }}"})
    server = McpConnection("s", setting, secrets, NetworkPolicy()).stdio_parameters()
    assert server.env == {"TOKEN": "tok-123"}

    bound = McpServerSetting(command=["server"], env={"KEY": "{{ secrets.BOUND }}"})
    with pytest.raises(McpUnavailable, match=r"secret BOUND may only be sent to api\.example\.com"):
        McpConnection("s", bound, secrets, NetworkPolicy()).stdio_parameters()
