"""Named templates (issue 24): plan files with params in templates/ and TEMPLATE_DIRS, listed,
shown and started by name; a run's plan saved as a template runs again without the LLM."""

from __future__ import annotations

import json

import pytest

from agentic.examples import build_example
from agentic.settings import Settings
from agentic.templates import load_template
from tests.conftest import REPO
from tests.helpers import task, tasks_by_id
from tests.test_params import TEMPLATE


def test_a_template_is_listed_shown_and_started_by_name(stack, run_id, tmp_path):
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    (shelf / "adults.json").write_text(json.dumps(TEMPLATE))
    env = {"TEMPLATE_DIRS": str(shelf)}

    listed = stack.cli("template", "list", env=env).stdout
    shown = stack.cli("template", "show", "adults", env=env).stdout
    result = stack.cli_json("start", "--template", "adults", "--param", "source=crm",
                            "--approval", "none", "--wait", "--id", run_id, env=env)  # fmt: skip

    assert "adults: adults of {{ params.source }} [ages, min_age, source; 2 tasks]" in listed
    assert "param min_age (integer) = 18" in shown and "param source (string) (required)" in shown
    assert "flowchart LR" in shown
    assert tasks_by_id(result)["label"]["output"] == "crm: 18+"
    missing = stack.cli("start", "--template", "nope", env=env)
    assert missing.returncode != 0 and "no template 'nope' (templates: adults" in missing.stderr


def test_a_runs_plan_saved_as_a_template_runs_again_with_other_params(stack, run_id, tmp_path):
    plan = {
        "goal": "greet",
        "tasks": [task("hello", "data_transform", {"input": {"who": "ada"}, "expression": "who"})],
    }
    stack.run_plan(plan, run_id, "--approval", "none")
    cwd_env = {"TEMPLATE_DIRS": ""}

    saved = stack.cli("template", "save", run_id, f"greet-{run_id[-6:]}",
                      "--param-from", "who=hello.input.who", env=cwd_env)  # fmt: skip

    assert saved.returncode == 0, saved.stderr
    name = f"greet-{run_id[-6:]}"
    assert f"saved template {name} (who)" in saved.stdout
    try:
        again = stack.cli_json("start", "--template", name, "--param", "who=bob",
                               "--approval", "none", "--wait", env=cwd_env)  # fmt: skip
        assert again["tasks"][0]["output"] == "bob"
        twice = stack.cli("template", "save", run_id, name, env=cwd_env)
        assert twice.returncode != 0 and "is there already" in twice.stderr
        bad = stack.cli("template", "save", run_id, "x", "--param-from", "hello.nope")
        assert "task 'hello' has no 'nope'" in bad.stderr
    finally:
        (REPO / "templates" / f"{name}.json").unlink(missing_ok=True)
        if (REPO / "templates").is_dir() and not any((REPO / "templates").iterdir()):
            (REPO / "templates").rmdir()


def test_a_sub_plan_runs_a_template_with_its_params(stack, run_id, tmp_path):
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    (shelf / "adults.json").write_text(json.dumps(TEMPLATE))
    env = {"TEMPLATE_DIRS": str(shelf)}
    plan = {"tasks": [
        task("crm", "sub_plan", {"template": "adults", "params": {"source": "crm"}}),
        task("erp", "sub_plan", {"template": "adults", "params": {"source": "erp",
                                                                   "min_age": 40}}),
    ]}  # fmt: skip

    result = stack.run_plan(plan, run_id, "--approval", "none", env=env)

    assert result["status"] == "completed", result["error"]
    tasks = tasks_by_id(result)
    assert tasks["crm"]["output"]["label"] == "crm: 18+"
    assert tasks["erp"]["output"]["adults"] == [52], "its own params"
    bad = stack.write_plan({"tasks": [task("x", "sub_plan", {"template": "adults"})]})
    refused = stack.cli("start", "--plan", str(bad), env=env)
    assert "task 'x': template adults: param source is required" in refused.stderr
    both = {"template": "adults", "goal": "g"}
    refused = stack.cli("validate", str(stack.write_plan({"tasks": [task("x", "sub_plan", both)]})))
    assert "give exactly one of plan (an inline plan), goal" in refused.stderr


@pytest.mark.parametrize("name", ["data_pipeline", "api_orchestration", "job_execution"])
def test_the_three_examples_are_templates_with_their_defaults(name):
    """templates/NAME.json with its params' defaults is the example's plan (`example run`)."""
    template = load_template(name, Settings(template_dirs=""))

    filled = template.with_params({}).model_dump(mode="json", exclude={"params"})

    assert filled == build_example(name, {}).model_dump(mode="json", exclude={"params"})


def test_a_built_in_template_runs_with_params(stack, sample_api, run_id):
    result = stack.cli_json("start", "--template", "data_pipeline", "--param",
                            f"source_url={sample_api.url}/users", "--param", "min_age=40",
                            "--param", f"output_path=tpl/{run_id}.json", "--approval", "none",
                            "--wait", "--id", run_id)  # fmt: skip

    assert result["status"] == "completed"
    stats = tasks_by_id(result)["stats"]["output"]
    kept = json.loads((stack.workspace / "tpl" / f"{run_id}.json").read_text())
    assert stats["kept"] == len(kept) and all(user["age"] >= 40 for user in kept)
    assert 0 < stats["kept"] < stats["fetched"]
