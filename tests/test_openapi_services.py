"""OpenAPI services as actions (issue 22): a worker process started with OPENAPI_SERVICES reads
the sample API's own OpenAPI 3.1 document (GET /openapi.json) and an OpenAPI 3.0 document in
YAML for the fake API; plans use their operations through the CLI."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid

import httpx
import pytest

from agentic.activities.base import ActionContext
from agentic.activities.http import _redirected
from agentic.activities.openapi import OperationRunner
from agentic.core.actions.http import ApiCallConfig
from agentic.core.openapi import operations
from tests.conftest import REPO, TEST_SECRET, wait_until
from tests.fakes.api_server import Reply
from tests.helpers import task, tasks_by_id

# OpenAPI 3.0, in YAML: no operationIds (names from the method and the path), $refs to
# parameters and schemas, a nullable property, a header carrying a secret.
FAKE_SPEC = """
openapi: 3.0.3
info: {title: Things, version: "1"}
paths:
  /things/{thing_id}:
    parameters:
      - $ref: '#/components/parameters/ThingId'
    post:
      parameters:
        - {name: dry_run, in: query, schema: {type: boolean}}
        - {name: X-Trace, in: header, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Thing'}
      responses:
        '201': {description: Made}
components:
  parameters:
    ThingId: {name: thing_id, in: path, required: true, schema: {type: integer}}
  schemas:
    Thing:
      type: object
      required: [label]
      properties:
        label: {type: string}
        note: {type: string, nullable: true}
"""


@pytest.fixture(scope="module")
def openapi_env(stack, sample_api, api, tmp_path_factory):
    """A worker with two services: `sample` (the sample API's document, by URL) and `fake`
    (a YAML file, its requests to the fake API with a secret header)."""
    folder = tmp_path_factory.mktemp("openapi")
    (folder / "things.yaml").write_text(FAKE_SPEC)
    services = {
        "sample": {"spec": f"{sample_api.url}/openapi.json", "base_url": sample_api.url},
        "fake": {
            "spec": str(folder / "things.yaml"),
            "base_url": api.url,
            "headers": {"Authorization": "Bearer {{ secrets.TEST_TOKEN }}"},
        },
    }
    env = {
        "OPENAPI_SERVICES": json.dumps(services),
        "TASK_QUEUE": f"openapi-{uuid.uuid4().hex[:6]}",
    }
    stack.start_worker(env, log_path=folder / "worker.log")
    return env


def test_actions_lists_each_operation_of_each_service(stack, openapi_env):
    listed = stack.cli("actions", "--json", env=openapi_env)

    assert listed.returncode == 0, listed.stderr
    rows = {row["action_type"]: row for row in map(json.loads, listed.stdout.splitlines())}
    assert {"sample.listUsers", "sample.listUserOrders", "sample.createToken",
            "fake.post_things_thing_id"} <= set(rows)  # fmt: skip
    orders = rows["sample.listUserOrders"]
    assert "OpenAPI service sample: GET /users/{user_id}/orders" in orders["description"]
    assert orders["config_schema"]["required"] == ["user_id"]
    body = rows["fake.post_things_thing_id"]["config_schema"]["properties"]["body"]
    assert body["properties"]["note"]["type"] == ["string", "null"], "$ref inlined, 3.0 nullable"
    bearer = rows["sample.listOrders"]["config_schema"]["properties"]["bearer"]
    assert "sent as Authorization: Bearer" in bearer["description"], "its security scheme"


def test_a_plan_runs_operations_and_gets_status_headers_and_body(stack, openapi_env, run_id):
    plan = {"tasks": [
        task("orders", "sample.listUserOrders", {"user_id": "5"}),
        task("page", "sample.listUserPages", {"limit": 2}),
        task("five", "data_transform", {"input": 5, "expression": "@"}),
        # A number for a string parameter (an id another task found) goes as its text.
        task("again", "sample.listUserOrders", {"user_id": "{{ tasks.five.output }}"}, "five"),
    ]}  # fmt: skip

    result = stack.run_plan(plan, run_id, "--approval", "risky", env=openapi_env)

    assert result["status"] == "completed", result["error"]
    orders = tasks_by_id(result)["orders"]["output"]
    assert orders["status_code"] == 200
    assert "application/json" in orders["headers"]["content-type"]
    assert [order["user_id"] for order in orders["body"]] == [5, 5]
    page = tasks_by_id(result)["page"]["output"]["body"]
    assert len(page["items"]) == 2 and page["next"] == "2"
    assert tasks_by_id(result)["again"]["output"]["body"] == orders["body"]


def test_a_bad_argument_is_refused_before_the_run(stack, openapi_env):
    for config, message in (
        ({"user_id": [5]}, "user_id: [5] is not of type 'string'"),
        ({}, "'user_id' is a required property"),
        ({"user_id": "5", "page": 2}, "('page' was unexpected)"),
    ):
        plan = stack.write_plan({"tasks": [task("orders", "sample.listUserOrders", config)]})
        refused = stack.cli("validate", str(plan), env=openapi_env)
        assert refused.returncode != 0
        [line] = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
        assert message in line


def test_a_post_is_risky_and_waits_for_approval(stack, openapi_env, run_id):
    """The token it makes is given to an operation that needs it through the config field of
    its security scheme (`bearer`, sent as Authorization: Bearer)."""
    credentials = {"client_id": "demo", "client_secret": "demo-secret"}
    plan = {"tasks": [
        task("users", "sample.listUsers", {}),
        task("token", "sample.createToken", {"body": credentials}, "users"),
        task("orders", "sample.listOrders",
             {"bearer": "{{ tasks.token.output.body.access_token }}"}, "token"),
    ]}  # fmt: skip
    path = str(stack.write_plan(plan))

    started = stack.cli("start", "--plan", path, "--id", run_id, "--approval", "risky",
                        env=openapi_env)  # fmt: skip

    assert started.returncode == 0, started.stderr
    assert "token (sends POST /auth/token to OpenAPI service sample)" in started.stdout
    assert "users (" not in started.stdout
    wait_until(
        lambda: stack.cli("approve", run_id, "--task", "token", env=openapi_env).returncode
        == 0, 30, "the approval to be taken",
    )  # fmt: skip
    result = stack.cli_json("result", run_id, "--wait", env=openapi_env)
    assert result["status"] == "completed", result["error"]
    assert tasks_by_id(result)["token"]["output"]["body"]["token_type"] == "bearer"
    orders = tasks_by_id(result)["orders"]["output"]
    assert orders["status_code"] == 200 and len(orders["body"]) > 0


def test_parameters_body_secret_header_and_idempotency_key_go_as_api_call_sends_them(
    stack, openapi_env, api, run_id
):
    api.route("POST", "/things/7", Reply(201, json={"made": True}))
    config = {"thing_id": 7, "dry_run": True, "X-Trace": run_id,
              "body": {"label": "lamp", "note": None}}  # fmt: skip
    plan = {"tasks": [task("make", "fake.post_things_thing_id", config)]}

    result = stack.run_plan(plan, run_id, "--approval", "none", env=openapi_env)

    assert result["status"] == "completed", result["error"]
    assert tasks_by_id(result)["make"]["output"]["status_code"] == 201
    [call] = [c for c in api.calls("POST", "/things/7") if
              c.headers.get("x-trace") == run_id]  # fmt: skip
    assert call.headers["authorization"] == f"Bearer {TEST_SECRET}"
    assert call.query == {"dry_run": ["true"]}
    assert call.json() == {"label": "lamp", "note": None}
    assert len(call.headers["idempotency-key"]) == 32


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not: [json", "not JSON or YAML"),
        ('{"openapi": "3.1.0"}', "not valid OpenAPI"),
        (
            '{"swagger": "2.0", "info": {}, "paths": {}}',
            "not an OpenAPI 3.0 or 3.1 document (version 2.0)",
        ),
    ],
)
def test_a_spec_that_does_not_parse_or_validate_is_one_line_at_start(stack, tmp_path, text,
                                                                     reason):  # fmt: skip
    spec = tmp_path / "broken.json"
    spec.write_text(text)
    env = {**stack.env, "OPENAPI_SERVICES": json.dumps(
        {"broken": {"spec": str(spec), "base_url": "https://api.example.com"}}
    )}  # fmt: skip

    for program in (["worker.py"], ["cli.py", "actions"]):
        finished = subprocess.run([sys.executable, *program], cwd=REPO, env=env,
                                  capture_output=True, text=True, timeout=60)  # fmt: skip
        assert finished.returncode == 1, program
        [line] = finished.stderr.strip().splitlines()
        assert line.startswith(f"error: OPENAPI_SERVICES broken: spec {spec}: {reason}"), line


SECURED = {
    "openapi": "3.1.0",
    "info": {"title": "secured", "version": "1"},
    "paths": {"/things": {"get": {
        "operationId": "listThings",
        "parameters": [{"name": "key", "in": "query", "schema": {"type": "string"}}],
        "security": [{"key": []}, {"token": []}, {"login": []}],
        "responses": {"200": {"description": "the things"}},
    }}},
    "components": {"securitySchemes": {
        "key": {"type": "apiKey", "in": "header", "name": "X-Key"},
        "token": {"type": "oauth2", "flows": {}},
        "login": {"type": "http", "scheme": "basic"},
    }},
}  # fmt: skip


def test_security_schemes_are_config_fields_sent_where_their_scheme_says():
    """An API key goes in its header (a parameter of the same name keeps its field), a token
    as the bearer, HTTP basic's user:password in base64, each replacing the setting's
    Authorization whatever its case; none follows a redirect to another origin."""
    [operation] = operations(SECURED)
    assert operation.credentials == {"key_credential": ("header", "X-Key"),
                                     "token": ("bearer", "Authorization"),
                                     "login": ("basic", "Authorization")}  # fmt: skip
    login = operation.config_schema["properties"]["login"]["description"]
    assert login == ("credential of the 'login' security scheme: user:password, sent as "
                     "Authorization: Basic <it in base64>")  # fmt: skip
    runner = OperationRunner("things", "https://things.test", {}, operation)
    request = runner.request({"key": "k", "key_credential": "K", "token": "T"},
                             {"authorization": "Bearer from-settings"})  # fmt: skip
    assert request["params"] == {"key": "k"}
    assert request["headers"] == {"X-Key": "K", "Authorization": "Bearer T"}
    basic = runner.request({"login": "ada:pä ss"}, {"authorization": "Bearer from-settings"})
    assert basic["headers"] == {"Authorization": "Basic YWRhOnDDpCBzcw=="}
    assert base64.b64decode("YWRhOnDDpCBzcw==").decode() == "ada:pä ss"

    sent = httpx.Request("GET", "https://things.test/things", headers=request["headers"])
    moved = httpx.Response(302, headers={"location": "https://elsewhere.test/things"})
    config = ApiCallConfig.model_validate({"url": "https://things.test/things"})
    for private, kept in ((frozenset({"x-key"}), False), (frozenset(), True)):
        ctx = ActionContext(http=httpx.AsyncClient(), workspace_dir=REPO, private_headers=private)
        followed = _redirected(config, sent, moved, ctx)
        assert ("x-key" in followed.headers) is kept and "authorization" not in followed.headers
