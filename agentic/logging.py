"""structlog configuration shared by the worker and the CLI."""

from __future__ import annotations

import logging
import sys

import structlog


class TemporalFailureEcho(logging.Filter):
    """Drops the Temporal SDK's own warning (with a traceback) for each failed activity
    attempt: the engine logs one line per failed attempt itself. Kept at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        echo = getattr(record, "__temporal_error_identifier", None) == "ActivityFailure"
        return not echo or logging.getLogger().isEnabledFor(logging.DEBUG)


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    """Structured logs on stderr: key=value for people, JSON lines with LOG_FORMAT=json."""
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        numeric_level = logging.INFO
    logging.basicConfig(level=numeric_level, stream=sys.stderr, format="%(message)s")
    # httpx (and httpx2, the openai SDK's) log every request at INFO; the engine's own line per
    # action or LLM call says more.
    for chatty in ("httpx", "httpx2"):
        logging.getLogger(chatty).setLevel(max(numeric_level, logging.WARNING))
    activity_logger = logging.getLogger("temporalio.activity")
    if not any(isinstance(f, TemporalFailureEcho) for f in activity_logger.filters):
        activity_logger.addFilter(TemporalFailureEcho())
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
