"""Logging: one JSON object a line for machines, coloured text for humans.

structlog renders everything, including the records of the standard library (uvicorn,
celery, httpx), through one `ProcessorFormatter`, so that a log collector sees one format
and every line carries the request id bound in `structlog.contextvars` by the middleware.

The handler looks up `sys.stdout` at every write instead of keeping the stream it saw at
set-up time: test runners and process managers swap stdout, and a handler that kept the
old one would write into the void.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import orjson
import structlog

from merit_order.settings import Settings

#: Loggers of libraries whose records we re-route through our formatter.
_FOREIGN = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "fastapi", "celery")
#: Chatty at INFO (one line per outgoing HTTP call); only their warnings are worth a line.
_QUIET = ("httpx", "httpcore")

_HANDLER_NAME = "merit-order"


class _CurrentStdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler on whatever sys.stdout is at the time of each record."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: TextIO) -> None:  # StreamHandler.__init__ assigns it; ignore
        pass


def _orjson_text(event: Any, **_: Any) -> str:
    """One log line as JSON text: orjson is ~5x faster than json, and logs go out on every request."""
    return orjson.dumps(event, default=str).decode()


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(settings: Settings) -> None:
    """Route structlog and the standard library through one formatter. Idempotent."""
    shared = _shared_processors()
    if settings.log_format == "console":
        renderer: Any = structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
        final = [structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer]
    else:
        final = [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,  # the traceback as one string field, "exception"
            structlog.processors.JSONRenderer(serializer=_orjson_text),
        ]
    formatter = structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=final)

    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = _CurrentStdoutHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(settings.log_level)

    for name in _FOREIGN:
        foreign = logging.getLogger(name)
        foreign.handlers.clear()  # uvicorn's own dictConfig handlers would print a second, plain line
        foreign.propagate = True
    # We write our own access line (with request id and plant count); uvicorn's would be a duplicate.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(settings.log_level)))

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
