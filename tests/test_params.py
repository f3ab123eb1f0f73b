"""A plan's params (issue 24): `params` declares them (a JSON Schema object), the tasks use
`{{ params.NAME }}`, and a run is given them (`start --param`, `--params-file`, the API's
`params=`): checked against the schema, the defaults filling the others, before the run."""

from __future__ import annotations

import json

import pytest

from agentic import AgentClient, InvalidPlan, RunOptions
from agentic.core.plan import Plan
from tests.helpers import task, tasks_by_id

TEMPLATE = {
    "goal": "adults of {{ params.source }}",
    "params": {
        "source": {"type": "string", "description": "where the users come from"},
        "min_age": {"type": "integer", "minimum": 0, "default": 18},
        "ages": {"type": "array", "items": {"type": "integer"}, "default": [36, 17, 52]},
    },
    "tasks": [
        task("adults", "data_transform", {"input": "{{ params.ages }}",
                                          "expression": "[?@ >= `{{ params.min_age }}`]"}),
        task("label", "data_transform", {"input": "{{ params.source }}: {{ params.min_age }}+",
                                         "expression": "@"}),
    ],
}  # fmt: skip


def test_params_are_checked_and_put_in_place():
    plan = Plan.model_validate(TEMPLATE)

    bound = plan.with_params({"source": "crm", "ages": [70, 10]})

    assert bound.goal == "adults of crm"
    configs = {t.id: t.action_config.model_dump() for t in bound.tasks}
    assert configs["adults"]["input"] == [70, 10], "a whole reference becomes the value"
    assert configs["adults"]["expression"] == "[?@ >= `18`]", "the default, as text"
    assert configs["label"]["input"] == "crm: 18+"
    with pytest.raises(ValueError, match="param source is required"):
        plan.with_params({})
    with pytest.raises(ValueError, match="param min_age: -1 is less than the minimum of 0"):
        plan.with_params({"source": "crm", "min_age": -1})
    with pytest.raises(ValueError, match="unknown param 'sauce': the plan takes ages, min_age"):
        plan.with_params({"sauce": "crm"})
    undeclared = {"tasks": [task("t", "data_transform", {"input": "{{ params.x }}",
                                                         "expression": "@"})]}  # fmt: skip
    with pytest.raises(ValueError, match=r"uses \{\{ params.x \}\}, which the plan does not"):
        Plan.model_validate(undeclared)


def test_the_cli_takes_params_and_refuses_bad_ones_in_one_line(stack, run_id, tmp_path):
    path = stack.write_plan(TEMPLATE)
    given = tmp_path / "params.json"
    given.write_text(json.dumps({"source": "crm", "min_age": 40}))

    result = stack.cli_json("start", "--plan", str(path), "--params-file", str(given),
                            "--param", "min_age=30", "--approval", "none", "--wait",
                            "--id", run_id)  # fmt: skip

    assert result["goal"] == "adults of crm"
    outputs = {t: value["output"] for t, value in tasks_by_id(result).items()}
    assert outputs == {"adults": [36, 52], "label": "crm: 30+"}, "--param wins over the file"
    for flags, message in [
        ([], "param source is required: give it (--param source=VALUE)"),
        (["--param", "source=crm", "--param", "min_age=old"],
         "param min_age: 'old' is not of type 'integer'"),
        (["--param", "nameless"], "--param 'nameless': give NAME=VALUE"),
    ]:  # fmt: skip
        refused = stack.cli("start", "--plan", str(path), *flags)
        assert refused.returncode != 0
        [line] = refused.stderr.strip().splitlines()
        assert message in line, line


async def test_the_api_takes_params(stack, run_id):
    agent = await AgentClient.connect(address=stack.address, task_queue=stack.task_queue)
    options = RunOptions(approval="none")

    result = await agent.run(plan=TEMPLATE, params={"source": "erp"}, options=options,
                             workflow_id=run_id)  # fmt: skip

    assert result.status == "completed" and result.tasks[1].output == "erp: 18+"
    with pytest.raises(InvalidPlan, match="params are for a plan"):
        await agent.start(goal="anything", params={"source": "x"})


def test_a_param_may_stand_where_jmespath_would_not_parse_before_it_is_in_place():
    top = {"input": [5, 3, 9], "expression": "sort(@)[-{{ params.limit }}:]"}
    plan = Plan.model_validate(
        {"params": {"limit": {"type": "integer"}}, "tasks": [task("top", "data_transform", top)]}
    )

    bound = plan.with_params({"limit": 2})

    assert bound.tasks[0].action_config.model_dump()["expression"] == "sort(@)[-2:]"
    with pytest.raises(ValueError, match=r"invalid JMESPath expression 'sort\(@\)\[--2:\]'"):
        plan.with_params({"limit": -2})
