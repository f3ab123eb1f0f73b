"""Rerun from a task (issue 24): a new run that takes the earlier run's outputs for every task
not downstream of what runs again, never calling their backends, linked both ways."""

from __future__ import annotations

import json

from tests.conftest import wait_until
from tests.fakes.api_server import Reply
from tests.helpers import get, task, tasks_by_id


def pipeline(api, run_id):
    base = f"{api.url}/rerun/{run_id}"
    return {"goal": f"pipeline {run_id}", "tasks": [
        task("extract", "api_call", get(f"{base}/extract")),
        task("transform", "data_transform", {"input": "{{ tasks.extract.output.body }}",
                                             "expression": "rows"}, "extract"),
        task("load", "api_call", get(f"{base}/load"), "transform"),
    ]}  # fmt: skip


def test_a_failed_pipeline_reruns_its_last_task_without_calling_the_others(stack, api, run_id):
    base = f"/rerun/{run_id}"
    api.route("GET", f"{base}/extract", Reply(json={"rows": [1, 2, 3]}))
    api.route("GET", f"{base}/load", Reply(400, json={"error": "table missing"}))
    failed = stack.run_plan(pipeline(api, run_id), run_id, "--approval", "none")
    assert failed["status"] == "failed"
    api.route("GET", f"{base}/load", Reply(json={"loaded": 3}))  # the cause is fixed

    rerun = stack.cli("rerun", run_id, "--failed", "--approval", "none", "--id",
                      f"{run_id}-2", "--wait", "--json")  # fmt: skip

    assert rerun.returncode == 0, rerun.stderr
    result = json.loads(rerun.stdout)
    tasks = tasks_by_id(result)
    assert result["status"] == "completed" and result["rerun_of"] == run_id
    assert len(api.calls("GET", f"{base}/extract")) == 1, "extract was never called again"
    assert len(api.calls("GET", f"{base}/load")) == 2
    assert tasks["extract"]["reused_from"] == run_id and tasks["extract"]["attempts"] == 1
    assert tasks["transform"]["reused_from"] == run_id
    assert tasks["transform"]["output"] == [1, 2, 3]
    assert "reused_from" not in tasks["load"]
    assert tasks["load"]["output"]["body"] == {"loaded": 3}
    shown = stack.cli("status", f"{run_id}-2").stdout
    assert f"rerun of {run_id}" in shown
    events = stack.cli("events", f"{run_id}-2").stdout
    assert f"extract completed: reused from {run_id}" in events
    found = lambda: f'"{run_id}-2"' in stack.cli("list", "--json", "--query",  # noqa: E731
                                                 f"RerunOf = '{run_id}'").stdout  # fmt: skip
    wait_until(found, 30, "the rerun found by RerunOf")


def test_a_rerun_from_a_task_with_a_new_config_runs_it_and_what_follows(stack, api, run_id):
    base = f"/rerun/{run_id}"
    api.route("GET", f"{base}/extract", Reply(json={"rows": [1, 2]}))
    api.route("GET", f"{base}/load", Reply(json={"loaded": 2}))
    stack.run_plan(pipeline(api, run_id), run_id, "--approval", "none")
    new_config = json.dumps({"input": "{{ tasks.extract.output.body }}",
                             "expression": "rows[0:1]"})  # fmt: skip

    rerun = stack.cli_json("rerun", run_id, "--config", f"transform={new_config}",
                           "--approval", "none", "--wait")  # fmt: skip

    tasks = tasks_by_id(rerun)
    assert tasks["transform"]["output"] == [1] and "reused_from" not in tasks["transform"]
    assert len(api.calls("GET", f"{base}/extract")) == 1
    assert len(api.calls("GET", f"{base}/load")) == 2, "downstream of the change ran again"
    for flags, message in [
        (["--from", "nope"], "--from 'nope': the plan has no such task (its tasks: extract"),
        ([], "say what to run again: --from TASK, --failed, or --config TASK=JSON"),
        (["--config", "transform"], "--config 'transform': give TASK=JSON"),
    ]:  # fmt: skip
        refused = stack.cli("rerun", run_id, *flags)
        assert refused.returncode != 0
        [line] = refused.stderr.strip().splitlines()
        assert message in line, line


def test_a_request_run_again_unchanged_keeps_its_idempotency_key(stack, api, run_id):
    base = f"/rerun/{run_id}"
    api.route("POST", f"{base}/charge", Reply(500, json={"error": "timeout upstream"}))
    charge = {"method": "POST", "url": f"{api.url}{base}/charge", "json": {"cents": 500}}
    plan = {"tasks": [task("charge", "api_call", charge, critical=False)]}
    stack.run_plan(plan, run_id, "--approval", "none", "--max-retries", "0")
    api.route("POST", f"{base}/charge", Reply(201, json={"charged": True}))

    stack.cli_json("rerun", run_id, "--failed", "--approval", "none", "--wait")
    changed = json.dumps({**charge, "json": {"cents": 600}})
    stack.cli_json("rerun", run_id, "--config", f"charge={changed}", "--approval", "none", "--wait")

    keys = [call.headers["idempotency-key"] for call in api.calls("POST", f"{base}/charge")]
    assert keys[0] == keys[1], "the same request run again: the server can tell it applied it"
    assert keys[-1] != keys[0], "a changed request is another request"


def sub_plan(task_id, tasks, *deps, **extra):
    return task(task_id, "sub_plan", {"plan": {"tasks": tasks}}, *deps, **extra)


def test_a_for_each_reruns_only_its_failed_items(stack, api, run_id):
    base = f"/rerun/{run_id}"
    for index in range(5):
        api.route("GET", f"{base}/item/{index}", Reply(json={"n": index}))
    api.route("GET", f"{base}/item/3", Reply(400, json={"error": "bad row"}))
    plan = {"tasks": [
        task("fan", "api_call", get(f"{api.url}{base}/item/{{{{ item }}}}"),
             for_each=[0, 1, 2, 3, 4]),
        task("count", "data_transform", {"input": "{{ tasks.fan.output }}",
                                         "expression": "length(@)"}, "fan"),
    ]}  # fmt: skip
    failed = stack.run_plan(plan, run_id, "--approval", "none")
    assert failed["status"] == "failed"
    api.route("GET", f"{base}/item/3", Reply(json={"n": 3}))

    rerun = stack.cli("rerun", run_id, "--failed", "--approval", "none", "--wait", "--json")

    assert rerun.returncode == 0, rerun.stderr
    result = json.loads(rerun.stdout)
    assert result["status"] == "completed"
    fan = tasks_by_id(result)["fan"]
    assert [item["body"]["n"] for item in fan["output"]] == [0, 1, 2, 3, 4]
    calls = [len(api.calls("GET", f"{base}/item/{index}")) for index in range(5)]
    assert calls == [1, 1, 1, 2, 1], "only the failed item ran again"
    items = stack.cli_json("status", result["workflow_id"], "--task", "fan")
    reused = [item["task_id"] for item in items if item.get("reused_from") == run_id]
    assert reused == ["fan[0]", "fan[1]", "fan[2]", "fan[4]"]

    named = stack.cli_json("rerun", run_id, "--from", "fan[1]", "--approval", "none")
    assert named["again"] == ["fan", "count", "fan[1]", "fan[3]"]
    assert named["reused"] == ["fan[0]", "fan[2]", "fan[4]"]


def test_a_sub_plan_reruns_its_child_from_within(stack, api, run_id):
    base = f"/rerun/{run_id}"
    api.route("GET", f"{base}/fetch", Reply(json={"rows": 2}))
    api.route("GET", f"{base}/write", Reply(503, json={"error": "down"}))
    api.route("POST", f"{base}/notify", Reply(201, json={"sent": True}))
    notify = {"method": "POST", "url": f"{api.url}{base}/notify", "json": {"to": "ops"}}
    plan = {"tasks": [
        task("prepare", "api_call", get(f"{api.url}{base}/fetch")),
        sub_plan("report", [
            task("fetch", "api_call", get(f"{api.url}{base}/fetch")),
            task("notify", "api_call", notify, "fetch"),
            task("write", "api_call", get(f"{api.url}{base}/write"), "fetch"),
        ], "prepare"),
    ]}  # fmt: skip
    failed = stack.run_plan(plan, run_id, "--approval", "none", "--max-retries", "0")
    assert failed["status"] == "failed"
    api.route("GET", f"{base}/write", Reply(json={"written": 2}))

    rerun = stack.cli_json("rerun", run_id, "--failed", "--approval", "none", "--id",
                           f"{run_id}-2", "--wait")  # fmt: skip

    assert rerun["status"] == "completed"
    assert len(api.calls("GET", f"{base}/fetch")) == 2, "prepare and the child's fetch, once each"
    assert len(api.calls("POST", f"{base}/notify")) == 1, "the child's completed POST was kept"
    assert len(api.calls("GET", f"{base}/write")) == 2
    child = stack.cli_json("result", f"{run_id}-2.report")
    assert child["rerun_of"] == f"{run_id}.report"
    child_tasks = tasks_by_id(child)
    assert child_tasks["fetch"]["reused_from"] == f"{run_id}.report"
    assert "reused_from" not in child_tasks["write"]

    picked = stack.cli_json("rerun", f"{run_id}-2", "--from", "report.notify", "--approval",
                            "none", "--id", f"{run_id}-3")  # fmt: skip
    assert picked["again"] == ["report", "report.notify"]
    assert picked["reused"] == ["prepare", "report.fetch", "report.write"]
    again = stack.cli_json("result", f"{run_id}-3", "--wait")
    assert again["status"] == "completed"
    keys = [call.headers["idempotency-key"] for call in api.calls("POST", f"{base}/notify")]
    assert len(keys) == 2 and keys[0] == keys[1], "the same POST run again keeps its key"
    assert len(api.calls("GET", f"{base}/write")) == 2, "write was not downstream of notify"
    for name, message in [
        ("report.nope", "--from 'report.nope': the plan has no such task (its tasks: fetch"),
        ("prepare.x", "--from 'prepare.x': task 'prepare' has no items nor a child run"),
        ("report[2]", "--from 'report[2]': task 'report' has no items"),
    ]:
        refused = stack.cli("rerun", run_id, "--from", name)
        assert refused.returncode != 0, refused.stdout
        [line] = refused.stderr.strip().splitlines()
        assert message in line, line


def test_a_loop_goes_on_from_the_round_that_failed(stack, api, run_id):
    path = f"/rerun/{run_id}/pages"
    api.route("GET", path, Reply(json={"next": "b"}), Reply(json={"next": "c"}),
              Reply(400, json={"error": "cursor store down"}))  # fmt: skip
    config = get(f"{api.url}{path}", params={"cursor": "{{ loop.previous.output.body.next }}"})
    plan = {"tasks": [
        task("pages", "api_call", config, repeat={"until": "output.body.next == null", "max": 9}),
        task("count", "data_transform", {"input": "{{ tasks.pages.output }}",
                                         "expression": "length(@)"}, "pages"),
    ]}  # fmt: skip
    failed = stack.run_plan(plan, run_id, "--approval", "none")
    assert failed["status"] == "failed"
    api.route("GET", path, Reply(json={"next": None}))

    rerun = stack.cli("rerun", run_id, "--failed", "--approval", "none", "--wait", "--json")

    assert rerun.returncode == 0, rerun.stderr
    result = json.loads(rerun.stdout)
    pages = tasks_by_id(result)["pages"]
    assert [page["body"]["next"] for page in pages["output"]] == ["b", "c", None]
    assert pages["rounds"] == 3 and tasks_by_id(result)["count"]["output"] == 3
    calls = api.calls("GET", path)
    assert len(calls) == 4, "rounds 1 and 2 were not called again"
    assert calls[-1].query["cursor"] == ["c"], "round 3 went on from round 2's cursor"
    shown = stack.cli("rerun", run_id, "--failed", "--approval", "none", "--wait").stdout
    assert "reuses: pages (2 rounds)" in shown
