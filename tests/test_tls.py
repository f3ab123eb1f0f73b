"""Connecting to a Temporal that speaks TLS (mutual TLS here): the CLI, the worker and the
Python API build their client from the same TEMPORAL_TLS_* settings."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from agentic.client import AgentClient
from agentic.core.messages import RunOptions
from agentic.settings import Settings
from agentic.worker import run_worker
from tests.fakes.api_server import Reply
from tests.fakes.tls_proxy import Certificates, TLSProxy, make_certificates
from tests.helpers import get, task


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_server(certificates, temporal_server) -> Iterator[TLSProxy]:
    """The dev server behind mutual TLS."""
    proxy = TLSProxy(certificates, temporal_server.address).start()
    yield proxy
    proxy.stop()


def tls_env(certificates: Certificates, proxy: TLSProxy) -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": proxy.address,
        "TEMPORAL_TLS_CA": str(certificates.ca),
        "TEMPORAL_TLS_CERT": str(certificates.client_cert),
        "TEMPORAL_TLS_KEY": str(certificates.client_key),
    }


def test_the_cli_runs_a_plan_over_mutual_tls(stack, api, certificates, tls_server, run_id):
    api.route("GET", f"/tls/{run_id}", Reply(json={"secure": True}))
    plan = {"tasks": [task("call", "api_call", get(f"{api.url}/tls/{run_id}"))]}

    result = stack.run_plan(
        plan, run_id, "--approval", "none", env=tls_env(certificates, tls_server)
    )

    assert result["status"] == "completed"
    assert result["tasks"][0]["output"]["body"] == {"secure": True}


@pytest.mark.parametrize(
    ("missing", "why"),
    [
        (("TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY"), "without a client certificate"),
        (("TEMPORAL_TLS_CA", "TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY"), "without TLS"),
    ],
)
def test_a_client_the_server_refuses_gets_one_line(stack, certificates, tls_server, missing, why):
    env = {name: value for name, value in tls_env(certificates, tls_server).items()
           if name not in missing}  # fmt: skip
    env.update({name: "" for name in missing})

    finished = stack.cli("list", env=env, timeout=60)

    assert finished.returncode == 1, why
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the Temporal server"), (
        finished.stderr
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TEMPORAL_TLS_CERT": "/etc/hostname"}, "TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go"),
        ({"TEMPORAL_TLS_CA": "/no/such/ca.pem"}, "TEMPORAL_TLS_CA: /no/such/ca.pem is not"),
    ],
)
def test_bad_tls_settings_are_one_line(stack, env, message):
    finished = stack.cli("list", env=env)

    assert finished.returncode == 1
    assert finished.stderr.startswith("error: invalid setting:") and message in finished.stderr
    assert len(finished.stderr.strip().splitlines()) == 1


async def test_a_worker_and_the_python_api_connect_over_mutual_tls(
    api, certificates, tls_server, tmp_path
):
    path = f"/tls/worker-{uuid.uuid4().hex[:6]}"
    api.route("GET", path, Reply(json={"through": "tls"}))
    settings = Settings(
        temporal_address=tls_server.address,
        temporal_tls_ca=certificates.ca,
        temporal_tls_cert=certificates.client_cert,
        temporal_tls_key=certificates.client_key,
        task_queue=f"tls-{uuid.uuid4().hex[:6]}",
        workspace_dir=tmp_path,
        http_allow_hosts=f"127.0.0.1:{api.port}",
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop=stop, ready=ready))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        client = await AgentClient.connect(settings)
        plan = {"tasks": [task("call", "api_call", get(f"{api.url}{path}"))]}
        result = await client.run(plan=plan, options=RunOptions(approval="none"))
    finally:
        stop.set()
        await worker
    assert result.status == "completed" and result.tasks[0].output["body"] == {"through": "tls"}
