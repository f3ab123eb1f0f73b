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


def test_a_post_carries_one_idempotency_key_across_retries(stack, api, run_id):
    api.route("POST", f"/pay/{run_id}", Reply(503), Reply(201, json={"paid": True}))
    api.route("POST", f"/pay/{run_id}/other", Reply(201, json={}))
    api.route("POST", f"/pay/{run_id}/none", Reply(201, json={}))
    pay = {"method": "POST", "url": f"{api.url}/pay/{run_id}", "json": {"amount": 5}}
    plan = {"tasks": [
        task("pay", "api_call", pay),
        task("other", "api_call", {**pay, "url": f"{api.url}/pay/{run_id}/other"}),
        task("none", "api_call", {**pay, "url": f"{api.url}/pay/{run_id}/none",
                                  "idempotency_key": False}),
    ]}  # fmt: skip

    result = stack.run_plan(plan, run_id, "--approval", "none")

    assert result["status"] == "completed"
    first, retry = api.calls("POST", f"/pay/{run_id}")
    [other] = api.calls("POST", f"/pay/{run_id}/other")
    [none] = api.calls("POST", f"/pay/{run_id}/none")
    assert first.headers["idempotency-key"] == retry.headers["idempotency-key"], "a retry reuses it"
    assert len(first.headers["idempotency-key"]) == 32
    assert other.headers["idempotency-key"] != first.headers["idempotency-key"]
    assert "idempotency-key" not in none.headers

    same_request = {**pay, "url": f"{api.url}/pay/{run_id}/other"}
    again = stack.run_plan({"tasks": [task("other", "api_call", same_request)]},
                           run_id, "--approval", "none")  # fmt: skip
    assert again["status"] == "completed", "the same id, once the first run ended"
    _, repeated = api.calls("POST", f"/pay/{run_id}/other")
    assert repeated.headers["idempotency-key"] != other.headers["idempotency-key"], (
        "a new run under an old id is a new request, not a repeat of the old one"
    )
