"""Bare Temporal workflows doing the work of the benches' plans, to measure the engine against.

Each is the minimal workflow a person would write by hand for the same job: regular activities
in sequence (or `asyncio.gather` where the plan runs tasks in parallel), Temporal's default data
converter, a 30 s start-to-close timeout and the default retry policy. The activities they call
(by name: this module stays free of I/O for the sandbox) live in `bench/bare_worker.py`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow

ACTIVITY_TIMEOUT = timedelta(seconds=30)


@dataclass
class Post:
    """A POST of `json` to `url`."""

    url: str
    json: Any


@dataclass
class Transform:
    """A JMESPath `expression` over `input`."""

    input: Any
    expression: str


@dataclass
class FileWrite:
    """`content` (as JSON unless text) written to `path`, relative to the worker's workspace."""

    path: str
    content: Any


@dataclass
class PipelineInput:
    users_url: str
    path: str


@dataclass
class LoadInput:
    run: int
    api_url: str


# The pipeline's transforms, the same in the engine's plan (bench/shapes.py).
PIPELINE_TRANSFORMS = ("[?age > `30`]", "[].{name: name, age: age}", "sort_by(@, &age)")


async def _call(activity: str, argument: Any) -> Any:
    return await workflow.execute_activity(
        activity, argument, start_to_close_timeout=ACTIVITY_TIMEOUT
    )


@workflow.defn(name="BareChain")
class BareChain:
    """One GET after another."""

    @workflow.run
    async def run(self, urls: list[str]) -> int:
        for url in urls:
            await _call("bare_get", url)
        return len(urls)


@workflow.defn(name="BarePipeline")
class BarePipeline:
    """Fetch users, three transforms, write the result: one activity each."""

    @workflow.run
    async def run(self, pipeline: PipelineInput) -> int:
        fetched = await _call("bare_get", pipeline.users_url)
        value = fetched["body"]
        for expression in PIPELINE_TRANSFORMS:
            value = await _call("bare_transform", Transform(value, expression))
        return await _call("bare_write", FileWrite(pipeline.path, value))


@workflow.defn(name="BareLoad")
class BareLoad:
    """bench/load.py's plan: a GET, a POST and a 0.5 s timer at once, then a sum, then a check."""

    @workflow.run
    async def run(self, load: LoadInput) -> Any:
        fetched, ordered, _ = await asyncio.gather(
            _call("bare_get", f"{load.api_url}/items?run={load.run}"),
            _call("bare_post", Post(f"{load.api_url}/orders", {"run": load.run})),
            workflow.sleep(0.5),
        )
        total = await _call("bare_transform", Transform(fetched["body"]["items"], "sum(@)"))
        both = {"total": total, "order": ordered["body"]["run"]}
        return await _call("bare_transform", Transform(both, "{total: total, order: order}"))


@dataclass
class MapInput:
    urls: list[str]
    parallel: int


@workflow.defn(name="BareMap")
class BareMap:
    """One GET per URL from one workflow, at most `parallel` at a time (as many as the engine
    runs at once against one host)."""

    @workflow.run
    async def run(self, map_input: MapInput) -> int:
        slots = asyncio.Semaphore(map_input.parallel)

        async def get(url: str) -> Any:
            async with slots:
                return await _call("bare_get", url)

        await asyncio.gather(*(get(url) for url in map_input.urls))
        return len(map_input.urls)


BARE_WORKFLOWS = [BareChain, BarePipeline, BareLoad, BareMap]
