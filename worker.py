"""Runs a worker until SIGINT or SIGTERM: python worker.py

It serves the task queue (TASK_QUEUE) of the Temporal server at TEMPORAL_ADDRESS with the
AgentRun workflow, every action (built-in, and the plug-ins of ACTION_MODULES and the
`agentic.actions` entry points) and the planner and analyst. See the README's Settings.
From Python: `agentic.run_worker(settings, actions=[...])`.
"""

from agentic.worker import main

if __name__ == "__main__":
    main()
