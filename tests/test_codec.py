"""Encrypted payloads: with PAYLOAD_ENCRYPTION_KEYS the history holds ciphertext, the CLI and
the worker (same keys) work as before, the codec server decodes for the Web UI, and keys
rotate by id."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import pytest
from temporalio.api.common.v1 import Payload

from agentic.codec import CodecKeyError, EncryptionKeys, decrypt, encrypt, new_key
from agentic.codec_server import CodecServer
from tests.helpers import history_payloads, payload_text, task

OLD = f"old:{new_key()}"
NEW = f"new:{new_key()}"


def fields_holding(text: str, payloads: list[tuple[str, Payload]]) -> set[str]:
    """The fields (event type and path, not event id) whose payload data holds `text`."""
    return {where.split(".", 1)[1] for where, payload in payloads if text in payload_text(payload)}


def test_payloads_round_trip_and_keys_rotate_by_id():
    plain = [Payload(metadata={"encoding": b"json/plain"}, data=b'{"goal": "hello"}')]
    sealed = encrypt(plain, EncryptionKeys.parse(OLD))

    assert b"hello" not in sealed[0].data and sealed[0].metadata["encryption-key-id"] == b"old"
    assert decrypt(sealed, EncryptionKeys.parse(f"{NEW},{OLD}")) == plain, "rotated: old reads"
    assert encrypt(plain, EncryptionKeys.parse(f"{NEW},{OLD}"))[0].metadata[
        "encryption-key-id"
    ] == b"new"  # fmt: skip
    with pytest.raises(CodecKeyError, match="key 'old', which PAYLOAD_ENCRYPTION_KEYS"):
        decrypt(sealed, EncryptionKeys.parse(NEW))
    with pytest.raises(CodecKeyError, match="not 32 bytes"):
        EncryptionKeys.parse("k:" + base64.b64encode(b"short").decode())


async def test_an_encrypted_run_and_the_codec_server(stack, client, run_id):
    env = {"PAYLOAD_ENCRYPTION_KEYS": OLD, "TASK_QUEUE": f"codec-{uuid.uuid4().hex[:6]}"}
    stack.start_worker(env)
    goal = f"a goal nobody without the key reads {run_id}"
    plan = {
        "goal": goal,
        "tasks": [task("t", "data_transform", {"input": [1, 2], "expression": "sum(@)"})],
    }

    result = stack.run_plan(plan, run_id, "--approval", "none", env=env)

    assert result["status"] == "completed" and result["tasks"][0]["output"] == 3
    keys = EncryptionKeys.parse(OLD)
    history = await client.get_workflow_handle(run_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    assert started.metadata["encoding"] == b"binary/encrypted"
    payloads = history_payloads(history)
    readable = fields_holding(goal, payloads)
    # Search attributes are not encrypted, by design (runs are listed by goal): only they.
    search_attribute = "search_attributes.indexed_fields[AgentGoal]"
    assert any(field.endswith(search_attribute) for field in readable)
    assert [field for field in readable if not field.endswith(search_attribute)] == []
    assert goal not in history.to_json(), "nor in a field that is not a payload"
    # The search is real: with the key, it finds the goal in the run's input and result.
    decrypted = [(where, decrypt([payload], keys)[0]) for where, payload in payloads]
    assert {
        "workflow_execution_started_event_attributes.input.payloads[0]",
        "workflow_execution_completed_event_attributes.result.payloads[0]",
    } <= fields_holding(goal, decrypted) - readable
    with CodecServer(keys, "http://localhost:8233", port=0) as codec:
        body = {"payloads": [json.loads(history.to_json())["events"][0][
            "workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]]}  # fmt: skip
        decoded = httpx.post(f"{codec.url}/decode", json=body, timeout=5)
        preflight = httpx.options(f"{codec.url}/decode", timeout=5)
        rebound = httpx.post(f"{codec.url}/decode", json=body, timeout=5,
                             headers={"Host": f"evil.example:{codec.port}"})  # fmt: skip

    assert decoded.status_code == 200
    data = base64.b64decode(decoded.json()["payloads"][0]["data"])
    assert goal in data.decode()
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:8233"
    assert rebound.status_code == 403 and goal not in rebound.text
