"""The joiner and replanning, end to end: a goal's run ends with an answer, or with more work
that its first results called for (the joiner's replan, the analyst's, a person's); a patch
never repeats or changes a task that ran."""

from __future__ import annotations

import json
import threading

import pytest

from agentic.core.plan import Plan
from agentic.examples.branch import branch
from agentic.examples.orders_per_user import orders_per_user
from agentic.examples.paginate import paginate
from tests.conftest import wait_until
from tests.fakes.api_server import Reply
from tests.helpers import activity_spans, get, task, tasks_by_id

JOBS = [
    {"id": "j1", "state": "ok", "reason": None},
    {"id": "j2", "state": "failed", "reason": "timeout"},
    {"id": "j3", "state": "failed", "reason": "bad input"},
    {"id": "j4", "state": "failed", "reason": "timeout"},
]


def join(goal: str) -> str:
    """What the joiner's request for `goal` contains (see agents/joiner.py)."""
    return f"Join the run of: {goal}"


def patch_for(goal: str) -> str:
    """What the planner's patch request for `goal` contains (see agents/replans.py)."""
    return f"Plan patch requested for the run of: {goal}"


def test_a_goal_run_ends_with_the_joiners_answer(stack, llm, api, run_id):
    api.route("GET", f"/{run_id}/users", Reply(json=[{"name": "ada"}, {"name": "cy"}]))
    goal = f"how many users are there? ({run_id})"
    plan = {"goal": goal, "tasks": [task("users", "api_call", get(f"{api.url}/{run_id}/users"))]}
    llm.script(goal, plan)
    llm.script(join(goal), {"action": "answer", "answer": "There are 2 users: ada and cy."})

    finished = stack.cli("start", "--goal", goal, "--wait", "--id", run_id)

    assert finished.returncode == 0, finished.stderr
    assert "answer:\nThere are 2 users: ada and cy." in finished.stdout
    result = stack.cli_json("result", run_id)
    assert result["answer"] == "There are 2 users: ada and cy."
    assert [call["purpose"] for call in result["llm_calls"]] == ["plan", "join"]
    [join_request] = llm.requests_matching(join(goal))
    prompt = json.dumps(join_request)
    assert "ada" in prompt and '<data name=\\"tasks\\">' in prompt
    assert stack.cli_json("status", run_id)["answer"] == "There are 2 users: ada and cy."


async def test_the_joiner_replans_from_what_the_first_tasks_found(stack, llm, api, client, run_id):
    """ "Find the failing jobs, then restart each one that failed for a transient reason": the
    restarts can only be planned once the jobs were read."""
    base = f"{api.url}/{run_id}"
    api.route("GET", f"/{run_id}/jobs", Reply(json=JOBS))
    for job in ("j2", "j4"):
        api.route("POST", f"/{run_id}/jobs/{job}/restart", Reply(json={"restarted": job}))
    goal = f"find the failing jobs, then restart each one that failed transiently ({run_id})"
    llm.script(goal, {"goal": goal, "tasks": [task("jobs", "api_call", get(f"{base}/jobs"))]})
    transient = task(
        "transient",
        "data_transform",
        {"input": "{{ tasks.jobs.output.body }}", "expression": "[?reason=='timeout'].id"},
        "jobs",
    )
    restart = task(
        "restart",
        "api_call",
        {"method": "POST", "url": base + "/jobs/{{ item }}/restart"},
        "transient",
        for_each="{{ tasks.transient.output }}",
    )
    replan = {"action": "replan", "reason": "j2 and j4 timed out", "add": [transient, restart]}
    answer = {"action": "answer", "answer": {"restarted": ["j2", "j4"], "left": ["j3"]}}
    llm.script(join(goal), replan, answer)

    result = stack.cli_json("start", "--goal", goal, "--wait", "--id", run_id, "--approval", "none")

    assert result["status"] == "completed", result["error"]
    assert result["answer"] == {"restarted": ["j2", "j4"], "left": ["j3"]}
    assert len(api.calls("GET", f"/{run_id}/jobs")) == 1  # never run again
    assert len(api.calls("POST", f"/{run_id}/jobs/j2/restart")) == 1
    assert len(api.calls("POST", f"/{run_id}/jobs/j4/restart")) == 1
    [record] = result["replans"]
    assert record["source"] == "joiner" and record["status"] == "applied"
    assert record["added"] == ["transient", "restart"]
    assert list(tasks_by_id(result)) == ["jobs", "transient", "restart"]
    second_join = json.dumps(llm.requests_matching(join(goal))[1])
    assert "restarted" in second_join  # the joiner saw the restarts' outputs
    activities = list(await activity_spans(client, run_id))
    llm_calls = [a for a in activities if a.isdigit()]  # plan, join, join
    assert len(llm_calls) == 3
    assert sorted(a for a in activities if a not in llm_calls) == [
        "jobs",
        "restart[0]",
        "restart[1]",
    ]


def test_the_analyst_replans_when_the_plan_itself_was_wrong(stack, llm, api, run_id):
    base = f"{api.url}/{run_id}"
    api.route("GET", f"/{run_id}/v1/report", Reply(status=410, json={"error": "v1 is gone"}))
    api.route("GET", f"/{run_id}/v2/report", Reply(json={"rows": 3}))
    goal = f"fetch the report and save it ({run_id})"
    save = {"operation": "write", "path": f"{run_id}/report.json"}
    plan = {
        "goal": goal,
        "tasks": [
            task("fetch", "api_call", get(f"{base}/v1/report")),
            task(
                "save",
                "file_operation",
                {**save, "content": "{{ tasks.fetch.output.body }}"},
                "fetch",
            ),
        ],
    }
    llm.script(goal, plan)
    llm.script(f"Goal of the run: {goal}", {"action": "replan", "reason": "v1 is gone; use v2"})
    patch = {
        "add": [
            task("fetch_v2", "api_call", get(f"{base}/v2/report")),
            task(
                "save",
                "file_operation",
                {**save, "content": "{{ tasks.fetch_v2.output.body }}"},
                "fetch_v2",
            ),
        ],
        "remove": ["save"],
        "reason": "the report moved to v2",
    }
    llm.script(patch_for(goal), patch)
    llm.script(join(goal), {"action": "answer", "answer": "Saved the v2 report (3 rows)."})

    result = stack.cli_json("start", "--goal", goal, "--wait", "--id", run_id, "--approval", "none")

    assert result["status"] == "completed", result["error"]
    tasks = tasks_by_id(result)
    assert tasks["fetch"]["status"] == "failed" and tasks["fetch"]["replanned"] is True
    assert tasks["save"]["status"] == "completed"
    assert json.loads((stack.workspace / run_id / "report.json").read_text()) == {"rows": 3}
    [record] = result["replans"]
    assert record["source"] == "analyst" and record["task_id"] == "fetch"
    assert record["removed"] == ["save"] and record["status"] == "applied"
    assert [d["applied"] for d in result["decisions"]] == ["replan"]
    assert "Saved the v2 report" in result["answer"]
    metrics = stack.cli("metrics", run_id).stdout
    assert "replans: 1 (1 applied)" in metrics and "answer: given" in metrics
    assert "replan 1 (analyst, applied): adds fetch_v2, save; removes save" in metrics


def test_a_person_replans_a_running_plan(stack, llm, api, run_id):
    base = f"{api.url}/{run_id}"
    release = threading.Event()
    api.route("GET", f"/{run_id}/slow", lambda request: Reply(json={"ok": release.wait(30)}))
    api.route("GET", f"/{run_id}/extra", Reply(json={"extra": True}))
    goal = f"a plan a person extends ({run_id})"
    plan = {"goal": goal, "tasks": [task("slow", "api_call", get(f"{base}/slow"))]}
    path = str(stack.write_plan(plan))
    stack.cli("start", "--plan", path, "--id", run_id, "--approval", "none")
    wait_until(lambda: api.calls("GET", f"/{run_id}/slow"), 30, "the slow call")
    extra = task("extra", "api_call", get(f"{base}/extra"))
    llm.script(patch_for(goal), {"add": [extra], "remove": [], "reason": "as asked"})

    replanned = stack.cli_json("replan", run_id, "--hint", "also fetch /extra", "--by", "ana")
    release.set()

    assert replanned["status"] == "proposed" and replanned["added"] == ["extra"]
    assert replanned["source"] == "person" and replanned["by"] == "ana"
    result = stack.cli_json("result", run_id, "--wait")
    assert result["status"] == "completed"
    assert tasks_by_id(result)["extra"]["output"]["body"] == {"extra": True}
    assert result["replans"][0]["status"] == "applied"
    assert result["answer"] is None  # a plan run: no joiner unless --joiner
    assert "also fetch /extra" in json.dumps(llm.requests_matching(patch_for(goal))[0])
    late = stack.cli("replan", run_id, "--hint", "more")
    assert late.returncode != 0 and "ended" in late.stderr


def test_in_approval_mode_plan_a_patch_waits_for_approval(stack, llm, api, run_id):
    base = f"{api.url}/{run_id}"
    api.route("GET", f"/{run_id}/first", Reply(json={"next": "second"}))
    api.route("GET", f"/{run_id}/second", Reply(json={"done": True}))
    goal = f"follow the pointer ({run_id})"
    llm.script(goal, {"goal": goal, "tasks": [task("first", "api_call", get(f"{base}/first"))]})
    second = task("second", "api_call", get(base + "/{{ tasks.first.output.body.next }}"),
                  "first")  # fmt: skip
    replan = {"action": "replan", "reason": "follow it", "add": [second], "remove": []}
    llm.script(join(goal), replan, {"action": "answer", "answer": "done"})
    stack.cli("start", "--goal", goal, "--id", run_id, "--approval", "plan")
    wait_until(lambda: stack.cli_json("status", run_id)["phase"] == "awaiting_approval", 30,
               "the plan to wait")  # fmt: skip
    stack.cli("approve", run_id)

    def patch_waits() -> bool:
        replans = stack.cli_json("status", run_id).get("replans", [])
        return bool(replans) and replans[0]["status"] == "awaiting_approval"

    wait_until(patch_waits, 30, "the patch to wait for approval")
    shown = stack.cli("status", run_id).stdout
    assert "replan 1 (joiner, awaiting_approval): adds second" in shown
    assert f"approve {run_id} (the replan above)" in shown
    assert not api.calls("GET", f"/{run_id}/second")
    approved = stack.cli("approve", run_id, "--by", "ana")
    assert approved.returncode == 0, approved.stderr

    result = stack.cli_json("result", run_id, "--wait")
    assert result["status"] == "completed" and result["answer"] == "done"
    assert result["replans"][0]["status"] == "applied"
    assert len(api.calls("GET", f"/{run_id}/second")) == 1


def test_a_joiner_that_cannot_answer_never_fails_a_run(stack, llm, api, run_id):
    api.route("GET", f"/{run_id}/ok", Reply(json={"ok": True}))
    goal = f"a goal whose joiner rambles ({run_id})"
    llm.script(
        goal, {"goal": goal, "tasks": [task("ok", "api_call", get(f"{api.url}/{run_id}/ok"))]}
    )
    llm.script(join(goal), "I think it went well.", {"action": "shrug"})

    result = stack.cli_json("start", "--goal", goal, "--wait", "--id", run_id)

    assert result["status"] == "completed"
    assert result["answer"] is None
    assert "neither an answer nor a valid patch" in result["answer_note"]
    assert result["usage"]["calls"] == 3  # the plan, the joiner and its repair round


def test_replans_are_bounded_by_max_replans(stack, llm, api, run_id):
    api.route("GET", f"/{run_id}/ok", Reply(json={"ok": True}))
    goal = f"a joiner that always wants more ({run_id})"
    url = f"{api.url}/{run_id}/ok"
    llm.script(goal, {"goal": goal, "tasks": [task("t0", "api_call", get(url))]})
    more = [{"action": "replan", "reason": "more", "add": [task(f"t{n}", "api_call", get(url))]}
            for n in (1, 2)]  # fmt: skip
    llm.script(join(goal), *more, {"action": "answer", "answer": "enough"})

    result = stack.cli_json(
        "start", "--goal", goal, "--wait", "--id", run_id, env={"RUN_MAX_REPLANS": "2"}
    )

    assert result["answer"] == "enough"
    assert [r["status"] for r in result["replans"]] == ["applied", "applied"]
    last_join = json.dumps(llm.requests_matching(join(goal))[-1])
    assert "No more replanning is allowed" in last_join


def planned(plan: Plan, goal: str) -> dict:
    """An example's plan as the planner would write it for `goal`."""
    return {**plan.model_dump(mode="json", by_alias=True, exclude_defaults=True), "goal": goal}


@pytest.mark.parametrize("example", ["branch", "paginate"])
def test_the_plan_language_examples_run_from_a_goal_and_end_with_an_answer(
    stack, llm, sample_api, run_id, example
):
    out = f"{example}-{run_id}"
    plans = {
        "branch": lambda: branch(sample_api.url, 30, f"{out}/review.json", f"{out}/report.json"),
        "paginate": lambda: paginate(sample_api.url, 6, 50, f"{out}/users.json"),
    }
    goal = f"the {example} example, from a goal ({run_id})"
    llm.script(goal, planned(plans[example](), goal))
    llm.script(join(goal), {"action": "answer", "answer": f"{example}: done"})

    result = stack.cli_json("start", "--goal", goal, "--wait", "--id", run_id, "--approval", "none")

    assert result["status"] == "completed", result["error"]
    assert result["answer"] == f"{example}: done"
    assert result["streamed_tasks"] == [t["id"] for t in planned(plans[example](), goal)["tasks"]]
    joined = json.dumps(llm.requests_matching(join(goal))[0])
    assert ("completed" in joined and "condition false" in joined) or example != "branch"


def test_the_for_each_example_from_a_goal_needs_and_gets_a_replan(stack, llm, sample_api, run_id):
    """ "Total each user's paid orders": the planner first fetches the users; having seen
    them, the joiner adds the for-each over them, the totals and the file."""
    example = planned(orders_per_user(sample_api.url, output_path=f"{run_id}/totals.json"), "")
    users, *rest = example["tasks"]
    goal = f"total each user's paid orders into {run_id}/totals.json ({run_id})"
    llm.script(goal, {"goal": goal, "tasks": [users]})
    replan = {"action": "replan", "reason": "20 users: fetch each one's orders", "add": rest}
    llm.script(join(goal), replan, {"action": "answer", "answer": {"users": 20}})

    result = stack.cli_json("start", "--goal", goal, "--wait", "--id", run_id, "--approval", "none")

    assert result["status"] == "completed", result["error"]
    assert result["answer"] == {"users": 20}
    tasks = tasks_by_id(result)
    assert tasks["orders"]["items"] == {"completed": 20}
    assert json.loads((stack.workspace / run_id / "totals.json").read_text())["users"] == 20
    assert [r["status"] for r in result["replans"]] == ["applied"]
