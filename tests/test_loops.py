"""Loops (`repeat`): rounds until `until` holds, each using the last one's output (cursor
pagination), a null parameter left out of the request, `max` reached fails the task, and a loop
reference outside a loop is refused before the run."""

from __future__ import annotations

import json

import pytest

from agentic import AgentClient, Plan, RunOptions
from agentic.core.loops import resolve_loop
from agentic.examples.paginate import paginate
from agentic.histories import fetch_runs
from agentic.settings import Settings
from tests.fakes.api_server import Reply
from tests.helpers import activity_spans, get, task, tasks_by_id


def test_loop_references_fill_in_the_round():
    config = {"params": {"cursor": "{{ loop.previous.output.body.next }}"},
              "url": "http://x/{{ loop.index }}", "n": "{{ loop.index }}"}  # fmt: skip

    assert resolve_loop(config, 0, None) == {"params": {"cursor": None}, "url": "http://x/0",
                                             "n": 0}  # fmt: skip
    assert resolve_loop(config, 2, {"body": {"next": "c9"}})["params"] == {"cursor": "c9"}


async def test_paginate_follows_the_cursor_until_the_last_page(stack, sample_api, run_id, client):
    out = f"paginate-{run_id}/users.json"
    args = ["-o", f"base_url={sample_api.url}", "-o", "page_size=6", "-o", f"output_path={out}"]

    result = stack.cli_json("example", "paginate", *args, "--wait", "--id", run_id)

    assert result["status"] == "completed", result["error"]
    pages = tasks_by_id(result)["pages"]
    assert pages["rounds"] == 4 and len(pages["output"]) == 4  # 20 users, 6 a page
    assert [page["body"]["next"] for page in pages["output"]] == ["6", "12", "18", None]
    saved = json.loads((stack.workspace / out).read_text())
    assert saved["count"] == 20 and saved["pages"] == 4
    spans = await activity_spans(client, run_id)
    assert {"pages", "pages:loop2", "pages:loop3", "pages:loop4"} <= set(spans)


def test_the_first_round_sends_no_cursor_and_the_next_ones_do(stack, api, run_id):
    api.route("GET", f"/loops/{run_id}", Reply(json={"next": "b"}), Reply(json={"next": None}))
    config = get(f"{api.url}/loops/{run_id}",
                 params={"cursor": "{{ loop.previous.output.body.next }}"},
                 headers={"X-Cursor": "{{ loop.previous.output.body.next }}"})  # fmt: skip
    plan = {"tasks": [task("pages", "api_call", config,
                           repeat={"until": "output.body.next == null", "max": 5})]}  # fmt: skip

    result = stack.run_plan(plan, run_id, "--approval", "none")

    assert result["status"] == "completed"
    first, second = api.calls("GET", f"/loops/{run_id}")
    assert "cursor" not in first.query and "x-cursor" not in {h.lower() for h in first.headers}
    assert second.query["cursor"] == ["b"] and second.headers.get("x-cursor") == "b"


def test_reaching_max_without_until_fails_the_task(stack, run_id):
    plan = {"tasks": [task("count", "data_transform", {"input": "{{ loop.index }}",
                                                       "expression": "@"},
                           repeat={"until": "output == `10`", "max": 3})]}  # fmt: skip

    result = stack.run_plan(plan, run_id, "--approval", "none")

    count = tasks_by_id(result)["count"]
    assert result["status"] == "failed"
    assert count["status"] == "failed" and count["rounds"] == 3
    assert count["error"]["error_type"] == "LoopLimit"
    assert "reached repeat.max (3 rounds)" in count["error"]["message"]


def test_until_can_read_the_index_and_the_previous_round(stack, run_id):
    until = "index == `2` && previous.i == `1`"
    config = {"input": {"i": "{{ loop.index }}", "before": "{{ loop.previous.output.i }}"},
              "expression": "@"}  # fmt: skip
    plan = {"tasks": [task("grow", "data_transform", config, repeat={"until": until, "max": 9})]}

    result = stack.run_plan(plan, run_id, "--approval", "none")

    grow = tasks_by_id(result)["grow"]
    assert result["status"] == "completed"
    assert grow["output"] == [{"i": 0, "before": None}, {"i": 1, "before": 0},
                              {"i": 2, "before": 1}]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, "uses {{ loop.index }} but has no repeat"),
        ({"repeat": {"until": "output ==", "max": 3}}, "invalid JMESPath expression"),
        ({"repeat": {"until": "output"}}, 'repeat: repeat needs "max", the most rounds it may run'),
        ({"repeat": {"until": "output", "max": 20000}}, "more than max_items (10000)"),
    ],
)
def test_a_bad_loop_is_refused_before_the_run(stack, extra, message):
    plan = {"tasks": [task("t", "data_transform", {"input": "{{ loop.index }}",
                                                   "expression": "@"}, **extra)]}  # fmt: skip

    finished = stack.cli("start", "--plan", str(stack.write_plan(plan)), "--approval", "none")

    assert finished.returncode != 0
    [line] = finished.stderr.strip().splitlines()
    assert line.startswith("error:") and message in line, line


def test_the_planner_writes_a_loop_that_runs(stack, sample_api, run_id, llm):
    goal = f"fetch every page of the users ({run_id})"
    plan = paginate(base_url=sample_api.url, output_path=f"planned-{run_id}/users.json")
    llm.script(goal, {**plan.model_dump(mode="json", by_alias=True), "goal": goal})

    result = stack.cli_json("start", "--goal", goal, "--approval", "none", "--wait",
                            "--id", run_id)  # fmt: skip

    assert result["status"] == "completed", result["error"]
    assert tasks_by_id(result)["users"]["output"]["count"] == 20
    prompt = llm.requests_matching(goal)[0]["messages"][0]["content"]
    assert '"repeat" (optional)' in prompt


async def test_a_long_loop_goes_on_across_continue_as_new(stack, client):
    """A loop stops between rounds when its history has grown, keeps its rounds' outputs in
    the blob store, and goes on in the next history from the round it stopped at."""
    settings = Settings(temporal_address=stack.address, task_queue=stack.task_queue,
                        blob_store=stack.env["BLOB_STORE"])  # fmt: skip
    agent = await AgentClient.connect(settings)
    config = {"input": {"i": "{{ loop.index }}", "previous": "{{ loop.previous.output.i }}",
                        "pad": "x" * 3000}, "expression": "@"}  # fmt: skip
    plan = Plan.model_validate({"tasks": [
        task("count", "data_transform", config, repeat={"until": "output.i == `11`", "max": 20}),
        task("last", "data_transform", {"input": "{{ tasks.count.output }}",
                                        "expression": "[-1].previous"}, "count"),
    ]})  # fmt: skip
    options = RunOptions(approval="none", continue_as_new_after_tasks=4)

    handle = await agent.start(plan=plan, options=options)
    result = await handle.result()

    assert result.status == "completed", result.error
    count, last = result.tasks
    assert count.rounds == 12 and last.output == 10
    rounds = await handle.output("count")
    assert [(r["i"], r["previous"]) for r in rounds] == [(0, None)] + [
        (i, i - 1) for i in range(1, 12)]  # fmt: skip
    histories = await fetch_runs(client, handle.workflow_id)
    assert len(histories) >= 3, "the loop went on across continue-as-new"
