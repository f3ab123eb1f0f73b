"""The built-in suite: goals against the sample API, from easy (one call) to hard (a for-each, a
condition, and a trap that fails a task unless the plan foresees it, so that the run must
replan), each with a checker over what the run did.

A goal's text is a template: `{url}` is the sample API's base URL, `{folder}` the run's own
folder in the workspace and `{table}` its own PostgreSQL table, all filled in when the run
starts (the API's port is known only then, and no two runs share a folder or a table). The
expected values come from the sample data (examples/data), never typed in twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from agentic.evals.checks import (
    CheckContext,
    Checker,
    CheckFailed,
    RunPlace,
    absent,
    answer_has_number,
    answer_names,
    answer_text,
    find_object,
    jobs_of_type,
    read_json,
    read_list,
    same_items,
    submitted_job,
    table_rows,
)
from agentic.examples.sample_api import PAGE_SIZE, load_sample

Difficulty = Literal["easy", "medium", "hard"]
DIFFICULTIES: tuple[Difficulty, ...] = ("easy", "medium", "hard")
CREDENTIALS = "should the API ask for credentials: client_id demo, client_secret demo-secret"

USERS: list[dict[str, Any]] = load_sample("users")
ORDERS: list[dict[str, Any]] = load_sample("orders")
NAMES = [user["name"] for user in USERS]


@dataclass(frozen=True)
class EvalGoal:
    """One goal of the suite: its id (named by difficulty), its text (a template), what it
    exercises (for the docs), and the checker of a run of it."""

    id: str
    difficulty: Difficulty
    text: str
    exercises: str
    check: Checker

    def text_for(self, place: RunPlace) -> str:
        """The goal's text for one run: the sample API's URL, the run's folder and table."""
        return (
            self.text.replace("{url}", place.url)
            .replace("{folder}", place.folder)
            .replace("{table}", place.table)
        )


def users_where(**matches: Any) -> list[dict[str, Any]]:
    """The sample users with these field values."""
    return [user for user in USERS if all(user[key] == value for key, value in matches.items())]


def orders_of(users: list[dict[str, Any]], status: str | None = None) -> list[dict[str, Any]]:
    """The sample orders of these users (of one status, if given)."""
    ids = {user["id"] for user in users}
    return [o for o in ORDERS if o["user_id"] in ids and status in (None, o["status"])]


ADULTS = [user for user in USERS if user["age"] >= 18]
MINORS = [user for user in USERS if user["age"] < 18]
PAID = [order for order in ORDERS if order["status"] == "paid"]
REFUNDED = [order for order in ORDERS if order["status"] == "refunded"]


# ----- easy -----------------------------------------------------------------------------------


async def check_count_users(context: CheckContext) -> str:
    return answer_has_number(context, len(USERS))


async def check_save_users(context: CheckContext) -> str:
    users = await read_list(context, "users.json")
    if users != USERS:
        raise CheckFailed(f"users.json holds {len(users)} items, not the {len(USERS)} users")
    return f"users.json holds the {len(USERS)} users"


async def check_paris_names(context: CheckContext) -> str:
    return answer_names(context, {user["name"] for user in users_where(city="Paris")}, NAMES)


async def check_first_page(context: CheckContext) -> str:
    names = await read_list(context, "first_page.json")
    expected = NAMES[:PAGE_SIZE]
    if names != expected:
        raise CheckFailed(f"first_page.json holds {names!r}, not {expected!r}")
    return f"first_page.json holds the {len(expected)} names"


async def check_hello_table(context: CheckContext) -> str:
    rows = await table_rows(context, "id, label")
    found = sorted((row["id"], row["label"]) for row in rows)
    if found != [(1, "hello"), (2, "world")]:
        raise CheckFailed(f"table {context.place.table} holds {found}")
    return f"table {context.place.table} holds the 2 rows"


async def check_submit_job(context: CheckContext) -> str:
    text = answer_text(context)
    named = [job_id for job_id in jobs_of_type(context, "cleanup") if job_id in text]
    if not named:
        raise CheckFailed(f"the answer names no cleanup job the sample API was sent: {text!r}")
    return f"the answer names job {named[0]}"


# ----- medium ---------------------------------------------------------------------------------


async def check_adults_file(context: CheckContext) -> str:
    adults = await read_list(context, "adults.json")
    found = [(item.get("name"), item.get("email")) for item in adults if isinstance(item, dict)]
    expected = [(user["name"], user["email"]) for user in ADULTS]
    same_items(found, expected, "adults.json (name, email)")
    if len(adults) != len(expected):
        raise CheckFailed(f"adults.json holds {len(adults)} items, not {len(expected)}")
    return f"adults.json holds the {len(expected)} adults"


async def check_adults_table(context: CheckContext) -> str:
    rows = await table_rows(context, "name, email, age")
    found = [(row["name"], row["email"], row["age"]) for row in rows]
    same_items(found, [(u["name"], u["email"], u["age"]) for u in ADULTS], context.place.table)
    if len(rows) != len(ADULTS):
        raise CheckFailed(f"table {context.place.table} has {len(rows)} rows, not {len(ADULTS)}")
    return f"table {context.place.table} holds the {len(ADULTS)} adults"


async def check_paid_total(context: CheckContext) -> str:
    total = float(sum(Decimal(str(order["amount"])) for order in PAID))
    return answer_has_number(context, total, tolerance=0.01)


async def check_all_pages(context: CheckContext) -> str:
    names = await read_list(context, "all_names.json")
    if names != NAMES:
        raise CheckFailed(f"all_names.json holds {len(names)} names, not the {len(NAMES)} in order")
    return f"all_names.json holds the {len(NAMES)} names in order"


async def job_file(context: CheckContext, name: str, job_type: str) -> str:
    saved = await read_json(context, name)
    job = find_object(saved, {"job_id", "result"})
    if job is None:
        raise CheckFailed(f"{context.path(name)} holds no job result (job_id and result)")
    job_id = submitted_job(context, job["job_id"], job_type)
    rows = (job["result"] or {}).get("rows_processed") if isinstance(job["result"], dict) else None
    if rows != len(USERS):
        raise CheckFailed(f"the result in {context.path(name)} says rows_processed {rows!r}")
    return f"{context.path(name)} holds the result of job {job_id}"


async def check_job_result(context: CheckContext) -> str:
    return await job_file(context, "job.json", "report")


async def check_minors_branch(context: CheckContext) -> str:
    names = await read_list(context, "minors.json")
    same_items(names, [user["name"] for user in MINORS], "minors.json")
    absent(context, "minors.txt")
    return f"minors.json names the {len(MINORS)} users under 18"


# ----- hard -----------------------------------------------------------------------------------


async def check_minor_orders(context: CheckContext) -> str:
    orders = await read_list(context, "minor_orders.json")
    ids = [order.get("id") for order in orders if isinstance(order, dict)]
    same_items(ids, [order["id"] for order in orders_of(MINORS)], "minor_orders.json order ids")
    if len(ids) != len(orders):
        raise CheckFailed("minor_orders.json holds items that are not orders")
    return f"minor_orders.json holds the {len(ids)} orders"


async def check_london_refunds(context: CheckContext) -> str:
    rows = await table_rows(context, "order_id, user_id, amount")
    found = [(row["order_id"], row["user_id"], float(row["amount"])) for row in rows]
    refunded = orders_of(users_where(city="London"), "refunded")
    expected = [(order["id"], order["user_id"], order["amount"]) for order in refunded]
    same_items(found, expected, f"table {context.place.table} (order_id, user_id, amount)")
    if len(rows) != len(expected):
        raise CheckFailed(f"table {context.place.table} has {len(rows)} rows, not {len(expected)}")
    absent(context, "refunds.txt")
    return f"table {context.place.table} holds the {len(expected)} refunded orders"


async def check_paid_ids(context: CheckContext) -> str:
    ids = await read_list(context, "paid_ids.json")
    same_items(ids, [order["id"] for order in PAID], "paid_ids.json")
    if len(ids) != len(PAID):
        raise CheckFailed(f"paid_ids.json holds {len(ids)} ids, not {len(PAID)}")
    return f"paid_ids.json holds the {len(PAID)} paid order ids"


async def check_senior_refunds(context: CheckContext) -> str:
    # The seniors have a refunded order, so the branch that counts the refunds is the one taken.
    return answer_has_number(context, len(REFUNDED))


async def check_export_job(context: CheckContext) -> str:
    return await job_file(context, "export.json", "export")


GOALS: list[EvalGoal] = [
    EvalGoal("easy-count-users", "easy",
             "How many users does GET {url}/users return? Answer with the number.",
             "one call, an answer", check_count_users),
    EvalGoal("easy-save-users", "easy",
             "Save the JSON list that GET {url}/users returns to the file {folder}/users.json "
             "in the workspace.",
             "one call, a file", check_save_users),
    EvalGoal("easy-paris-names", "easy",
             "Which users of {url}/users live in Paris? Answer with their names.",
             "a filter, an answer", check_paris_names),
    EvalGoal("easy-first-page", "easy",
             "Write the names of the users on the first page of {url}/users/pages?limit=5 to "
             "{folder}/first_page.json, as a JSON list of strings.",
             "a projection, a file", check_first_page),
    EvalGoal("easy-hello-table", "easy",
             "In the PostgreSQL database, create the table {table} with the columns id integer "
             "and label text, and insert two rows into it: (1, 'hello') and (2, 'world').",
             "SQL writes", check_hello_table),
    EvalGoal("easy-submit-job", "easy",
             'Submit a job to {url}/jobs: a POST with the JSON body {"type": "cleanup", '
             '"duration_seconds": 1}. Answer with the job_id the API returns.',
             "a POST, an answer", check_submit_job),
    EvalGoal("medium-adults-file", "medium",
             "Fetch the users from {url}/users, keep those aged 18 or over, and write them to "
             "{folder}/adults.json as a JSON list of objects with the fields name and email.",
             "filter and projection, a file", check_adults_file),
    EvalGoal("medium-adults-table", "medium",
             "Store the users of {url}/users aged 18 or over in a new PostgreSQL table {table} "
             "with the columns name text, email text and age integer: one row per such user.",
             "a table from an API (create, insert many)", check_adults_table),
    EvalGoal("medium-paid-total", "medium",
             'Log in to the API at {url}: a POST to {url}/auth/token with the JSON body '
             '{"client_id": "demo", "client_secret": "demo-secret"} returns an access_token. '
             "Then fetch {url}/orders with the header Authorization: Bearer <access_token>, and "
             "answer with the total amount of the orders whose status is paid.",
             "a token passed on, a sum", check_paid_total),
    EvalGoal("medium-all-pages", "medium",
             "Fetch every page of {url}/users/pages?limit=5: each page's next field is the "
             "cursor of the next page (pass it as the query parameter cursor), and null on the "
             "last page. Write the names of all the users, in order, to "
             "{folder}/all_names.json as a JSON list.",
             "a loop (repeat) over pages", check_all_pages),
    EvalGoal("medium-job-result", "medium",
             'Submit a job with a POST to {url}/jobs and the JSON body {"type": "report", '
             '"duration_seconds": 1}; check GET {url}/jobs/<job_id> until its status is done, '
             "then save what GET {url}/jobs/<job_id>/result returns to {folder}/job.json.",
             "a poll until done", check_job_result),
    EvalGoal("medium-minors-branch", "medium",
             "Fetch the users of {url}/users. If at least one of them is under 18, write the "
             "names of those under 18 to {folder}/minors.json as a JSON list; otherwise write "
             "the text none to {folder}/minors.txt.",
             "a condition (when), one branch taken", check_minors_branch),
    EvalGoal("hard-minor-orders", "hard",
             "For each user under 18 at {url}/users, fetch that user's orders from "
             "{url}/users/<id>/orders, and write all of their orders together to "
             "{folder}/minor_orders.json as one JSON list of orders, as the API returns them.",
             "a for-each, outputs flattened", check_minor_orders),
    EvalGoal("hard-london-refunds", "hard",
             "For each user living in London at {url}/users, fetch their orders from "
             "{url}/users/<id>/orders. If any of those orders has the status refunded, create "
             "the PostgreSQL table {table} with the columns order_id integer, user_id integer "
             "and amount numeric, and store each refunded order in it, one row per order; "
             "otherwise write the text no refunds to {folder}/refunds.txt.",
             "a for-each, a condition, a table", check_london_refunds),
    EvalGoal("hard-paid-ids", "hard",
             "Write the ids of the paid orders listed at {url}/orders to {folder}/paid_ids.json, "
             f"as a JSON list of numbers ({CREDENTIALS}).",
             "a trap: /orders answers 401 without a token (replan to log in)", check_paid_ids),
    EvalGoal("hard-senior-refunds", "hard",
             "For each user aged 70 or over at {url}/users, fetch their orders from "
             "{url}/users/<id>/orders. If any of those orders was refunded, answer with the "
             "number of refunded orders among all the orders at {url}/orders "
             f"({CREDENTIALS}); otherwise answer 0.",
             "a for-each, a condition and the 401 trap, an answer", check_senior_refunds),
    EvalGoal("hard-export-job", "hard",
             'Submit an export job with a POST to {url}/jobs and the JSON body {"type": '
             '"export", "duration_seconds": 2}, then write its result, from '
             "{url}/jobs/<job_id>/result, to {folder}/export.json.",
             "a trap: the result is a 409 until the job is done (wait or poll)", check_export_job),
]  # fmt: skip

SMOKE = ("easy-count-users", "medium-adults-file", "hard-paid-ids")
SUITES: dict[str, list[EvalGoal]] = {
    "default": GOALS,
    **{level: [goal for goal in GOALS if goal.difficulty == level] for level in DIFFICULTIES},
    "smoke": [goal for goal in GOALS if goal.id in SMOKE],
}
