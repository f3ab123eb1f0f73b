"""structlog configuration shared by the worker and the CLI."""

from __future__ import annotations

import logging
import sys
from typing import Literal, TextIO

import structlog

LogFormat = Literal["auto", "console", "json"]


class TemporalFailureEcho(logging.Filter):
    """Drops the Temporal SDK's own warning (with a traceback) for each failed activity
    attempt: the engine logs one line per failed attempt itself. Kept at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        echo = getattr(record, "__temporal_error_identifier", None) == "ActivityFailure"
        return not echo or logging.getLogger().isEnabledFor(logging.DEBUG)


def rendered_format(fmt: str, stream: TextIO) -> str:
    """LOG_FORMAT as it applies to `stream`: `auto` is readable lines on a terminal and JSON
    lines otherwise (a file, a pipe, a log collector)."""
    if fmt != "auto":
        return fmt
    isatty = getattr(stream, "isatty", None)
    return "console" if isatty is not None and isatty() else "json"


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Structured logs on stderr, the engine's and the libraries' alike: key=value lines for
    people, JSON lines (LOG_FORMAT=json, or auto when stderr is not a terminal)."""
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        numeric_level = logging.INFO
    as_json = rendered_format(fmt, sys.stderr) == "json"
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso"),
    ]
    _route_standard_logging(numeric_level, shared, renderer if as_json else None)
    # httpx (and httpx2, the openai SDK's) log every request at INFO; the engine's own line per
    # action or LLM call says more.
    for chatty in ("httpx", "httpx2"):
        logging.getLogger(chatty).setLevel(max(numeric_level, logging.WARNING))
    activity_logger = logging.getLogger("temporalio.activity")
    if not any(isinstance(f, TemporalFailureEcho) for f in activity_logger.filters):
        activity_logger.addFilter(TemporalFailureEcho())
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def _route_standard_logging(
    level: int,
    shared: list[structlog.typing.Processor],
    renderer: structlog.typing.Processor | None,
) -> None:
    """The standard library's loggers (the Temporal SDK's among them) on stderr: as JSON lines
    too when the engine's are, so a collector reads one format."""
    logging.basicConfig(level=level, stream=sys.stderr, format="%(message)s")
    root = logging.getLogger()
    root.setLevel(level)
    if renderer is None:
        return
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    for handler in root.handlers:
        handler.setFormatter(formatter)
