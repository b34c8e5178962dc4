"""Logging: one JSON object a line for machines, coloured text for humans.

structlog renders everything, including the records of the standard library (uvicorn,
celery, httpx), through one `ProcessorFormatter`, so that a log collector sees one format
and every line carries the request id bound in `structlog.contextvars` by the middleware.

The handler looks up `sys.stdout` at every write instead of keeping the stream it saw at
set-up time: test runners and process managers swap stdout, and a handler that kept the
old one would write into the void.

Secrets never reach a line: every line (ours, uvicorn's, websockets', celery's) passes
`redact_secrets`, which blanks the value of a secret-looking query parameter wherever a URL
is quoted (uvicorn logs `"WebSocket /ws?api_key=..."` at INFO, and the raw request line at
DEBUG) and any occurrence of the configured API_KEY itself. The access line logs the path
without its query string, and the API key's own value is blanked there too.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from typing import Any, TextIO

import orjson
import structlog
from structlog.typing import EventDict

from merit_order.settings import Settings

#: Loggers of libraries whose records we re-route through our formatter.
_FOREIGN = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "fastapi", "celery")
#: Chatty at INFO (one line per outgoing HTTP call); only their warnings are worth a line.
_QUIET = ("httpx", "httpcore")

_HANDLER_NAME = "merit-order"

#: A query parameter whose value is a secret (`?api_key=` is how /ws takes the key), as quoted
#: in a URL or request line: the name is kept, the value blanked up to the next delimiter.
_SECRET_PARAMETER = re.compile(
    r"(?i)([?&;](?:api[_-]?key|apikey|access[_-]?token|token|secret|password)=)[^&#\s\"'\\]*"
)
REDACTED = "[redacted]"
#: The literal secrets of this process (API_KEY), blanked wherever they appear in a line.
_secrets: tuple[str, ...] = ()


def redact(text: str) -> str:
    """`text` with secret query values and the configured secrets replaced by [redacted]."""
    if "=" in text:
        text = _SECRET_PARAMETER.sub(r"\1" + REDACTED, text)
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_secrets(_: Any, __: str, event: EventDict) -> EventDict:
    """structlog processor: `redact` every string field of the line (the event, an exception...)."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact(value)
    return event


class _CurrentStdoutHandler(logging.StreamHandler[TextIO]):
    """A StreamHandler on whatever sys.stdout is at the time of each record."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
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


class _StdoutLines:
    """structlog's logger interface: each rendered line goes to whatever sys.stdout is now."""

    def msg(self, message: str) -> None:
        out = sys.stdout
        out.write(message + "\n")
        out.flush()

    log = debug = info = warning = warn = error = critical = exception = fatal = failure = err = msg


def _named(name: str) -> Any:
    def add_logger_name(_: Any, __: str, event: EventDict) -> EventDict:
        event["logger"] = name
        return event

    return add_logger_name


def _access_logger(level: str, renderer: Any) -> Any:
    """The access log: one line per request, rendered by structlog straight to stdout.

    It bypasses the standard library's logging (a LogRecord, handler locks, a second
    formatting pass): ~45 us a line that way, a sixth of a whole plan request. Same fields,
    same renderer, same level as every other line.
    """
    return structlog.wrap_logger(
        _StdoutLines(),
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _named("merit_order.access"),
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
    )


class _JSONAccessLine:
    """The access line in the JSON format, written without structlog's processor chain.

    It is the one line written for every request, so it is built by hand: the same keys
    as every other JSON line (the bound context such as request_id, the fields, event,
    level, logger, timestamp), rendered once by orjson, about 3 us instead of 7.
    """

    def __init__(self, level: str) -> None:
        self.min_level = logging.getLevelName(level)
        self._second = -1
        self._stamp = ""
        self._pending: TextIO | None = None  # the stream with lines waiting for _flush

    def _timestamp(self) -> str:
        """ISO 8601 in UTC with microseconds, as structlog's TimeStamper(fmt="iso", utc=True) writes it."""
        now = time.time()
        second = int(now)
        if second != self._second:  # formatting the date once a second is most of the saving
            self._second, self._stamp = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((now - second) * 1_000_000):06d}Z"

    def write(self, level: int, fields: dict[str, Any]) -> None:
        if level < self.min_level:
            return
        path = fields.get("path")
        if _secrets and isinstance(path, str):  # the path never has the query; a key pasted into it, though
            fields = {**fields, "path": redact(path)}
        line = {
            **structlog.contextvars.get_contextvars(),
            **fields,
            "event": "request",
            "level": logging.getLevelName(level).lower(),
            "logger": "merit_order.access",
            "timestamp": self._timestamp(),
        }
        out = sys.stdout
        out.write(orjson.dumps(line, default=str, option=orjson.OPT_APPEND_NEWLINE).decode())
        self._flush_soon(out)

    def _flush_soon(self, out: TextIO) -> None:
        """Flush at the end of this turn of the event loop: one write for every line of the turn.

        A write to stdout is a system call, and on a busy server several requests end in the
        same turn; their lines go out together, microseconds later, instead of one call each.
        Outside an event loop (the CLI), at once.
        """
        if self._pending is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            out.flush()
            return
        self._pending = out
        loop.call_soon(self._flush)

    def _flush(self) -> None:
        out, self._pending = self._pending, None
        if out is not None:
            out.flush()


class _StructlogAccessLine:
    """The access line in any other format (console): through structlog, like every line."""

    def __init__(self, level: str, renderer: Any) -> None:
        self._logger = _access_logger(level, renderer)

    def write(self, level: int, fields: dict[str, Any]) -> None:
        if level >= logging.ERROR:
            self._logger.error("request", **fields)
        else:
            self._logger.info("request", **fields)


_access: _JSONAccessLine | _StructlogAccessLine = _JSONAccessLine("INFO")


def log_request(fields: dict[str, Any], *, failed: bool) -> None:
    """Write the access line of one request (at ERROR when it `failed`, a 5xx, else INFO)."""
    _access.write(logging.ERROR if failed else logging.INFO, fields)


def configure_logging(settings: Settings) -> None:
    """Route structlog and the standard library through one formatter. Idempotent."""
    shared = _shared_processors()
    global _access, _secrets
    key = settings.api_key.get_secret_value() if settings.api_key is not None else ""
    _secrets = (key,) if key else ()
    if settings.log_format == "console":
        renderer: Any = structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
        final = [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ]
        _access = _StructlogAccessLine(settings.log_level, renderer)
    else:
        final = [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,  # the traceback as one string field, "exception"
            redact_secrets,  # after the traceback is text: it is redacted too
            structlog.processors.JSONRenderer(serializer=_orjson_text),
        ]
        _access = _JSONAccessLine(settings.log_level)
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
