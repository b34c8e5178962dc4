"""uvicorn's HTTP protocol with a bound on what a request's head may make it buffer.

uvicorn's httptools protocol appends the URL and every header to lists as they arrive and
has no limit of its own on either (h11's `h11_max_incomplete_event_size` exists, but uvicorn
answers it with a bare 400, and h11 is several times slower). A client could send headers
for ever and the server would keep them all in memory; the ASGI app never sees the request
until the head is complete, so no middleware can stop it. `merit-order serve` therefore runs
this subclass, which answers 431 (Request Header Fields Too Large, RFC 6585) and closes the
connection as soon as:

* the request has more than MAX_HEADER_COUNT header lines, or
* its request line and headers pass MAX_HEADER_BYTES, counted as they are parsed and, for
  a head still incomplete, on the raw bytes received after the read in which it began (the
  parser buffers a header line until its end, unseen), so memory stays within the limit plus
  one read. The read in which a request begins is not counted raw: with pipelining it may
  also hold the end of the previous request's body.

The middleware (api/middleware.py) makes the same check on the finished head, so that the
answer is the same under any other server; this class is what keeps the memory bounded.
"""

from __future__ import annotations

import json
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from merit_order.settings import get_settings

#: Bytes a header line costs beyond its name and value (": " and CRLF); the middleware counts alike.
HEADER_LINE_OVERHEAD = 4


class HeadersTooLarge(Exception):
    """The request's head passed MAX_HEADER_COUNT or MAX_HEADER_BYTES; the message says which."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that refuses, with a 431, a request head over the configured limits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()  # the environment's, as in every worker process uvicorn starts
        self.max_header_count = settings.max_header_count
        self.max_header_bytes = settings.max_header_bytes
        self._head_open = False  # between the first byte of a request and the end of its headers
        self._head_size = 0  # request target and completed header lines, as parsed
        self._head_raw = 0  # raw bytes received while the head was still open
        self._began_in_read = False  # a request began during the current data_received

    # httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_open = True
        self._head_size = 0
        self._head_raw = 0
        self._began_in_read = True

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        self._check_size()
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + HEADER_LINE_OVERHEAD
        self._check_size()
        if len(self.headers) >= self.max_header_count:
            raise HeadersTooLarge(
                f"the request has more than {self.max_header_count} headers, the most this service "
                "accepts (MAX_HEADER_COUNT)"
            )
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_open = False
        super().on_headers_complete()

    # transport ---------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        self._began_in_read = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            cause = error.__context__ or error.__cause__
            if isinstance(cause, HeadersTooLarge):
                self._send_431(str(cause))
                return
            self._bad_request()
            return
        except httptools.HttpParserError:
            self._bad_request()
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._head_open:  # a header line still arriving: the parser holds it, count it raw
            if self._began_in_read:  # this read may hold the previous request's body too
                self._head_raw = self._head_size
            else:
                self._head_raw += len(data)
            if self._head_raw > self.max_header_bytes:
                self._send_431(self._bytes_message())

    def _check_size(self) -> None:
        if self._head_size > self.max_header_bytes:
            raise HeadersTooLarge(self._bytes_message())

    def _bytes_message(self) -> str:
        return (
            f"the request line and headers are larger than {self.max_header_bytes} bytes, the most this "
            "service accepts (MAX_HEADER_BYTES)"
        )

    def _bad_request(self) -> None:
        message = "Invalid HTTP request received."
        self.logger.warning(message)
        self.send_400_response(message)

    def _send_431(self, detail: str) -> None:
        """The error shape of every answer of the service (no request id: no request was made)."""
        self.logger.warning("request refused: %s", detail)
        body = json.dumps(
            {"detail": detail, "errors": [{"field": "headers", "plant": None, "message": detail}], "request_id": None}
        ).encode()
        head = (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n"
        )
        self._head_open = False
        self.transport.write(head + body)
        self.transport.close()
