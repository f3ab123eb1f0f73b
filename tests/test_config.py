"""`config`: the settings in effect, where each came from, secrets masked."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from agentic import AgentClient, InvalidPlan, RunOptions, Settings
from tests.conftest import REPO
from tests.helpers import task


def config_of(tmp_path, env: dict[str, str], *args: str) -> dict[str, dict[str, str]]:
    clean = {k: v for k, v in os.environ.items() if k.upper() not in {"OPENAI_API_KEY",
             "DATABASE_URL", "TEMPORAL_NAMESPACE", "TASK_QUEUE"}}  # fmt: skip
    finished = subprocess.run(
        [sys.executable, str(REPO / "cli.py"), *args, "config", "--json"],
        cwd=tmp_path, env={**clean, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    return {entry["variable"]: entry for entry in json.loads(finished.stdout)}


def test_config_says_where_each_setting_came_from_and_masks_secrets(tmp_path):
    (tmp_path / ".env").write_text("OPENAI_API_KEY=sk-from-dotenv\nTASK_QUEUE=from-dotenv\n")
    env = {"DATABASE_URL": "postgresql://bob:hunter2@db:5432/app", "TEMPORAL_NAMESPACE": "prod"}

    shown = config_of(tmp_path, env, "--address", "temporal.example:7233")

    assert shown["TEMPORAL_ADDRESS"] == {
        "variable": "TEMPORAL_ADDRESS", "value": "temporal.example:7233", "source": "command line"
    }  # fmt: skip
    assert shown["TEMPORAL_NAMESPACE"]["source"] == "environment"
    assert shown["TASK_QUEUE"] == {"variable": "TASK_QUEUE", "value": "from-dotenv",
                                   "source": ".env"}  # fmt: skip
    assert shown["OPENAI_API_KEY"] == {"variable": "OPENAI_API_KEY", "value": "********",
                                       "source": ".env"}  # fmt: skip
    assert shown["DATABASE_URL"]["value"] == "postgresql://bob:********@db:5432/app"
    assert shown["LLM_PLANNER_MAX_TOKENS"] == {
        "variable": "LLM_PLANNER_MAX_TOKENS", "value": "4096", "source": "default"
    }  # fmt: skip
    everything = json.dumps(shown)
    assert "sk-from-dotenv" not in everything and "hunter2" not in everything


def test_config_names_a_bad_setting_in_one_line(tmp_path):
    finished = subprocess.run(
        [sys.executable, str(REPO / "cli.py"), "config"], cwd=tmp_path,
        env={**os.environ, "TEMPORAL_TLS_CA": "/nowhere.pem"}, capture_output=True, text=True,
    )  # fmt: skip
    assert finished.returncode == 1
    assert finished.stderr.strip() == (
        "error: invalid setting: TEMPORAL_TLS_CA: /nowhere.pem is not a readable file"
    )


async def test_run_options_not_given_come_from_the_settings():
    # The budget check refuses the plan before the client calls the server.
    client = AgentClient(temporal=None, settings=Settings(run_max_tasks=1))  # type: ignore[arg-type]
    plan = {"tasks": [task("one", "wait", {"seconds": 0}), task("two", "wait", {"seconds": 0})]}

    with pytest.raises(InvalidPlan, match="max_tasks"):
        await client.start(plan=plan, options=RunOptions(approval="none"))


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("MCP_SERVERS", "{bad", "error: invalid setting: mcp_servers: not valid JSON (Expecting "
         "property name enclosed in double quotes at character 1); MCP_SERVERS takes a JSON "
         "object of name -> settings"),
        ("OPENAPI_SERVICES", "[1]", "error: invalid setting: openapi_services: OPENAPI_SERVICES "
         "takes a JSON object of name -> settings"),
    ],
)  # fmt: skip
def test_a_tool_setting_that_is_not_a_json_object_is_one_line(tmp_path, variable, value, expected):
    finished = subprocess.run(
        [sys.executable, str(REPO / "cli.py"), "config"], cwd=tmp_path,
        env={**os.environ, variable: value}, capture_output=True, text=True,
    )  # fmt: skip
    assert finished.returncode == 1
    assert finished.stderr.strip() == expected


def test_the_web_ui_link_follows_the_server_unless_set():
    local = Settings(temporal_address="127.0.0.1:17433", temporal_ui_url="")
    assert local.temporal_ui_url == "http://127.0.0.1:18433"
    default = Settings(temporal_address="localhost:7233", temporal_ui_url="")
    assert default.temporal_ui_url == "http://localhost:8233"
    cloud = Settings(temporal_address="ns.acct.tmprl.cloud:7233", temporal_ui_url="")
    assert cloud.temporal_ui_url == "https://cloud.temporal.io"
    given = Settings(temporal_address="127.0.0.1:17433", temporal_ui_url="http://ui.example:80")
    assert given.temporal_ui_url == "http://ui.example:80"
