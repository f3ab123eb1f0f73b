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

# (shape, words of its measure, words of its target, a LangGraph row): every row the quick run
# prints, in order. The rows of issue 25's shapes 8, 9 and 10 start with `for-each` and `first
# task`, as the issue names them.
ROWS = [
    ("1", "10-step chain of GETs, server in memory: time per step", "", False),
    ("1", "10-step chain of GETs, server on a file: time per step", "", False),
    ("1", "10-step chain of GETs, server on a file: time per step", "<= 1.0x (both on files)",
     True),
    ("1", "10-step chain of GETs, server in memory: time per step", "", True),
    ("2", "fetch -> 3 transforms -> write", "", False),
    ("3", "independent calls, default options", "", False),
    ("3", "independent calls, default options", "", False),
    ("4", "20 runs x 5 tasks at once, server on a file, one worker process: runs/s", "", False),
    ("4", "20 runs x 5 tasks at once, server on a file, 2 worker processes: runs/s", "", False),
    ("4", "20 runs at once: worker peak RSS, one process", "", False),
    ("4", "20 runs at once: worker CPU per run, one process", "<= 0.6x", False),
    ("4", "20 runs at once: server CPU per run", "", False),
    ("4", "20 runs at once: API requests made again", "", False),
    ("4", "server on a file, one worker process: runs/s", ">= 0.8x", True),
    ("4", "server on a file, 2 worker processes: runs/s", "", True),
    ("4", "20 runs at once: peak RSS, one process (LangGraph: its process)", "", True),
    ("4", "40 runs x 5 tasks at once, server in memory, one worker process: runs completed",
     "all complete", False),
    ("4", "40 runs x 5 tasks at once, server in memory, one worker process: worker peak RSS",
     "<= 1 GB", False),
    ("5", "worker SIGKILLed in task", "", False),
    ("5", "crash overhead, an action in flight as a regular activity", "<= 3 s", False),
    ("5", "tasks run more than once", "", False),
    ("5", "crash overhead, a local activity (a GET) in flight, workflow task timeout 2 s", "",
     False),
    ("5", "on a timer), a new worker started at once", "<= 1 s", False),
    ("5", "on a timer), another worker already serving", "<= 1 s", False),
    ("6", "start --goal to the first task's start", "", False),
    ("6", "planning overhead", "", False),
    ("8", "for-each of 100 GETs, 16 at a time (one host): run time", "<= 0.5x", False),
    ("9", "first task started after start --goal, plan streamed over 1 s", "<= 0.6 s", False),
    ("9", "first task: the planning request to its start", "", False),
    ("9", "first task: streaming overhead", "", False),
    ("9", "first task streamed, the whole run: time (start to result)", "", False),
    ("10", "for-each of 250 GETs: run time", "reported", False),
    ("10", "for-each of 250 GETs: events per history", "<= 10,000", False),
    ("10", "for-each of 250 GETs: worker peak RSS", "reported", False),
]  # fmt: skip


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
    langgraph = langgraph_installed()
    expected = [row for row in ROWS if langgraph or not row[3]]
    assert len(printed) == len(expected), finished.stdout
    for (shape, words, target, _), (printed_shape, line) in zip(expected, printed, strict=True):
        assert (printed_shape, words in line) == (shape, True), f"expected {words!r}: {line}"
        assert target in line, f"expected the target {target!r}: {line}"
        if shape in {"8", "9", "10"}:
            measure = line.split(maxsplit=1)[1]
            assert measure.startswith(("for-each", "first task")), line
    if not langgraph:
        assert "LangGraph rows skipped" in finished.stdout


def test_shapes_picks_rows_and_refuses_an_unknown_shape() -> None:
    def bench(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "bench/run.py", "--quick", *arguments],
            cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    refused = bench("--shapes", "2,11")
    assert refused.returncode == 2
    assert "'2,11': give shape numbers 1 to 10, like 2,4" in refused.stderr

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
