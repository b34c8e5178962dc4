"""The outermost layer of every HTTP request: request id, body limit, access log, last-resort 500.

A plain ASGI middleware rather than Starlette's BaseHTTPMiddleware: it costs nothing per
request, does not buffer responses, and sees exceptions before Starlette's error middleware
would print a traceback into a response.

* **Request id.** An incoming `X-Request-ID` is kept (when it is a sane token, so that a
  client cannot inject text into our logs), otherwise one is made; it is bound to every log
  line of the request and echoed in the response header.
* **Header limits.** More than MAX_HEADER_COUNT headers, or more than MAX_HEADER_BYTES of
  request line and headers, is a 431. The server's transport (api/transport.py, installed by
  `merit-order serve`) stops such a request before it is buffered; this check gives the same
  answer under any other ASGI server.
* **Body limit.** A `Content-Length` over the limit is refused at once; a body without one
  (chunked) is counted as it streams in and refused as soon as it passes the limit. Either
  way nothing is parsed, and memory never exceeds the limit. The body is then replayed to
  the app as one message. A `Content-Length` that is not digits is a 400 (one with
  thousands of leading zeros is still a number, not a 500).
* **Media type.** The routes that take a JSON body (`json_paths`) refuse any other
  `Content-Type` with a 415 before reading it: `application/json` or `application/*+json`,
  UTF-8 if a charset is given. A form or `text/plain` post is what a page on another origin
  can send without a CORS preflight; refusing it keeps such pages from making the service work.
* **Access log.** One line per request: method, path, status, duration_ms, request_id,
  plant_count (set by the routes in `scope["state"]`).
* **500.** Any exception the app lets escape is logged with its traceback and answered with
  a generic message and the request id, never the traceback.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from merit_order.logs import log_request

log = structlog.get_logger("merit_order.access")

REQUEST_ID_HEADER = "x-request-id"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
#: `application/json` or a structured syntax suffix (`application/problem+json`), any case.
_JSON_MEDIA_TYPE = re.compile(rb"^application/(?:[a-z0-9!#$&^_.+-]+\+)?json$", re.IGNORECASE)
_UTF8_CHARSETS = frozenset({b"utf-8", b"utf8"})
_PLAIN_JSON = frozenset({b"application/json", b"application/json; charset=utf-8", b"application/json;charset=utf-8"})
#: More digits than any body limit has (and than int() should ever be asked to convert).
_MAX_LENGTH_DIGITS = 18
#: Bytes a header line costs beyond its name and value (": " and CRLF), as the limit counts them.
HEADER_LINE_OVERHEAD = 4


class BodyTooLarge(Exception):
    """The body passed the limit while streaming in."""


class _RequestIds:
    """Request ids unique across processes and replicas: a random per-process prefix and a counter.

    As unique as uuid4 for this purpose (64 random bits per process, a counter within it)
    at a fifth of the cost; the prefix is drawn again in a forked child.
    """

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count()

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


new_request_id = _RequestIds()


def request_id_of(scope: Scope) -> str | None:
    """The request id the middleware gave this request (for handlers that put it in a body)."""
    state = scope.get("state") or {}
    value = state.get("request_id") if isinstance(state, Mapping) else None
    return value if isinstance(value, str) else None


def set_plant_count(scope: Scope, count: int) -> None:
    """Record the request's plant count for the access log line."""
    state = scope.setdefault("state", {})
    state["plant_count"] = count


class RequestContextMiddleware:
    """See the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        body_limits: Mapping[str, int] | None = None,
        json_paths: Iterable[str] = (),
        max_header_count: int | None = None,
        max_header_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Per-path overrides (exact path), for routes that legitimately take larger bodies (batches).
        self.body_limits = dict(body_limits or {})
        self.json_paths = frozenset(json_paths)  # exact paths whose body must be JSON (415 otherwise)
        self.max_header_count = max_header_count
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = _incoming_request_id(scope) or new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        response: dict[str, Any] = {"status": None}
        id_header = (b"x-request-id", request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        # bound for every log line of the request (and reset below: not a context manager, 3x cheaper)
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self._handle(scope, receive, send_with_id, request_id)
        except Exception:  # the last resort: log it, answer generically
            log.exception("unhandled_error", method=scope.get("method"), path=scope.get("path"))
            if response["status"] is None:
                await _send_json(
                    send_with_id,
                    500,
                    {
                        "detail": f"internal error; please report it with request id {request_id}",
                        "request_id": request_id,
                    },
                )
            else:  # headers already sent: nothing sane to add, the client sees a cut response
                response["status"] = response["status"] or 500
        finally:
            status = response["status"] or 500
            fields = {
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "plant_count": state.get("plant_count"),
            }
            log_request(fields, failed=status >= 500)
            structlog.contextvars.reset_contextvars(**tokens)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        too_many = self._header_problem(scope)
        if too_many is not None:
            await _send_json(send, 431, _error(too_many, request_id, field="headers"))
            return
        if scope.get("method") not in _METHODS_WITH_BODY:
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = self.body_limits.get(path, self.max_body_bytes)
        declared = _content_length(scope)
        if declared == -1:
            detail = "the Content-Length header is not a number (digits only, no leading zeros)"
            await _send_json(send, 400, _error(detail, request_id, field="content-length"))
            return
        if declared is not None and declared > limit:
            await _send_json(send, 413, _too_large(limit, request_id))
            return
        if path in self.json_paths:
            refused = _media_type_problem(scope)
            if refused is not None:
                await _send_json(send, 415, _error(refused, request_id, field="content-type"))
                return
        try:
            body = await read_body(receive, limit)
        except BodyTooLarge:
            await _send_json(send, 413, _too_large(limit, request_id))
            return
        if body is None:  # the client went away before sending its body
            return
        await self.app(scope, _replay(body, receive), send)


    def _header_problem(self, scope: Scope) -> str | None:
        """Why the request's headers are over a limit (MAX_HEADER_COUNT, MAX_HEADER_BYTES), or None."""
        headers = scope.get("headers", ())
        if self.max_header_count is not None and len(headers) > self.max_header_count:
            return (
                f"the request has {len(headers)} headers; this service accepts at most "
                f"{self.max_header_count} (MAX_HEADER_COUNT)"
            )
        if self.max_header_bytes is not None:
            size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            size += sum([len(name) + len(value) for name, value in headers]) + HEADER_LINE_OVERHEAD * len(headers)
            if size > self.max_header_bytes:
                return (
                    f"the request line and headers are {size} bytes; this service accepts at most "
                    f"{self.max_header_bytes} (MAX_HEADER_BYTES)"
                )
        return None


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            try:
                text = value.decode("ascii")
            except UnicodeDecodeError:
                return None
            return text if _SANE_REQUEST_ID.match(text) else None
    return None


def _content_length(scope: Scope) -> int | None:
    """The declared length; None when absent, -1 when it is not a number.

    On bytes, not text: `bytes.isdigit` is ASCII digits only (str.isdigit would take "²",
    which int() refuses). Only the canonical form is a number: no leading zeros, at most 18
    digits (more than any body limit). A value with thousands of zeros or digits is never
    handed to int(), which refuses more than 4,300 digits (a 500 otherwise); and refusing
    odd forms leaves no room for a proxy in front to read the length differently from us.
    """
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            digits = bytes(value).strip()
            if not digits.isdigit() or len(digits) > _MAX_LENGTH_DIGITS or (digits[:1] == b"0" and digits != b"0"):
                return -1
            return int(digits)
    return None


def _media_type_problem(scope: Scope) -> str | None:
    """Why the request's Content-Type is not JSON in UTF-8, or None when it is."""
    declared: bytes | None = None
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            declared = bytes(value)
            break
    if declared in _PLAIN_JSON:  # what nearly every client sends: no parsing
        return None
    if declared is None:
        return "the request has no Content-Type; send the JSON body with Content-Type: application/json"
    media_type, _, parameters = declared.partition(b";")
    if not _JSON_MEDIA_TYPE.match(media_type.strip()):
        shown = declared.decode("latin-1")[:100]
        return f"Content-Type {shown!r} is not accepted; send the JSON body with Content-Type: application/json"
    for parameter in parameters.split(b";"):
        key, _, charset = parameter.partition(b"=")
        if key.strip().lower() == b"charset" and charset.strip().strip(b'"').lower() not in _UTF8_CHARSETS:
            shown = charset.strip().decode("latin-1")[:40]
            return f"charset {shown!r} is not accepted; send the JSON body in UTF-8 (Content-Type: application/json)"
    return None


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body (BodyTooLarge past `limit` bytes); None if the client disconnected first."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as the server would

    return replay


def _too_large(limit: int, request_id: str) -> dict[str, Any]:
    return _error(
        f"the request body is larger than {limit} bytes, the most this service accepts (MAX_BODY_BYTES)",
        request_id,
    )


def _error(detail: str, request_id: str, *, field: str = "body") -> dict[str, Any]:
    return {"detail": detail, "errors": [{"field": field, "plant": None, "message": detail}], "request_id": request_id}


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
