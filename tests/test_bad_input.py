"""Bad input, table-driven, as a careless user (or an LLM) gives it: each case gets one clear
error line, no traceback, and every other run goes on untouched."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.conftest import wait_until
from tests.helpers import get, task, tasks_by_id

WAIT = {"id": "w", "action_type": "wait", "action_config": {"seconds": 0}}


def plan_file(tmp: Path, content: str | bytes | dict | list) -> str:
    path = tmp / f"plan-{uuid.uuid4().hex[:6]}.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def tasks(*items: dict) -> dict:
    return {"tasks": list(items)}


# (name, plan file content or None, extra CLI args, environment, what the error line says)
CASES = [
    ("malformed JSON", '{"tasks": [', [], {}, "is not valid JSON: line 1"),
    ("not an object", [1, 2], [], {}, "invalid plan"),
    ("not UTF-8", b"\xff\xfe{}", [], {}, "is not UTF-8 text"),
    ("no tasks", {"tasks": []}, [], {}, "tasks: List should have at least 1 item"),
    ("wrong type", tasks({**WAIT, "depends_on": "x"}), [], {}, "depends_on: Input should be"),
    ("cycle", tasks({**WAIT, "id": "a", "depends_on": ["b"]},
                    {**WAIT, "id": "b", "depends_on": ["a"]}),
     [], {}, "dependency cycle: a -> b -> a"),
    ("self dependency", tasks({**WAIT, "depends_on": ["w"]}), [], {}, "depends on itself"),
    ("duplicate ids", tasks(WAIT, WAIT), [], {}, "task id 'w' is used twice"),
    ("unknown dependency", tasks({**WAIT, "depends_on": ["ghost"]}), [], {},
     "unknown task 'ghost'"),
    ("unknown action", tasks({**WAIT, "action_type": "teleport"}), [], {},
     "unknown action_type 'teleport'; use one of"),
    ("bad config field", tasks({**WAIT, "action_config": {"seconds": 0, "sec": 1}}), [], {},
     "action_config.sec: Extra inputs are not permitted"),
    ("negative wait", tasks({**WAIT, "action_config": {"seconds": -1}}), [], {},
     "action_config.seconds: Input should be greater than or equal to 0"),
    ("control characters in an id", tasks({**WAIT, "id": "a\u0007b"}), [], {},
     "String should match pattern"),
    ("absolute path", tasks({**WAIT, "action_type": "file_operation",
                             "action_config": {"operation": "read", "path": "/etc/passwd"}}),
     [], {}, "task 'w': path '/etc/passwd' is absolute"),
    ("path escape", tasks({**WAIT, "action_type": "file_operation",
                           "action_config": {"operation": "delete", "path": "a/../../x"}}),
     [], {}, "task 'w': path 'a/../../x' leads out of the workspace"),
    ("unsafe URL scheme", tasks({**WAIT, "action_type": "api_call",
                                 "action_config": {"url": "file:///etc/passwd"}}), [], {},
     "url must start with http:// or https://"),
    ("bad idempotency header", tasks({**WAIT, "action_type": "api_call",
                                      "action_config": {"url": "https://x", "method": "POST",
                                                        "idempotency_key": "Bad Header"}}),
     [], {}, "idempotency_key 'Bad Header' is not a header name"),
    ("invalid JMESPath", tasks({**WAIT, "action_type": "data_transform",
                                "action_config": {"input": [], "expression": "[?"}}), [], {},
     "invalid JMESPath expression '[?': the expression ends too early"),
    ("reference not upstream", tasks(WAIT, {**WAIT, "id": "x", "action_type": "data_transform",
                                           "action_config": {"input": "{{ tasks.w.output }}",
                                                             "expression": "@"}}), [], {},
     "which is not upstream of it; add 'w' to its depends_on"),
    ("10,000 tasks", tasks(*({**WAIT, "id": f"w{n}"} for n in range(10_000))), [], {},
     "the plan has 10000 tasks, more than max_tasks (200); raise it with max_tasks"),
    ("huge string", tasks({**WAIT, "action_type": "data_transform",
                           "action_config": {"input": "x" * 3_000_000, "expression": "length(@)"}}),
     [], {}, "the Temporal server refused the run"),
    ("missing plan file", None, ["--plan", "/no/such/plan.json"], {}, "cannot read plan file"),
    ("goal and plan", tasks(WAIT), ["--goal", "x"], {}, "give exactly one of --goal"),
    ("neither goal nor plan", None, [], {}, "give exactly one of --goal"),
    ("bad approval choice", tasks(WAIT), ["--approval", "maybe"], {},
     "Invalid value for '--approval': 'maybe' is not one of"),
    ("negative retries", tasks(WAIT), ["--max-retries", "-1"], {},
     "invalid run option: max_retries"),
    ("infinite approval timeout", tasks(WAIT), ["--approval-timeout", "inf"], {},
     "invalid run option: approval_timeout_seconds"),
    ("bad allow-host", tasks(WAIT), ["--allow-host", "http://x/y"], {}, "give a host, not a URL"),
    ("unknown option", tasks(WAIT), ["--colour", "red"], {}, "No such option: --colour"),
    ("server down", tasks(WAIT), [], {"TEMPORAL_ADDRESS": "127.0.0.1:1"},
     "cannot reach the Temporal server at 127.0.0.1:1 (connection refused)"),
    ("bad allow-list setting", tasks(WAIT), [], {"HTTP_ALLOW_HOSTS": "a b"},
     "invalid setting: http_allow_hosts"),
    ("bad LLM endpoints setting", tasks(WAIT), [], {"LLM_ENDPOINTS": "[{"},
     "invalid setting: llm_endpoints"),
    ("bad encryption key", tasks(WAIT), [], {"PAYLOAD_ENCRYPTION_KEYS": "k:bm90LWEta2V5"},
     "is not 32 bytes"),
]  # fmt: skip


def assert_one_error_line(finished, fragment: str) -> None:
    assert finished.returncode != 0, finished.stdout
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1, finished.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in finished.stderr
    assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def canary(stack, tmp_path_factory):
    """A run waiting for its plan's approval while the bad inputs come: it must not notice."""
    run_id = f"canary-{uuid.uuid4().hex[:6]}"
    path = plan_file(tmp_path_factory.mktemp("canary"), tasks(WAIT))
    started = stack.cli("start", "--plan", path, "--approval", "plan", "--id", run_id)
    assert started.returncode == 0, started.stderr
    return run_id


@pytest.mark.parametrize(("name", "content", "args", "env", "expected"), CASES,
                         ids=[case[0] for case in CASES])  # fmt: skip
def test_a_bad_start_is_one_clear_line(stack, canary, tmp_path, name, content, args, env, expected):
    given = ["--plan", plan_file(tmp_path, content)] if content is not None else []

    finished = stack.cli("start", *given, *args, env=env)

    assert_one_error_line(finished, expected)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["status", "no-such-run"], "no run with id 'no-such-run'"),
        (["approve", "no-such-run", "--task", "x"], "no run with id 'no-such-run'"),
        (["edit", "no-such-run", "--task", "w", "--config", "{"], "--config is not valid JSON"),
        (["edit", "no-such-run", "--task", "w", "--config", "[1]"], "must be a JSON object"),
        (["list", "--query", "AgentStatus = "], "the server refused the List Filter"),
        (["list", "--status", "sleeping"], "'sleeping' is not one of"),
        (["example", "no_such_example"], "no example 'no_such_example'"),
        (["example", "data_pipeline", "-o", "nope"], "--option takes key=value"),
        (["watch"], "Missing argument 'ID'"),
        (["validate", "/no/such/file.json"], "cannot read plan file"),
    ],
)
def test_a_bad_command_is_one_clear_line(stack, canary, args, expected):
    assert_one_error_line(stack.cli(*args), expected)


def test_bad_input_inside_a_running_workflow_fails_only_its_task(stack, api, canary, run_id):
    plan = {"tasks": [
        task("where", "data_transform", {"input": "../../etc/passwd", "expression": "@"}),
        task("escape", "file_operation", {"operation": "read", "path": "{{ tasks.where.output }}"},
             "where", critical=False),
        task("write", "db_query", {"query": "CREATE TABLE sneaky (x int)"}, critical=False),
        task("secret", "api_call", get(f"{api.url}/x", params={"k": "{{ secrets.NOPE }}"}),
             critical=False),
        task("metadata", "api_call", get("http://169.254.169.254/", timeout=1), critical=False),
        task("fine", "wait", {"seconds": 0}),
    ]}  # fmt: skip

    result = stack.run_plan(plan, run_id, "--approval", "none")

    errors = {t: (r["error"] or {}).get("error_type") for t, r in tasks_by_id(result).items()}
    assert errors == {
        "where": None,
        "escape": "PathOutsideWorkspace",
        "write": "WriteNotAllowed",
        "secret": "SecretNotFound",
        "metadata": "NetworkPolicy",
        "fine": None,
    }
    assert all(r["attempts"] == 1 for r in result["tasks"]), "none of these is retried"
    assert result["status"] == "completed", "the critical task completed"


def test_the_canary_run_was_untouched(stack, canary):
    """Runs after the others in this module: the canary still waits, then completes."""
    state = stack.cli_json("status", canary)
    assert state["phase"] == "awaiting_approval"
    assert stack.cli("approve", canary).returncode == 0
    result = wait_until(
        lambda: (r := stack.cli_json("result", canary, "--wait"))["status"] == "completed" and r,
        30, "the canary to complete",
    )  # fmt: skip
    assert result["tasks"][0]["status"] == "completed"
