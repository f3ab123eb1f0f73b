"""The same work as bench/run.py's chain and load shapes, as LangGraph graphs with LangGraph's
SQLite checkpointer.

    python -m bench.langgraph_shapes chain --steps 50 --url http://127.0.0.1:PORT --db FILE
    python -m bench.langgraph_shapes load --runs 200 --url http://127.0.0.1:PORT --db FILE
        [--durability sync]

With durability `sync` (the default here; LangGraph's own is `async`, which writes a step's
checkpoint while the next step already runs), every step's checkpoint is written before the next
step starts: the guarantee Temporal gives, which records each activity's result before the
workflow goes on. Nodes call the same servers with the same httpx client settings as the bare
workers (httpx's default pool, the engine's 30 s timeout).

Runs in a process of its own (so its peak RSS is its own) and prints one JSON line:
`{"seconds", "runs", "nodes", "wrong", "checkpoint_rows", "peak_rss_mb"}`. Measured after a
warm-up invocation, like the engine and bare Temporal figures. Needs the `bench` extra.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import operator
import time
from functools import partial
from pathlib import Path
from typing import Annotated, Any, TypedDict

import httpx
import jmespath
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph

# Nothing of the engine is imported here (bench.load's plan and checks, bench.large_pages's RSS
# reader): it would count in this process's memory. The few lines are repeated instead.
TASKS_PER_RUN = 5
HTTP_TIMEOUT_SECONDS = 30  # the engine's api_call default


def expected_check(run: int) -> dict[str, int]:
    """What run `run`'s check node should hold (bench/load.py's `expected_check`)."""
    return {"total": 3 * run + 3, "order": run}


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class ChainState(TypedDict):
    steps: Annotated[int, operator.add]
    last: dict[str, Any]


class LoadState(TypedDict, total=False):
    run: int
    items: list[int]
    order: int
    total: int
    check: dict[str, int]


def chain_graph(http: httpx.AsyncClient, url: str, steps: int, prefix: str) -> StateGraph:
    """`steps` nodes in a line, each one GET of the bench server's /work."""

    async def step(number: int, state: ChainState) -> dict[str, Any]:
        response = await http.get(f"{url}/work?id={prefix}-{number:02d}&delay=0")
        response.raise_for_status()
        return {"steps": 1, "last": response.json()}

    graph = StateGraph(ChainState)
    previous = START
    for number in range(1, steps + 1):
        graph.add_node(f"t{number:02d}", partial(step, number))
        graph.add_edge(previous, f"t{number:02d}")
        previous = f"t{number:02d}"
    graph.add_edge(previous, END)
    return graph


def load_graph(http: httpx.AsyncClient, api_url: str) -> StateGraph:
    """bench/load.py's plan as a graph: fetch, order and a 0.5 s pause at once, then the sum,
    then the check of both."""

    async def fetch(state: LoadState) -> LoadState:
        response = await http.get(f"{api_url}/items?run={state['run']}")
        response.raise_for_status()
        return {"items": response.json()["items"]}

    async def order(state: LoadState) -> LoadState:
        response = await http.post(f"{api_url}/orders", json={"run": state["run"]})
        response.raise_for_status()
        return {"order": response.json()["run"]}

    async def pause(state: LoadState) -> LoadState:
        await asyncio.sleep(0.5)
        return {}

    async def total(state: LoadState) -> LoadState:
        return {"total": jmespath.search("sum(@)", state["items"])}

    async def check(state: LoadState) -> LoadState:
        both = {"total": state["total"], "order": state["order"]}
        return {"check": jmespath.search("{total: total, order: order}", both)}

    graph = StateGraph(LoadState)
    for name, node in (("fetch", fetch), ("order", order), ("pause", pause), ("total", total),
                       ("check", check)):  # fmt: skip
        graph.add_node(name, node)
    for name in ("fetch", "order", "pause"):
        graph.add_edge(START, name)
    graph.add_edge("fetch", "total")
    graph.add_edge(["total", "order", "pause"], "check")
    graph.add_edge("check", END)
    return graph


async def checkpoint_rows(saver: AsyncSqliteSaver) -> int:
    """Rows the checkpointer wrote: checkpoints plus pending writes."""
    rows = 0
    for table in ("checkpoints", "writes"):
        async with saver.conn.execute(f"SELECT COUNT(*) FROM {table}") as cursor:
            found = await cursor.fetchone()
            rows += found[0] if found else 0
    return rows


async def invoke(app: Any, state: dict[str, Any], thread_id: str, durability: str) -> Any:
    """Run the compiled graph `app` on `state` as thread `thread_id`: its final state."""
    return await app.ainvoke(
        state, {"configurable": {"thread_id": thread_id}}, durability=durability
    )


async def run_chain(arguments: argparse.Namespace, saver: AsyncSqliteSaver) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS, trust_env=False) as http:
        warm_up = chain_graph(http, arguments.url, 3, "lg-warm").compile(checkpointer=saver)
        await invoke(warm_up, {"steps": 0}, "warm-up", arguments.durability)
        rows_before = await checkpoint_rows(saver)
        graph = chain_graph(http, arguments.url, arguments.steps, "lg-chain")
        app = graph.compile(checkpointer=saver)
        started = time.perf_counter()
        state = await invoke(app, {"steps": 0}, "chain", arguments.durability)
        seconds = time.perf_counter() - started
    wrong = 0 if state["steps"] == arguments.steps else 1
    rows = await checkpoint_rows(saver) - rows_before
    return {"seconds": seconds, "runs": 1, "nodes": arguments.steps, "wrong": wrong,
            "checkpoint_rows": rows}  # fmt: skip


async def run_load(arguments: argparse.Namespace, saver: AsyncSqliteSaver) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS, trust_env=False) as http:
        app = load_graph(http, arguments.url).compile(checkpointer=saver)
        await invoke(app, {"run": 0}, "warm-up", arguments.durability)
        rows_before = await checkpoint_rows(saver)

        async def one(run: int) -> bool:
            state = await invoke(app, {"run": run}, f"run-{run}", arguments.durability)
            return bool(state.get("check") == expected_check(run))

        started = time.perf_counter()
        right = await asyncio.gather(*(one(run) for run in range(arguments.runs)))
        seconds = time.perf_counter() - started
    rows = await checkpoint_rows(saver) - rows_before
    return {"seconds": seconds, "runs": arguments.runs, "nodes": arguments.runs * TASKS_PER_RUN,
            "wrong": right.count(False), "checkpoint_rows": rows}  # fmt: skip


async def measure(arguments: argparse.Namespace) -> dict[str, Any]:
    async with AsyncSqliteSaver.from_conn_string(str(arguments.db)) as saver:
        await saver.setup()
        if arguments.shape == "chain":
            figures = await run_chain(arguments, saver)
        else:
            figures = await run_load(arguments, saver)
    return {**figures, "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shape", choices=("chain", "load"))
    parser.add_argument("--url", required=True, help="the bench server's base URL")
    parser.add_argument("--db", type=Path, required=True, help="the SQLite file")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument(
        "--durability",
        choices=("sync", "async", "exit"),
        default="sync",
        help="when LangGraph writes a step's checkpoint (its default: async)",
    )
    print(json.dumps(asyncio.run(measure(parser.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
