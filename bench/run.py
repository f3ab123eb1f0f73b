"""The engine against bare Temporal and LangGraph, measured side by side in one run.

    python bench/run.py [--quick] [--shapes 2,4,8]

Starts two tuned Temporal dev servers, one in memory and one persisting to a SQLite file
(`--db-filename`: LangGraph's checkpointer writes a SQLite file, so the rows against it run on
a file too), local HTTP backends, a scripted LLM server and worker processes (`python
worker.py` for the engine, `python -m bench.bare_worker` for bare Temporal, each its own
process so its memory is its own), then prints one table: per row the engine's figure, what it
is compared with, their ratio, and issue 25's target with whether this run met it:

1. a chain of GETs, each task depending on the previous: time per step against a bare workflow
   running the same GETs as regular activities, on each server; against LangGraph+SQLite
   (target: <= 1.0x, both on files), the in-memory figure beside it;
2. fetch -> 3 transforms -> write, against the same as bare activities;
3. 16 independent calls of 0.5 s with the default run options, against the critical path
   (0.5 s) and one at a time (8 s);
4. 200 and 1,000 runs of a 5-task plan at once, on the server on a file: runs/s with one worker
   process and with `python worker.py --processes 2`, against bare Temporal and LangGraph
   (target: >= 0.8x LangGraph with either), the worker's peak RSS, the worker's CPU per run
   (target: <= 0.6x bare) and the server's; then 10,000 runs at once on one worker (in
   memory): whether all complete, and its peak RSS (target: < 1 GB);
5. a worker SIGKILLed during task 8 of 20 x 0.2 s GETs in a chain, a new one started at once:
   the run's time against a run without a crash (target: <= 3 s more), and the tasks that ran
   more than once; the same with the GETs as local activities, with the workflow task timeout
   of 10 s (the default) and of 2 s (`--quick`: 2 s only); killed while a task waits on a
   timer (target: <= 1 s more), a new worker started at once, then with another worker
   already serving the queue;
6. `start --goal` to the first task's start, the LLM answering after a fixed delay;
7. LangGraph with its SQLite checkpointer on shapes 1 and 4 (with the `bench` extra): its rows
   are printed with those shapes';
8. a for-each of 1,000 GETs against a bare workflow starting 1,000 activities, as many at a
   time (target: <= 0.5x);
9. streaming dispatch: a 10-task chain streamed by the LLM over 5 s, its first task complete at
   0.5 s: the run's start to the first task's start (target: <= 0.6 s), the planning request
   to it and the run's time, against the same run with the run option `stream_plan` false;
10. a for-each of 10,000 GETs on a worker of its own, against a for-each of 1,000 on the same
   worker just before: its time, the events of its largest history (it continues as new;
   target: <= 10,000) and the worker's peak RSS.

A task's start is its GET reaching the backend where a history cannot tell it (a local
activity's start is in no history). Each row also gives the history events per task
(LangGraph: checkpoint rows per node). `--quick` runs small sizes (tests/test_bench_smoke.py);
`--shapes 2,4` only those shapes. Exits 1 if a run did not do its work.
"""

import sys
from pathlib import Path

# `python bench/run.py` puts bench/ on the path, not the repository with the bench package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.suite import main

if __name__ == "__main__":
    main()
