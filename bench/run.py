"""The engine against bare Temporal and LangGraph, measured side by side in one run.

    python bench/run.py [--quick] [--shapes 2,4,8]

Starts its own tuned Temporal dev server, local HTTP backends, a scripted LLM server and worker
processes (`python worker.py` for the engine, `python -m bench.bare_worker` for bare Temporal,
each its own process so its memory is its own), then prints one table of ratios:

1. a chain of GETs, each task depending on the previous: time per step, against a bare
   workflow running the same GETs as regular activities;
2. fetch -> 3 transforms -> write, against the same as bare activities;
3. 16 independent calls of 0.5 s with the default run options, against the critical path
   (0.5 s) and one at a time (8 s);
4. 200 and 1,000 runs of a 5-task plan at once on one worker: runs/s and the worker's peak RSS,
   against a bare workflow of the same 5 activities;
5. a worker SIGKILLed during task 8 of 20 x 0.2 s tasks in a chain, a new one started at once:
   the run's time against a run without a crash, and the tasks that ran more than once;
6. `start --goal` to the first task's start, the LLM answering after a fixed delay;
7. LangGraph with its SQLite checkpointer on shapes 1 and 4 (with the `bench` extra);
8. a for-each of 1,000 GETs against a bare workflow starting 1,000 activities at once; then
   a for-each of 10,000 GETs on a worker of its own: its time, its histories (it continues as
   new) and the worker's peak RSS;
9. streaming dispatch: a 10-task chain streamed by the LLM over 5 s, its first task complete at
   0.5 s: the planning request to the first task's start and the run's time, against the same
   run with the run option `stream_plan` false (the whole plan first).

Each row also gives the history events per task (LangGraph: checkpoint rows per node).
`--quick` runs small sizes (tests/test_bench_smoke.py); `--shapes 2,4` only those shapes.
Exits 1 if a run did not do its work.
"""

import sys
from pathlib import Path

# `python bench/run.py` puts bench/ on the path, not the repository with the bench package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.suite import main

if __name__ == "__main__":
    main()
