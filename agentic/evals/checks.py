"""What a checker reads of a run: its answer, the files in its folder of the workspace, the rows
of its table, the jobs the sample API was sent. A checker returns what it found when the goal is
reached, and raises `CheckFailed` saying what is wrong otherwise."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from agentic.core.actions.base import preview
from agentic.core.messages import RunResult
from agentic.examples.sample_api import SampleAPI

NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


class CheckFailed(Exception):
    """The run did not reach its goal; the message says why, for people."""


@dataclass(frozen=True)
class RunPlace:
    """What one run of a goal may use, and what its goal's text names: the sample API's base
    URL, its own folder in the workspace and its own table."""

    url: str
    folder: str
    table: str


@dataclass(frozen=True)
class CheckContext:
    """A finished run and where to look for what it did."""

    place: RunPlace
    result: RunResult
    workspace: Path
    database_url: str
    sample_api: SampleAPI

    def path(self, name: str) -> str:
        """A file of the run's folder, relative to the workspace (as the goal names it)."""
        return f"{self.place.folder}/{name}"


Checker = Callable[[CheckContext], Awaitable[str]]


# ----- answers --------------------------------------------------------------------------------


def answer_text(context: CheckContext) -> str:
    """The joiner's answer as text (JSON for anything else); `CheckFailed` without one."""
    answer = context.result.answer
    if answer is None or answer == "":
        note = f" ({context.result.answer_note})" if context.result.answer_note else ""
        raise CheckFailed(f"the run has no answer{note}")
    return answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)


def numbers_in(text: str) -> list[float]:
    """Every number written in `text` (thousands separators ignored)."""
    return [float(number) for number in NUMBER.findall(re.sub(r"(?<=\d),(?=\d{3})", "", text))]


def answer_has_number(context: CheckContext, expected: float, tolerance: float = 0.0) -> str:
    """Pass when the answer states `expected` (within `tolerance`)."""
    text = answer_text(context)
    if any(abs(number - expected) <= tolerance for number in numbers_in(text)):
        return f"the answer states {expected:g}"
    raise CheckFailed(f"the answer does not state {expected:g}: {preview(text)}")


def answer_names(context: CheckContext, expected: set[str], everyone: Iterable[str]) -> str:
    """Pass when the answer names every one of `expected` and nobody else of `everyone`."""
    text = answer_text(context)
    missing = sorted(name for name in expected if name not in text)
    extra = sorted(name for name in set(everyone) - expected if name in text)
    if missing or extra:
        problems = [f"missing {', '.join(missing)}"] if missing else []
        problems += [f"also names {', '.join(extra)}"] if extra else []
        raise CheckFailed(f"the answer is {'; '.join(problems)}: {preview(text)}")
    return f"the answer names the {len(expected)} expected"


# ----- files ----------------------------------------------------------------------------------


async def read_text(context: CheckContext, name: str) -> str:
    """A file of the run's folder; `CheckFailed` when there is none."""
    path = context.workspace / context.place.folder / name
    try:
        return await asyncio.to_thread(path.read_text, encoding="utf-8")
    except FileNotFoundError:
        raise CheckFailed(f"there is no file {context.path(name)}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CheckFailed(f"{context.path(name)} cannot be read: {error}") from None


async def read_json(context: CheckContext, name: str) -> Any:
    """A JSON file of the run's folder, parsed; `CheckFailed` when it is missing or not JSON."""
    text = await read_text(context, name)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        message = f"{context.path(name)} is not JSON ({error.msg}): {preview(text)}"
        raise CheckFailed(message) from None


async def read_list(context: CheckContext, name: str) -> list[Any]:
    """A JSON file of the run's folder that must hold a list."""
    value = await read_json(context, name)
    if not isinstance(value, list):
        raise CheckFailed(f"{context.path(name)} holds a JSON {type(value).__name__}, not a list")
    return value


def absent(context: CheckContext, name: str) -> None:
    """`CheckFailed` when the run wrote a file it should not have (the branch not taken)."""
    if (context.workspace / context.place.folder / name).exists():
        raise CheckFailed(f"{context.path(name)} exists: the run took the wrong branch")


def same_items(found: Iterable[Any], expected: Iterable[Any], what: str) -> None:
    """`CheckFailed` naming the differences when two collections do not hold the same items."""
    found_set, expected_set = set(found), set(expected)
    if found_set == expected_set:
        return
    problems = []
    if expected_set - found_set:
        problems.append(f"missing {sorted(expected_set - found_set)}")
    if found_set - expected_set:
        problems.append(f"unexpected {sorted(found_set - expected_set)}")
    raise CheckFailed(f"{what}: {'; '.join(problems)}")


def find_object(value: Any, keys: set[str]) -> dict[str, Any] | None:
    """The first object with all of `keys`, at any depth of `value` (a response body may be
    saved as it is, or inside the whole response)."""
    if isinstance(value, dict):
        if keys <= value.keys():
            return value
        children: Iterable[Any] = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return None
    for child in children:
        found = find_object(child, keys)
        if found is not None:
            return found
    return None


# ----- tables and the sample API --------------------------------------------------------------


async def table_rows(context: CheckContext, columns: str) -> list[dict[str, Any]]:
    """`SELECT columns` of the run's table, as dicts; `CheckFailed` when the table or a column
    is missing."""
    table = context.place.table
    connection = await asyncpg.connect(context.database_url)
    try:
        rows = await connection.fetch(f"SELECT {columns} FROM {table}")
    except asyncpg.UndefinedTableError:
        raise CheckFailed(f"there is no table {table}") from None
    except asyncpg.UndefinedColumnError as error:
        raise CheckFailed(f"table {table}: {error}") from None
    finally:
        await connection.close()
    return [dict(row) for row in rows]


def submitted_job(context: CheckContext, job_id: Any, job_type: str) -> str:
    """The id of a job of `job_type` that the sample API was sent; `CheckFailed` otherwise."""
    with context.sample_api.state.lock:
        job = context.sample_api.state.jobs.get(str(job_id))
    if job is None:
        raise CheckFailed(f"the sample API was sent no job {job_id!r}")
    if job.job_type != job_type:
        raise CheckFailed(f"job {job_id} has type {job.job_type!r}, not {job_type!r}")
    return str(job_id)


def jobs_of_type(context: CheckContext, job_type: str) -> list[str]:
    """The ids of the jobs of `job_type` the sample API was sent."""
    with context.sample_api.state.lock:
        jobs = list(context.sample_api.state.jobs.values())
    return [job.job_id for job in jobs if job.job_type == job_type]
