"""The errors of the Python API (and so of the CLI), in one hierarchy.

    AgenticError
    ├── ServerUnreachable      no Temporal server answers at the address
    ├── RunNotFound            no run with that workflow id
    ├── RunAlreadyStarted      a run with that workflow id is still going
    ├── RunEnded               the run already ended (a signal or an edit came too late)
    ├── NotWaiting             an approval or rejection for something that does not wait
    ├── EditRefused            the edit was refused (the reason is the message)
    ├── ReplanRefused          the replan was refused, or no patch came of it
    ├── AnswerRefused          an answer the run refused (no such question, or it does not
    │                          match the question's schema: the schema's error is the message)
    ├── WorkerUnavailable      no worker answered a query or an update in time
    ├── RunResultUnavailable   the run ended without a result (terminated, timed out)
    ├── InvalidPlan            a plan (or a plan file) that does not validate
    ├── InvalidQuery           a List Filter the server refused
    ├── PluginError            an action plug-in that cannot be loaded
    ├── SecretsError           a SECRETS_FILE that cannot be read
    ├── NoOutput               a task that has no output (unknown, or not completed)
    ├── NoChildRun             a task that has no child run (not a sub_plan that started)
    ├── InvalidHistory         a history file that cannot be read or replayed here
    ├── TracingUnavailable     tracing was asked for (OTEL_EXPORTER_OTLP_ENDPOINT) but cannot
    │                          be set up
    └── BlobStoreError         a BLOB_STORE that cannot be opened, or a stored output that
                               cannot be read from it

Each message says what was wrong and, where it can, what to do.
"""

from __future__ import annotations


class AgenticError(Exception):
    """Base of every error the API raises on purpose."""


class ServerUnreachable(AgenticError):
    """The Temporal server did not answer at the configured address."""


class RunNotFound(AgenticError):
    """No run has that workflow id."""


class RunAlreadyStarted(AgenticError):
    """A run with that workflow id is still going."""


class RunEnded(AgenticError):
    """The run has already ended."""


class NotWaiting(AgenticError):
    """An approval or rejection for a plan or task that does not wait for one."""


class NoChildRun(AgenticError):
    """A task that has no child run: not a sub_plan task, or one that has not started."""


class EditRefused(AgenticError):
    """The run refused the edit; nothing changed."""


class ReplanRefused(AgenticError):
    """The run refused the replan (it ended, or has no replans left), or the planner wrote no
    patch that fits; nothing changed."""


class RerunRefused(AgenticError):
    """A rerun that cannot start: the run is still going, a task is unknown, nothing to run."""


class AnswerRefused(AgenticError):
    """The run refused the answer: the task asks nothing now, or the answer does not match the
    question's schema (the message says why). The run keeps waiting for an answer."""


class WorkerUnavailable(AgenticError):
    """No worker answered a query or an update in time."""


class RunResultUnavailable(AgenticError):
    """The run ended without a result the engine can read."""


class InvalidPlan(AgenticError):
    """A plan that does not validate."""


class InvalidQuery(AgenticError):
    """A List Filter the server refused."""


class PluginError(AgenticError):
    """An action plug-in that cannot be loaded."""


class OpenApiSpecError(AgenticError):
    """An OpenAPI service's document (OPENAPI_SERVICES) that cannot be read or is not valid
    OpenAPI."""


class SecretsError(AgenticError):
    """A SECRETS_FILE that cannot be read."""


class NoOutput(AgenticError):
    """A task that has no output: not in the plan, or not completed."""


class BlobStoreError(AgenticError):
    """A BLOB_STORE that cannot be opened, or a stored output that cannot be read from it."""


class InvalidHistory(AgenticError):
    """A file that is not a Temporal history of this engine's workflow, or one that cannot
    be replayed here (encrypted, and no key)."""


class TracingUnavailable(AgenticError):
    """Tracing was asked for (OTEL_EXPORTER_OTLP_ENDPOINT) but cannot be set up."""
