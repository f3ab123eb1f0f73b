"""The command line, built on the Python API (agentic.client): commands, output, helpers."""

from agentic.cli.app import app, main

__all__ = ["app", "main"]
