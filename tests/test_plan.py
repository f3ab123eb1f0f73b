"""Plan validation and references: every bad plan is refused before anything runs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agentic.core.plan import Plan, format_validation_error
from agentic.core.references import UnresolvedReference, referenced_tasks, resolve
from tests.helpers import get, task


def problems(plan: dict) -> str:
    with pytest.raises(ValidationError) as caught:
        Plan.model_validate(plan)
    return format_validation_error(caught.value)


def test_duplicate_ids_are_refused():
    message = problems({"tasks": [task("a", "wait", {"seconds": 1})] * 2})
    assert "task id 'a' is used twice" in message


def test_unknown_dependency_is_refused():
    message = problems({"tasks": [task("a", "wait", {"seconds": 1}, "ghost")]})
    assert "task 'a' depends on unknown task 'ghost'" in message


def test_cycle_is_named():
    message = problems(
        {
            "tasks": [
                task("a", "wait", {"seconds": 1}, "c"),
                task("b", "wait", {"seconds": 1}, "a"),
                task("c", "wait", {"seconds": 1}, "b"),
            ]
        }
    )
    assert "dependency cycle: a -> c -> b -> a" in message


def test_unknown_action_type_lists_the_known_ones():
    message = problems({"tasks": [task("a", "send_email", {})]})
    assert "task 'a': unknown action_type 'send_email'" in message
    assert "api_call" in message and "file_operation" in message


def test_an_unknown_mcp_server_or_openapi_service_is_named_with_its_setting():
    mcp = problems({"tasks": [task("a", "mcp.nope.lookup", {})]})
    service = problems({"tasks": [task("a", "billing.listInvoices", {})]})

    assert "no MCP server 'nope' is configured here (set it in MCP_SERVERS" in mcp
    assert "no OpenAPI service 'billing' is configured here (set it in OPENAPI_SERVICES" in service


def test_a_problem_several_tasks_share_is_said_once_for_them_all():
    message = problems({"tasks": [task("a", "mcp.nope.lookup", {}),
                                  task("b", "mcp.nope.lookup", {}),
                                  task("c", "mcp.nope.other", {})]})  # fmt: skip

    said = "unknown action_type 'mcp.nope.lookup': no MCP server 'nope' is configured here"
    assert message.startswith(f"tasks 'a', 'b': {said}")
    assert message.count(said) == 1
    assert "; tasks.2: task 'c': unknown action_type 'mcp.nope.other'" in message


@pytest.mark.parametrize(
    ("action_type", "config", "expected"),
    [
        ("api_call", {"method": "GET"}, "action_config.url: Field required"),
        ("api_call", {"url": "ftp://x"}, "must start with http:// or https://"),
        ("api_call", {"url": "http://x", "verb": "GET"}, "action_config.verb: Extra inputs"),
        ("api_call", {"url": "http://x", "method": "FETCH"}, "action_config.method"),
        ("file_operation", {"operation": "write", "path": "x"}, "needs 'content'"),
        ("file_operation", {"operation": "move", "path": "x"}, "action_config.operation"),
        ("data_transform", {"input": [], "expression": "[?"}, "invalid JMESPath expression"),
        ("wait", {"seconds": -1}, "action_config.seconds"),
        ("db_query", {"query": ""}, "action_config.query"),
    ],
)
def test_invalid_configs_name_the_task_and_field(action_type, config, expected):
    message = problems({"tasks": [task("bad", action_type, config)]})
    assert f"task 'bad' ({action_type})" in message
    assert expected in message


def test_reference_to_a_task_not_upstream_is_refused():
    message = problems(
        {
            "tasks": [
                task("a", "api_call", get("http://x")),
                task(
                    "b", "data_transform", {"input": "{{ tasks.a.output.body }}", "expression": "@"}
                ),
            ]
        }
    )
    assert "task 'b' refers to the output of 'a', which is not upstream" in message


def test_reference_to_an_indirect_ancestor_is_allowed():
    plan = Plan.model_validate(
        {
            "tasks": [
                task("a", "api_call", get("http://x")),
                task("b", "wait", {"seconds": 0}, "a"),
                task(
                    "c", "data_transform", {"input": "{{ tasks.a.output }}", "expression": "@"}, "b"
                ),
            ]
        }
    )
    assert plan.ancestors("c") == {"a", "b"}


def test_empty_plan_is_refused():
    assert "tasks" in problems({"tasks": []})


def test_whole_reference_keeps_the_json_value():
    outputs = {"fetch": {"body": {"users": [{"name": "ada"}, {"name": "bob"}]}}}
    assert resolve("{{ tasks.fetch.output.body.users }}", outputs) == [
        {"name": "ada"},
        {"name": "bob"},
    ]
    assert resolve("{{tasks.fetch.output.body.users[1].name}}", outputs) == "bob"


def test_reference_inside_text_is_interpolated():
    outputs = {"login": {"body": {"token": "t0k"}}, "count": 3}
    config = {
        "headers": {"Authorization": "Bearer {{ tasks.login.output.body.token }}"},
        "n": "{{ tasks.count.output }} items",
    }
    assert resolve(config, outputs) == {"headers": {"Authorization": "Bearer t0k"}, "n": "3 items"}
    assert referenced_tasks(config) == {"login", "count"}


def test_missing_reference_path_is_a_clear_error():
    with pytest.raises(UnresolvedReference, match=r"'\.missing' not found in an object with keys"):
        resolve("{{ tasks.a.output.missing }}", {"a": {"present": 1}})
    with pytest.raises(UnresolvedReference, match="has no output"):
        resolve("{{ tasks.b.output }}", {})
