"""The example workflows and the poll action, against the sample API and embedded PostgreSQL."""

from __future__ import annotations

import json

import asyncpg
import pytest

from agentic.devstack import port_open
from agentic.examples.sample_api import DEFAULT_PORT as SAMPLE_API_PORT
from tests.fakes.api_server import Reply
from tests.helpers import activity_spans, event_types, task, tasks_by_id


def test_example_list_names_every_example_with_its_options(stack):
    listed = stack.cli("example", "--list")

    assert listed.returncode == 0, listed.stderr
    for name in ("data_pipeline", "api_orchestration", "job_execution"):
        assert name in listed.stdout
    assert "-o min_age=18" in listed.stdout


async def test_data_pipeline_saves_a_file_and_rows(stack, sample_api, postgres, run_id):
    table = "pipeline_" + run_id[-6:]
    folder = f"pipeline-{run_id}"
    args = ["-o", f"source_url={sample_api.url}/users", "-o", f"table={table}",
            "-o", f"output_path={folder}/adults.json", "-o", f"report_path={folder}/report.md",
            "-o", "min_age=30"]  # fmt: skip

    result = stack.cli_json("example", "data_pipeline", *args, "--wait", "--id", run_id)

    assert result["status"] == "completed", result["error"]
    saved = json.loads((stack.workspace / folder / "adults.json").read_text())
    assert saved and all(row["age"] >= 30 and row["email"] for row in saved)
    assert set(saved[0]) == {"name", "email", "age", "city"}
    connection = await asyncpg.connect(postgres.url)
    stored = await connection.fetchval(f"SELECT count(*) FROM {table}")
    await connection.close()
    assert stored == len(saved)
    report = (stack.workspace / folder / "report.md").read_text()
    assert f"records kept (age >= 30): {len(saved)}" in report
    assert f"rows in table {table}: {len(saved)}" in report


def test_data_pipeline_again_upserts_instead_of_duplicating(stack, sample_api, run_id):
    args = ["-o", f"source_url={sample_api.url}/users", "-o", f"table=again_{run_id[-6:]}"]
    first = stack.cli_json("example", "data_pipeline", *args, "--wait", "--id", run_id + "-1")
    second = stack.cli_json("example", "data_pipeline", *args, "--wait", "--id", run_id + "-2")

    counts = [tasks_by_id(run)["count"]["output"]["value"] for run in (first, second)]
    assert counts[0] == counts[1] > 0


async def test_api_orchestration_uses_the_token_and_runs_calls_in_parallel(
    stack, sample_api, client, run_id
):
    path = f"orchestration-{run_id}/summary.json"
    args = ["-o", f"base_url={sample_api.url}", "-o", f"output_path={path}"]

    result = stack.cli_json("example", "api_orchestration", *args, "--wait", "--id", run_id)

    assert result["status"] == "completed", result["error"]
    summary = json.loads((stack.workspace / path).read_text())
    assert summary["users"] == 20 and summary["orders"] == 30 and summary["paid_revenue"] > 0
    history = await event_types(client, run_id)
    scheduled = history.count("EVENT_TYPE_ACTIVITY_TASK_SCHEDULED")
    # the summary, a data_transform, is computed in the workflow; the two GETs are local reads
    assert scheduled == 2, "the token's POST and the write, each once"
    assert set(await activity_spans(client, run_id)) >= {"users", "orders"}


def test_api_orchestration_with_a_wrong_secret_fails_on_401(stack, sample_api, llm, run_id):
    llm.script("/auth/token", {"action": "fail_workflow", "reason": "credentials are wrong"})
    args = ["-o", f"base_url={sample_api.url}", "-o", "client_secret=wrong"]

    result = stack.cli_json("example", "api_orchestration", *args, "--wait", "--id", run_id)

    tasks = tasks_by_id(result)
    assert result["status"] == "failed"
    assert tasks["login"]["error"]["error_type"] == "HttpClientError"
    assert tasks["users"]["status"] == "skipped"


async def test_job_execution_polls_with_durable_timers(stack, sample_api, client, run_id):
    report = f"jobs-{run_id}/report.md"
    args = ["-o", f"base_url={sample_api.url}", "-o", "duration_seconds=1.5",
            "-o", "interval=0.5", "-o", f"report_path={report}"]  # fmt: skip

    result = stack.cli_json("example", "job_execution", *args, "--wait", "--id", run_id)

    tasks = tasks_by_id(result)
    assert result["status"] == "completed", result["error"]
    assert tasks["monitor"]["output"]["body"]["status"] == "done"
    assert "rows_processed" in (stack.workspace / report).read_text()
    events = await event_types(client, run_id)
    assert events.count("EVENT_TYPE_TIMER_STARTED") >= 2, "checks are spaced by timers"


def test_poll_times_out_with_a_clear_error(stack, api, run_id):
    api.route("GET", f"/poll/{run_id}", Reply(json={"status": "running"}))
    plan = {"tasks": [task("watch", "poll", {
        "request": {"url": f"{api.url}/poll/{run_id}"}, "until": "body.status == 'done'",
        "interval": 0.3, "timeout": 1}, critical=False)]}  # fmt: skip

    result = stack.run_plan(plan, run_id)

    watch = tasks_by_id(result)["watch"]
    assert watch["status"] == "failed"
    assert watch["error"]["error_type"] == "PollTimeout"
    assert (
        "never became true" in watch["error"]["message"] and "running" in watch["error"]["message"]
    )
    assert len(api.calls("GET", f"/poll/{run_id}")) >= 2, "checked more than once"


def test_poll_survives_a_worker_restart(stack, api, run_id):
    import signal
    import uuid

    from tests.conftest import wait_until

    queue_env = {"TASK_QUEUE": f"poll-{uuid.uuid4().hex[:8]}"}
    worker = stack.start_worker(queue_env)
    states = iter([{"status": "running"}] * 3)
    api.route("GET", f"/poll-restart/{run_id}",
              lambda request: Reply(json=next(states, {"status": "done"})))  # fmt: skip
    plan = {"tasks": [task("watch", "poll", {
        "request": {"url": f"{api.url}/poll-restart/{run_id}"},
        "until": "body.status == 'done'", "interval": 1, "timeout": 60})]}  # fmt: skip
    stack.cli("start", "--plan", str(stack.write_plan(plan)), "--id", run_id, env=queue_env)
    wait_until(lambda: api.calls("GET", f"/poll-restart/{run_id}"), 30, "the first check")

    worker.send_signal(signal.SIGKILL)
    worker.wait()
    stack.start_worker(queue_env)

    result = stack.cli_json("result", run_id, "--wait", env=queue_env)
    assert result["status"] == "completed"
    assert tasks_by_id(result)["watch"]["output"]["body"] == {"status": "done"}


def test_example_serves_the_sample_api_itself_when_none_runs(stack, run_id):
    if port_open("127.0.0.1", SAMPLE_API_PORT):
        pytest.skip(f"port {SAMPLE_API_PORT} is taken on this machine")
    report = f"auto-{run_id}/report.md"
    args = ["-o", "duration_seconds=0.5", "-o", "interval=0.5", "-o", f"report_path={report}"]

    finished = stack.cli("example", "job_execution", *args, "--id", run_id)

    assert finished.returncode == 0, finished.stderr
    assert f"serving the sample API at http://127.0.0.1:{SAMPLE_API_PORT}" in finished.stdout
    assert f"run {run_id}: completed" in finished.stdout, "it waited for the run to end"
    assert (stack.workspace / report).exists()
    assert not port_open("127.0.0.1", SAMPLE_API_PORT), "and stopped serving afterwards"


BRANCHES = [(30, "review", "all_of_age"), (1, "all_of_age", "review")]


@pytest.mark.parametrize(("min_age", "taken", "not_taken"), BRANCHES)
def test_branch_takes_one_branch_and_joins(stack, sample_api, run_id, min_age, taken, not_taken):
    out = f"branch-{run_id}"
    args = ["-o", f"base_url={sample_api.url}", "-o", f"min_age={min_age}", "-o",
            f"review_path={out}/review.json", "-o", f"report_path={out}/report.json"]  # fmt: skip

    result = stack.cli_json("example", "branch", *args, "--wait", "--id", run_id)

    tasks = tasks_by_id(result)
    assert result["status"] == "completed", result["error"]
    assert tasks[taken]["status"] == "completed"
    skipped = tasks[not_taken]
    assert (skipped["status"], skipped["reason"]) == ("skipped", "condition false")
    written = json.loads((stack.workspace / out / "report.json").read_text())
    if taken == "review":
        assert written["under_age"] > 0 and written["review_file"].endswith("review.json")
        assert written["all_of_age"] is None
    else:
        assert written == {"under_age": 0, "review_file": None, "all_of_age": {"min_age": 1}}
