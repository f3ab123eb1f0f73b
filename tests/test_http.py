"""The URL an api_call (or a poll) sends: the URL's own query string, `params`, or both."""

from __future__ import annotations

from tests.fakes.api_server import Reply
from tests.helpers import task, tasks_by_id


def test_query_string_and_params_reach_the_server(stack, api, run_id):
    for name in ("query", "params", "both", "poll"):
        api.route("GET", f"/{name}/{run_id}", Reply(json={"done": True}))
    base = f"{api.url}"
    plan = {
        "tasks": [
            task("query", "api_call", {"url": f"{base}/query/{run_id}?page=2&sort=name"}),
            task("params", "api_call", {"url": f"{base}/params/{run_id}", "params": {"page": 3}}),
            task("both", "api_call", {
                "url": f"{base}/both/{run_id}?page=2&keep=1",
                "params": {"page": 5, "extra": "a b"},
            }),
            task("poll", "poll", {
                "request": {"url": f"{base}/poll/{run_id}?job=7", "params": {"verbose": "1"}},
                "until": "body.done",
                "interval": 0.1,
            }),
        ]
    }  # fmt: skip

    result = stack.run_plan(plan, run_id, "--approval", "none")

    assert result["status"] == "completed", result["error"]
    [query] = api.calls("GET", f"/query/{run_id}")
    [params] = api.calls("GET", f"/params/{run_id}")
    [both] = api.calls("GET", f"/both/{run_id}")
    [poll] = api.calls("GET", f"/poll/{run_id}")
    assert query.query == {"page": ["2"], "sort": ["name"]}, "the URL's own query is kept"
    assert params.query == {"page": ["3"]}
    assert both.query == {"page": ["5"], "keep": ["1"], "extra": ["a b"]}, "params win"
    assert poll.query == {"job": ["7"], "verbose": ["1"]}
    assert tasks_by_id(result)["query"]["output_summary"] == 'HTTP 200: {"done": true}'
