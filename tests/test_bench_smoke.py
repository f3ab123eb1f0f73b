"""`python bench/run.py --quick` runs end to end and prints every row of its table.

Nothing here asserts a time: the figures are the bench's to print (STYLE: tests never assert
wall-clock speed). The LangGraph rows are expected only where the `bench` extra is installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory

from bench.history import retry_causes
from bench.stack import langgraph_installed
from bench.table import HEADER

REPO = Path(__file__).resolve().parent.parent

# (shape, words of its measure): every row the quick run prints.
ROWS = [
    ("1", "chain of GETs: time per step"),
    ("2", "fetch -> 3 transforms -> write"),
    ("3", "independent calls, default options"),
    ("3", "independent calls, default options"),
    ("4", "runs x 5 tasks at once, one worker: runs/s"),
    ("4", "runs at once: worker peak RSS"),
    ("4", "runs at once: worker CPU per run"),
    ("4", "runs at once: server CPU per run"),
    ("4", "runs at once: API requests made again"),
    ("5", "worker SIGKILLed in task"),
    ("5", "crash overhead, an action in flight"),
    ("5", "tasks run more than once"),
    ("5", "crash overhead between tasks"),
    ("6", "start --goal to the first task's start"),
    ("6", "planning overhead"),
]
LANGGRAPH_ROWS = [
    ("7", "chain of GETs: time per step"),
    ("7", "runs x 5 tasks at once, one worker: runs/s"),
    ("7", "runs at once: peak RSS"),
]
FOR_EACH_ROWS = [
    ("8", "at a time (one host): run time"),
    ("8", "GETs: run time"),
    ("8", "GETs: histories (continue-as-new)"),
    ("8", "GETs: worker peak RSS"),
]
STREAMING_ROWS = [
    ("9", "plan streamed over 1 s (task 1 complete at 0.1 s): planning request to task 1's"),
    ("9", "streaming overhead"),
    ("9", "run start to task 1's start"),
    ("9", "run time (start to result)"),
]


def table_rows(output: str) -> list[tuple[str, str]]:
    """(shape, line) for each row of the printed table."""
    lines = output.splitlines()
    start = next(n for n, line in enumerate(lines) if line.split()[:2] == list(HEADER[:2]))
    rows = []
    for line in lines[start + 1 :]:
        shape = line.split(maxsplit=1)[0] if line.strip() else ""
        if not shape.isdigit():
            break
        rows.append((shape, line))
    return rows


def test_quick_bench_prints_every_row() -> None:
    finished = subprocess.run(
        [sys.executable, "bench/run.py", "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=290,
    )

    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    printed = table_rows(finished.stdout)
    langgraph_rows = LANGGRAPH_ROWS if langgraph_installed() else []
    expected = ROWS + langgraph_rows + FOR_EACH_ROWS + STREAMING_ROWS
    assert len(printed) == len(expected), finished.stdout
    for (shape, words), (printed_shape, line) in zip(expected, printed, strict=True):
        assert (printed_shape, words in line) == (shape, True), f"expected {words!r}: {line}"
    if not langgraph_installed():
        assert "LangGraph rows skipped" in finished.stdout


def test_shapes_picks_rows_and_refuses_an_unknown_shape() -> None:
    def bench(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "bench/run.py", "--quick", *arguments],
            cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    refused = bench("--shapes", "2,10")
    assert refused.returncode == 2
    assert "'2,10': give shape numbers 1 to 9, like 2,4" in refused.stderr

    picked = bench("--shapes", "2")
    assert picked.returncode == 0, picked.stdout[-3000:] + picked.stderr[-3000:]
    assert [shape for shape, _ in table_rows(picked.stdout)] == ["2"]


@pytest.mark.parametrize(
    ("history", "causes"),
    [
        ("v0_run_survives_a_killed_worker", {"heartbeat timeout": 1}),
        ("v0_flaky_api_succeeds_on_retry", {"HttpServerError": 1}),  # 503, then 500: counted once
        ("v0_data_pipeline_saves_a_file_and_rows", {}),
    ],
)
def test_retry_causes_names_what_ended_the_attempt_before(history, causes) -> None:
    path = Path(__file__).parent / "histories" / f"{history}.json"
    events = list(WorkflowHistory.from_json(history, path.read_text()).events)

    assert retry_causes(events) == causes
