"""Runs a worker until SIGINT or SIGTERM: python worker.py

It serves the task queue (TASK_QUEUE) of the Temporal server at TEMPORAL_ADDRESS with the
AgentRun workflow, every action (built-in, and the plug-ins of ACTION_MODULES and the
`agentic.actions` entry points) and the planner and analyst. See the README's Settings.
`python worker.py --processes N` (or WORKER_PROCESSES, `auto` for one per core) runs N such
workers under one supervisor (agentic/supervisor.py); see docs/operations.md.
From Python: `agentic.run_worker(settings, actions=[...])`, one process.
"""

from agentic.worker import main

if __name__ == "__main__":
    main()
