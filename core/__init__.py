"""The engine's contract: plans, action configs and specs, references, messages, error types.

Pure data and pure functions: no I/O library is imported here, so workflow code (in Temporal's
sandbox), activities, agents, the CLI and the Python API all share these models. Models that
reach a run's history are contracts: add optional fields with defaults; never rename.
"""
