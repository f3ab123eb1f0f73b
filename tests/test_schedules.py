"""Runs on a schedule (issue 24): Temporal Schedules that start runs of a template (its params
bound), a plan or a goal; `list --schedule NAME` finds their runs."""

from __future__ import annotations

import asyncio
import json

import pytest

from agentic.client import AgentClient
from agentic.core.messages import RunOptions
from agentic.schedules import ScheduleError
from agentic.settings import get_settings
from tests.conftest import wait_until
from tests.test_params import TEMPLATE


def runs_of(stack, name):
    listed = stack.cli("list", "--schedule", name, "--json", "--limit", "50").stdout
    return [json.loads(line) for line in listed.splitlines()]


def test_a_schedule_runs_a_template_on_time_and_its_runs_are_listed(stack, run_id, tmp_path):
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    (shelf / "adults.json").write_text(json.dumps(TEMPLATE))
    env = {"TEMPLATE_DIRS": str(shelf)}
    name = f"every-2s-{run_id[-6:]}"

    created = stack.cli("schedule", "create", name, "--every", "2s", "--template", "adults",
                        "--param", "source=crm", "--approval", "none", "--note", "a test",
                        env=env)  # fmt: skip

    assert created.returncode == 0, created.stderr
    assert f"schedule {name}: every 2s; next run" in created.stdout
    try:
        wait_until(lambda: sum(run["status"] == "completed" for run in runs_of(stack, name)) >= 2,
                   30, "two runs of the schedule", interval=0.5)  # fmt: skip
        run = runs_of(stack, name)[0]
        assert run["goal"] == "adults of crm" and run["workflow_id"].startswith(f"{name}-run")
        result = stack.cli_json("result", run["workflow_id"])
        assert result["tasks"][1]["output"] == "crm: 18+", "the params bound at creation"
        shown = stack.cli_json("schedule", "describe", name)
        assert shown["spec"] == "every 2s" and shown["note"] == "a test"
        assert shown["runs"] == "adults of crm" and shown["recent_runs"] and shown["next_runs"]
        assert name in stack.cli("schedule", "list").stdout

        assert stack.cli("schedule", "pause", name, "--note", "quiet").returncode == 0
        assert stack.cli_json("schedule", "describe", name)["paused"] is True
        before = len(runs_of(stack, name))
        assert stack.cli("schedule", "trigger", name).returncode == 0
        wait_until(lambda: len(runs_of(stack, name)) > before, 20, "the triggered run")
        updated = stack.cli("schedule", "update", name, "--every", "1h")
        assert "every 1h" in updated.stdout
    finally:
        stack.cli("schedule", "delete", name)
    gone = stack.cli("schedule", "describe", name)
    assert gone.returncode != 0 and f"no schedule named {name!r}" in gone.stderr


def test_a_cron_schedule_says_when_it_fires(stack, run_id):
    name = f"weekdays-{run_id[-6:]}"
    created = stack.cli("schedule", "create", name, "--cron", "*/15 9-17 * * 1-5", "--goal",
                        "check the queue", "--paused")  # fmt: skip
    try:
        assert created.returncode == 0, created.stderr
        shown = stack.cli_json("schedule", "describe", name)
        assert shown["spec"] == "cron */15 9-17 * * 1-5" and shown["paused"] is True
        assert shown["runs"] == "check the queue"
        assert all(when.endswith("+00:00") or when.endswith("Z") for when in shown["next_runs"])
    finally:
        stack.cli("schedule", "delete", name)


def test_bad_schedules_are_one_line_each(stack):
    for flags, message in [
        (["--every", "2 seconds", "--goal", "g"], "--every '2 seconds': give a number and a unit"),
        (["--goal", "g"], "give one of --every DURATION or --cron EXPRESSION"),
        (["--every", "2s"], "give exactly one of --template NAME, --plan FILE or --goal TEXT"),
        (["--every", "2s", "--template", "nope"], "no template 'nope'"),
        (["--every", "2s", "--goal", "g", "--overlap", "never"], "--overlap 'never': use one"),
    ]:  # fmt: skip
        refused = stack.cli("schedule", "create", "bad", *flags)
        assert refused.returncode != 0, flags
        [line] = refused.stderr.strip().splitlines()
        assert message in line, line


async def test_the_api_makes_and_changes_a_schedule_of_a_template(stack, run_id, tmp_path):
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    (shelf / "adults.json").write_text(json.dumps(TEMPLATE))
    settings = get_settings().model_copy(update={"template_dirs": str(shelf)})
    agent = await AgentClient.connect(settings, address=stack.address,
                                      task_queue=stack.task_queue)  # fmt: skip
    name = f"api-{run_id[-6:]}"

    created = await agent.create_schedule(
        name, cron="0 7 * * *", template="adults", params={"source": "api"},
        options=RunOptions(approval="none"), note="made in Python",
    )  # fmt: skip
    try:
        assert created.spec == "cron 0 7 * * *" and created.note == "made in Python"
        assert created.runs == "adults of api" and len(created.next_runs) == 5
        await agent.change_schedule(name, "trigger")

        async def started() -> list:
            return await agent.list(schedule=name)

        [run] = await _until(started)
        result = await (await agent.get(run.workflow_id)).result()
        assert [task.output for task in result.tasks] == [[36, 52], "api: 18+"]
        updated = await agent.update_schedule(name, every="1h", note="hourly")
        assert updated.spec == "every 1h" and updated.note == "hourly"
        await agent.change_schedule(name, "pause", note="for now")
        assert (await agent.describe_schedule(name)).paused
        assert name in [listed.name for listed in await agent.schedules()]
        with pytest.raises(ScheduleError, match="is there already"):
            await agent.create_schedule(name, every="2s", goal="again")
        with pytest.raises(ValueError, match="give exactly one of template, plan or goal"):
            await agent.create_schedule(f"{name}-x", every="2s")
    finally:
        await agent.change_schedule(name, "delete")
    with pytest.raises(ScheduleError):
        await agent.describe_schedule(name)


async def _until(check, seconds: float = 30) -> list:
    for _ in range(int(seconds * 4)):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.25)
    raise AssertionError("the triggered run was not listed in time")
