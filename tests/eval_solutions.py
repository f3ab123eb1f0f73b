"""Scripted LLM replies that solve every goal of the eval suite (agentic.evals.goals), for
tests/test_eval.py: the planner's plans, the joiner's answers, and for the traps the analyst's
replan with the planner's patch, or the joiner's replan.

Replies are written against a goal's template: `{url}`, `{folder}` and `{table}` are filled in
from the goal's text in the request (the sample API's port and the run's folder and table are
known only when the run starts), `{job_id}` from the job the request's task outputs name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from agentic.evals import GOALS, EvalGoal
from tests.fakes.llm_server import ScriptedLLM, ScriptedReply

PLACEHOLDER = re.compile(r"\{(url|folder|table)\}")
JOB_ID = re.compile(r"job-[0-9a-f]{8}")
# The markers of the requests (agents/planner.py, joiner.py, replans.py, analyst.py).
PLANNER, JOINER, PATCH, ANALYST = (
    "Goal: ",
    "Join the run of: ",
    "Plan patch requested for the run of: ",
    "Goal of the run: ",
)
GOALS_BY_ID = {goal.id: goal for goal in GOALS}


def goal_pattern(goal: EvalGoal) -> re.Pattern[str]:
    """A regex matching the goal's text as a run got it, capturing url, folder and table."""
    pattern, seen = "", set()
    for position, part in enumerate(PLACEHOLDER.split(goal.text)):
        if position % 2 == 0:
            pattern += re.escape(part)
        else:
            pattern += f"(?P={part})" if part in seen else rf"(?P<{part}>\S+?)"
            seen.add(part)
    return re.compile(pattern)


@dataclass(frozen=True)
class Templated:
    """A reply for one goal, its placeholders filled in from the request it answers."""

    goal: EvalGoal
    reply: str | dict

    def fill(self, request_text: str) -> str:
        match = goal_pattern(self.goal).search(request_text)
        assert match is not None, f"the request is not about goal {self.goal.id}"
        text = self.reply if isinstance(self.reply, str) else json.dumps(self.reply)
        for name, value in match.groupdict().items():
            text = text.replace("{" + name + "}", value)
        job = JOB_ID.search(request_text)
        return text.replace("{job_id}", job.group(0)) if job else text


class GoalScriptedLLM(ScriptedLLM):
    """The scripted server, with replies for the eval's goals written as templates."""

    def script_goal(self, goal_id: str, marker: str, *replies: str | dict) -> None:
        """Replies to the requests of `marker` (planner, joiner, ...) for one goal's runs."""
        goal = GOALS_BY_ID[goal_id]
        self.script(marker + goal.text.split("{")[0], *(Templated(goal, r) for r in replies))

    def _next_reply(self, request_text: str) -> ScriptedReply | None:
        reply: Any = super()._next_reply(request_text)
        return reply.fill(request_text) if isinstance(reply, Templated) else reply


# ----- plan pieces ----------------------------------------------------------------------------


def task(task_id: str, action_type: str, config: dict, *deps: str, **extra: Any) -> dict:
    return {"id": task_id, "name": task_id, "action_type": action_type,
            "action_config": config, "depends_on": list(deps), **extra}  # fmt: skip


def get(task_id: str, url: str, *deps: str, **extra: Any) -> dict:
    return task(task_id, "api_call", {"method": "GET", "url": url}, *deps, **extra)


def transform(task_id: str, source: str, expression: str, *deps: str, **extra: Any) -> dict:
    config = {"input": "{{ tasks." + source + " }}", "expression": expression}
    return task(task_id, "data_transform", config, *deps, **extra)


def write(task_id: str, name: str, content: Any, *deps: str, **extra: Any) -> dict:
    config = {"operation": "write", "path": "{folder}/" + name, "content": content}
    return task(task_id, "file_operation", config, *deps, **extra)


def sql(task_id: str, query: str, *deps: str, params: list | None = None, **extra: Any) -> dict:
    config: dict[str, Any] = {"query": query, "fetch": "none", "write": True}
    if params:
        config["params"] = params
    return task(task_id, "db_query", config, *deps, **extra)


def plan(*tasks: dict) -> dict:
    return {"goal": "the goal", "tasks": list(tasks)}


def answer(value: Any) -> dict:
    return {"action": "answer", "answer": value}


def insert_from_json(columns: str, types: str) -> str:
    return (f"INSERT INTO {{table}} ({columns}) SELECT {columns} FROM "
            f"jsonb_to_recordset($1::jsonb) AS r({types})")  # fmt: skip


USERS = get("users", "{url}/users")
BEARER = {"Authorization": "Bearer {{ tasks.login.output.body.access_token }}"}
LOGIN = task("login", "api_call", {"method": "POST", "url": "{url}/auth/token",
             "json": {"client_id": "demo", "client_secret": "demo-secret"}})  # fmt: skip
ORDERS_WITH_TOKEN = task(
    "orders_auth", "api_call", {"method": "GET", "url": "{url}/orders", "headers": BEARER}, "login"
)
JOB_URL = "{url}/jobs/{{ tasks.submit.output.body.job_id }}"


def submit(job_type: str, seconds: float) -> dict:
    body = {"type": job_type, "duration_seconds": seconds}
    return task("submit", "api_call", {"method": "POST", "url": "{url}/jobs", "json": body})


def job_result_plan(job_type: str, seconds: float, name: str) -> dict:
    poll = {"request": {"method": "GET", "url": JOB_URL}, "until": "body.status == 'done'",
            "interval": 1, "timeout": 60}  # fmt: skip
    return plan(
        submit(job_type, seconds),
        task("wait", "poll", poll, "submit"),
        get("result", JOB_URL + "/result", "submit", "wait"),
        write("save", name, "{{ tasks.result.output.body }}", "result"),
    )


def per_user_orders(source: str) -> dict:
    return get("orders", "{url}/users/{{ item.id }}/orders", source,
               for_each="{{ tasks." + source + ".output }}")  # fmt: skip


# ----- the solution of each goal: (marker, replies) -------------------------------------------

ADULTS = "[?age >= `18`]"
REFUNDED = "[].body[] | [?status == 'refunded'].{order_id: id, user_id: user_id, amount: amount}"
HAS_REFUNDS = "length(tasks.refunded.output) > `0`"
MINORS = "{names: [?age < `18`].name, count: length([?age < `18`])}"
NEXT_CURSOR = "{{ loop.previous.output.body.next }}"

SOLUTIONS: dict[str, list[tuple[str, list[str | dict]]]] = {
    "easy-count-users": [
        (PLANNER, [plan(USERS)]),
        (JOINER, [answer("GET /users returned 20 users.")]),
    ],
    "easy-save-users": [
        (PLANNER, [plan(USERS, write("save", "users.json", "{{ tasks.users.output.body }}",
                                     "users"))]),
        (JOINER, [answer("Saved the users to {folder}/users.json.")]),
    ],
    "easy-paris-names": [
        (PLANNER, [plan(USERS, transform("paris", "users.output.body",
                                         "[?city == 'Paris'].name", "users"))]),
        (JOINER, [answer(["Ada Lovelace", "Margaret Hamilton", "John Backus", "Linus Torvalds"])]),
    ],
    "easy-first-page": [
        # The first plan uses an action type that does not exist: the repair round fixes it.
        (PLANNER, [plan(task("page", "http_get", {"url": "{url}/users/pages?limit=5"})),
                   plan(task("page", "api_call", {"method": "GET", "url": "{url}/users/pages",
                                                  "params": {"limit": 5}}),
                        transform("names", "page.output.body", "items[].name", "page"),
                        write("save", "first_page.json", "{{ tasks.names.output }}", "names"))]),
        (JOINER, [answer("Wrote the 5 names of the first page.")]),
    ],
    "easy-hello-table": [
        (PLANNER, [plan(sql("create", "CREATE TABLE {table} (id integer, label text)"),
                        sql("insert", "INSERT INTO {table} (id, label) VALUES (1, 'hello'), "
                                      "(2, 'world')", "create"))]),
        (JOINER, [answer("Created {table} with 2 rows.")]),
    ],
    "easy-submit-job": [
        (PLANNER, [plan(submit("cleanup", 1))]),
        (JOINER, [answer("The job id is {job_id}.")]),
    ],
    "medium-adults-file": [
        (PLANNER, [plan(USERS, transform("adults", "users.output.body",
                                         ADULTS + ".{name: name, email: email}", "users"),
                        write("save", "adults.json", "{{ tasks.adults.output }}", "adults"))]),
        (JOINER, [answer("Wrote the adults to {folder}/adults.json.")]),
    ],
    "medium-adults-table": [
        (PLANNER, [plan(USERS, transform("adults", "users.output.body",
                                         ADULTS + ".{name: name, email: email, age: age}", "users"),
                        sql("create", "CREATE TABLE {table} (name text, email text, age integer)"),
                        sql("insert", insert_from_json("name, email, age",
                                                       "name text, email text, age int"),
                            "create", "adults", params=["{{ tasks.adults.output }}"]))]),
        (JOINER, [answer("Stored the adults in {table}.")]),
    ],
    "medium-paid-total": [
        (PLANNER, [plan(LOGIN, ORDERS_WITH_TOKEN,
                        transform("total", "orders_auth.output.body",
                                  "sum([?status == 'paid'].amount)", "orders_auth"))]),
        (JOINER, [answer("The paid orders total 2224.73.")]),
    ],
    "medium-all-pages": [
        (PLANNER, [plan(task("pages", "api_call",
                             {"method": "GET", "url": "{url}/users/pages",
                              "params": {"limit": 5, "cursor": NEXT_CURSOR}},
                             repeat={"until": "output.body.next == null", "max": 20}),
                        transform("names", "pages.output", "[].body.items[].name", "pages"),
                        write("save", "all_names.json", "{{ tasks.names.output }}", "names"))]),
        (JOINER, [answer("Wrote the 20 names.")]),
    ],
    "medium-job-result": [
        (PLANNER, [job_result_plan("report", 1, "job.json")]),
        (JOINER, [answer("Saved the result of {job_id}.")]),
    ],
    "medium-minors-branch": [
        (PLANNER, [plan(USERS, transform("minors", "users.output.body",
                                         MINORS, "users"),
                        write("save_names", "minors.json", "{{ tasks.minors.output.names }}",
                              "minors", when="tasks.minors.output.count > `0`"),
                        write("save_none", "minors.txt", "none", "minors",
                              when="tasks.minors.output.count == `0`"))]),
        (JOINER, [answer("Wrote the names of the 6 users under 18.")]),
    ],
    "hard-minor-orders": [
        (PLANNER, [plan(USERS, transform("minors", "users.output.body", "[?age < `18`]", "users"),
                        per_user_orders("minors"),
                        transform("all", "orders.output", "[].body[]", "orders"),
                        write("save", "minor_orders.json", "{{ tasks.all.output }}", "all"))]),
        (JOINER, [answer("Wrote their 10 orders.")]),
    ],
    "hard-london-refunds": [
        (PLANNER, [plan(USERS, transform("london", "users.output.body", "[?city == 'London']",
                                         "users"),
                        per_user_orders("london"),
                        transform("refunded", "orders.output", REFUNDED, "orders"),
                        sql("create", "CREATE TABLE {table} (order_id integer, user_id integer, "
                                      "amount numeric)", "refunded", when=HAS_REFUNDS),
                        sql("insert", insert_from_json("order_id, user_id, amount",
                                                       "order_id int, user_id int, amount numeric"),
                            "create", "refunded", params=["{{ tasks.refunded.output }}"],
                            when=HAS_REFUNDS),
                        write("none", "refunds.txt", "no refunds", "refunded",
                              when="length(tasks.refunded.output) == `0`"))]),
        (JOINER, [answer("Stored the 5 refunded orders in {table}.")]),
    ],
    # The trap: /orders answers 401 without a token. The analyst asks for a replan, and the
    # planner's patch logs in and replaces the tasks that would have used the failed fetch.
    "hard-paid-ids": [
        (PLANNER, [plan(get("orders", "{url}/orders"),
                        transform("paid", "orders.output.body", "[?status == 'paid'].id", "orders"),
                        write("save", "paid_ids.json", "{{ tasks.paid.output }}", "paid"))]),
        (ANALYST, [{"action": "replan", "reason": "GET /orders needs a bearer token: log in"}]),
        (PATCH, [{"add": [LOGIN, ORDERS_WITH_TOKEN,
                          transform("paid", "orders_auth.output.body", "[?status == 'paid'].id",
                                    "orders_auth"),
                          write("save", "paid_ids.json", "{{ tasks.paid.output }}", "paid")],
                  "remove": ["paid", "save"],
                  "reason": "log in first, then fetch the orders with the token"}]),
        (JOINER, [answer("Wrote the ids of the paid orders.")]),
    ],
    # The joiner sees that the seniors have a refund and asks for the rest of the work.
    "hard-senior-refunds": [
        (PLANNER, [plan(USERS, transform("seniors", "users.output.body", "[?age >= `70`]", "users"),
                        per_user_orders("seniors"),
                        transform("refunds", "orders.output",
                                  "length([].body[] | [?status == 'refunded'])", "orders"),
                        task("zero", "data_transform", {"input": 0, "expression": "@"}, "refunds",
                             when="tasks.refunds.output == `0`"))]),
        (JOINER, [{"action": "replan", "reason": "the seniors have a refunded order: count all",
                   "add": [LOGIN, ORDERS_WITH_TOKEN,
                           transform("count", "orders_auth.output.body",
                                     "length([?status == 'refunded'])", "orders_auth")],
                   "remove": []},
                  answer("9 orders were refunded.")]),
    ],
    "hard-export-job": [
        (PLANNER, [job_result_plan("export", 2, "export.json")]),
        (JOINER, [answer("Wrote the export of {job_id}.")]),
    ],
}  # fmt: skip


def script_solutions(llm: GoalScriptedLLM, runs: int = 1) -> None:
    """Every goal's solution, for `runs` runs of the suite (planner scripts first, so that the
    more specific markers registered after them win)."""
    for marker in (PLANNER, ANALYST, PATCH, JOINER):
        for goal_id, steps in SOLUTIONS.items():
            for step_marker, replies in steps:
                if step_marker == marker:
                    llm.script_goal(goal_id, marker, *(replies * runs))
