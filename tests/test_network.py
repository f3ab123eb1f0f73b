"""The network policy: what an action may reach, checked on the addresses it connects to,
redirects included; what HTTP_ALLOW_HOSTS and a run's allow_hosts open; the response cap."""

from __future__ import annotations

import gzip
import ipaddress
from http.server import BaseHTTPRequestHandler

import pytest

from agentic.activities.base import ActionContext
from agentic.activities.http import run_api_call
from agentic.activities.network import HttpClients, NetworkPolicy, NetworkRefused
from agentic.activities.secrets import Secret, SecretStore
from agentic.core.actions.http import ApiCallConfig
from agentic.core.errors import ActionError
from agentic.core.network import address_category, parse_rule, parse_rules
from agentic.devstack import BackgroundHTTPServer
from tests.fakes.api_server import FakeAPI, Reply
from tests.helpers import get, task, tasks_by_id


def context(tmp_path, rules: str = "", **options) -> ActionContext:
    clients = HttpClients(NetworkPolicy(parse_rules(rules.split(","))), max_redirects=3)
    return ActionContext(
        http=clients.for_run(), http_clients=clients, workspace_dir=tmp_path, **options
    )


async def call(ctx: ActionContext, url: str) -> dict:
    return await run_api_call(ApiCallConfig(url=url), ctx)


@pytest.mark.parametrize(
    ("address", "category"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("2002:a9fe:a9fe::", "cloud metadata"),  # 6to4 carrying 169.254.169.254
        ("2002:7f00:1::", "loopback"),
        ("169.254.1.1", "link-local"),
        ("10.1.2.3", "private"),
        ("192.168.0.9", "private"),
        ("100.64.0.1", "shared"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),
        ("8.8.8.8", None),
        ("2001:4860:4860::8888", None),
    ],
)
def test_address_categories(address, category):
    assert address_category(ipaddress.ip_address(address)) == category


def test_allow_rules_parse_names_wildcards_networks_and_ports():
    rules = parse_rules(
        ["api.example.com", "*.corp.example:8443", "10.0.0.0/8", "127.0.0.1:8765", "[::1]:9000"]
    )
    assert rules[0].allows_name("API.example.com", 443)
    assert rules[1].allows_name("x.corp.example", 8443)
    assert not rules[1].allows_name("corp.example", 8443)
    assert not rules[1].allows_name("x.corp.example", 443)
    assert rules[2].allows_address(ipaddress.ip_address("10.9.9.9"), 5432)
    assert rules[3].allows_address(ipaddress.ip_address("127.0.0.1"), 8765)
    assert not rules[3].allows_address(ipaddress.ip_address("127.0.0.1"), 8766)
    assert rules[4].allows_address(ipaddress.ip_address("::1"), 9000)
    with pytest.raises(ValueError, match="is not a host name"):
        parse_rule("http://x/y")
    with pytest.raises(ValueError, match="invalid port"):
        parse_rule("host:99999")


async def test_loopback_is_refused_at_once_whatever_the_notation(api, tmp_path):
    api.route("GET", "/policy/ok", Reply(json={"ok": True}))
    ctx = context(tmp_path)
    port = api.port
    for host in ("127.0.0.1", "localhost", "2130706433", "0x7f000001", "[::ffff:127.0.0.1]"):
        with pytest.raises(ActionError) as caught:
            await call(ctx, f"http://{host}:{port}/policy/ok")
        assert caught.value.error_type == "NetworkPolicy" and not caught.value.retryable
        assert "HTTP_ALLOW_HOSTS" in caught.value.message and "loopback" in caught.value.message
    assert api.calls("GET", "/policy/ok") == [], "nothing reached the server"


async def test_allowed_hosts_are_reached_and_redirects_are_checked_too(api, tmp_path):
    elsewhere = f"http://127.0.0.1:{api.port + 1}/secret"
    api.route("GET", "/policy/ok", Reply(json={"ok": True}))
    api.route("GET", "/policy/bounce", Reply(302, headers={"location": elsewhere}))
    api.route("GET", "/policy/loop", Reply(302, headers={"location": "/policy/loop"}))
    ctx = context(tmp_path, f"127.0.0.1:{api.port}")

    assert (await call(ctx, f"http://127.0.0.1:{api.port}/policy/ok"))["body"] == {"ok": True}
    with pytest.raises(ActionError, match=r"127\.0\.0\.1:\d+ is not allowed") as bounced:
        await call(ctx, f"http://127.0.0.1:{api.port}/policy/bounce")
    with pytest.raises(ActionError, match="too many redirects") as looped:
        await call(ctx, f"http://127.0.0.1:{api.port}/policy/loop")

    assert not bounced.value.retryable and not looped.value.retryable
    assert len(api.calls("GET", "/policy/loop")) == 4, "the first request and 3 redirects"


async def test_a_run_may_add_hosts_unless_the_worker_says_no(api, tmp_path):
    api.route("GET", "/policy/run", Reply(json={"ok": True}))
    url = f"http://127.0.0.1:{api.port}/policy/run"
    open_worker = context(tmp_path)
    closed_worker = ActionContext(
        http=None,
        workspace_dir=tmp_path,
        http_clients=HttpClients(NetworkPolicy(), runs_may_add=False),
    )

    run_ctx = open_worker.for_run([f"127.0.0.1:{api.port}"])
    assert (await call(run_ctx, url))["status_code"] == 200
    with pytest.raises(ActionError):
        await call(open_worker, url)  # the worker's own policy is unchanged
    with pytest.raises(ActionError, match="HTTP_RUN_ALLOW_HOSTS=false"):
        closed_worker.for_run([f"127.0.0.1:{api.port}"])


async def test_a_response_over_the_cap_fails_without_retry(api, tmp_path):
    api.route("GET", "/policy/big", Reply(text="x" * 5000))
    api.route("GET", "/policy/small", Reply(text="x" * 50))
    ctx = context(tmp_path, f"127.0.0.1:{api.port}", max_response_bytes=1000)

    with pytest.raises(ActionError) as caught:
        await call(ctx, f"http://127.0.0.1:{api.port}/policy/big")
    small = await call(ctx, f"http://127.0.0.1:{api.port}/policy/small")

    assert caught.value.error_type == "ResponseTooLarge" and not caught.value.retryable
    assert "HTTP_MAX_RESPONSE_BYTES" in caught.value.message
    assert small["body"] == "x" * 50


async def test_the_address_checked_is_the_one_connected_to():
    policy = NetworkPolicy()
    with pytest.raises(NetworkRefused, match="localhost:80 is not allowed"):
        await policy.checked_address("localhost", 80)
    allowed = NetworkPolicy(parse_rules(["localhost"]))
    assert await allowed.checked_address("localhost", 80) in ("127.0.0.1", "::1")


def test_a_refused_call_fails_the_task_at_once_in_a_run(stack, api, run_id):
    api.route("GET", f"/policy/{run_id}", Reply(json={}))
    metadata = get("http://169.254.169.254/latest/meta-data/", timeout=2)
    plan = {"tasks": [task("steal", "api_call", metadata, critical=False),
                      task("ok", "api_call", get(f"{api.url}/policy/{run_id}"))]}  # fmt: skip

    result = stack.run_plan(plan, run_id, "--approval", "none")

    steal = tasks_by_id(result)["steal"]
    assert steal["status"] == "failed" and steal["attempts"] == 1
    assert steal["error"]["error_type"] == "NetworkPolicy"
    assert "cloud metadata" in steal["error"]["message"]
    assert tasks_by_id(result)["ok"]["status"] == "completed"


def test_start_allow_host_opens_a_host_for_one_run(stack, run_id):
    with FakeAPI() as unlisted:  # a server the worker's HTTP_ALLOW_HOSTS does not name
        unlisted.route("GET", "/allow", Reply(json={"ok": 1}))
        plan = {"tasks": [task("call", "api_call", get(f"{unlisted.url}/allow"))]}

        refused = stack.run_plan(plan, f"{run_id}-1", "--approval", "none")
        allowed = stack.run_plan(plan, f"{run_id}-2", "--approval", "none",
                                 "--allow-host", f"127.0.0.1:{unlisted.port}")  # fmt: skip

    assert refused["status"] == "failed"
    assert tasks_by_id(refused)["call"]["error"]["error_type"] == "NetworkPolicy"
    assert allowed["status"] == "completed"
    assert len(unlisted.calls("GET", "/allow")) == 1


async def test_a_name_is_resolved_once_and_connected_to_as_checked(api, tmp_path, monkeypatch):
    """DNS rebinding: the second answer (cloud metadata) never gets a connection."""
    answers = [[("127.0.0.1", ipaddress.ip_address("127.0.0.1"))],
               [("169.254.169.254", ipaddress.ip_address("169.254.169.254"))]]  # fmt: skip
    lookups = []

    async def rebinding_resolve(host: str, port: int):
        lookups.append(host)
        return answers[min(len(lookups), 2) - 1]

    monkeypatch.setattr("agentic.activities.network._resolve", rebinding_resolve)
    api.route("GET", "/policy/rebind", Reply(json={"reached": "loopback"}))
    ctx = context(tmp_path, f"127.0.0.1:{api.port}")

    reply = await call(ctx, f"http://rebind.test:{api.port}/policy/rebind")

    assert reply["body"] == {"reached": "loopback"} and lookups == ["rebind.test"]


async def test_secrets_do_not_follow_a_redirect_to_another_origin(api, tmp_path):
    store = SecretStore({"KEY": Secret("key-value-1234")})
    config, masker = store.fill({"url": f"http://127.0.0.1:{api.port}/policy/hop",
                                 "headers": {"X-Api-Key": "{{ secrets.KEY }}"}})  # fmt: skip
    with FakeAPI() as elsewhere:
        elsewhere.route("GET", "/steal", Reply(json={}))
        api.route("GET", "/policy/hop", Reply(307, headers={"location": f"{elsewhere.url}/steal"}))
        rules = f"127.0.0.1:{api.port},127.0.0.1:{elsewhere.port}"
        ctx = context(tmp_path, rules).for_run([], masker=masker)

        with pytest.raises(ActionError, match="carries secrets") as caught:
            await run_api_call(ApiCallConfig.model_validate(config), ctx)
        plain = await call(context(tmp_path, rules), f"http://127.0.0.1:{api.port}/policy/hop")

        assert caught.value.error_type == "SecretNotAllowed" and not caught.value.retryable
        assert len(elsewhere.calls("GET", "/steal")) == 1, "only the request without secrets"
    assert plain["status_code"] == 200


class _Unsized(BaseHTTPRequestHandler):
    """Bodies without Content-Length: /plain read until the connection closes, /gzip a small
    gzip body that decodes to 100 KB."""

    def do_GET(self) -> None:
        self.send_response(200)
        if self.path == "/gzip":
            self.send_header("Content-Encoding", "gzip")
            body = gzip.compress(b"x" * 100_000)
        else:
            body = b"x" * 5000
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.parametrize("path", ["/plain", "/gzip"])
async def test_the_cap_counts_the_body_as_it_streams(tmp_path, path):
    with BackgroundHTTPServer(_Unsized) as server:
        ctx = context(tmp_path, f"127.0.0.1:{server.port}", max_response_bytes=1000)
        with pytest.raises(ActionError) as caught:
            await call(ctx, f"{server.url}{path}")
    assert caught.value.error_type == "ResponseTooLarge"
