"""Access control (API_KEY) and CORS (CORS_ORIGINS): both closed or off unless configured.

* **API key.** Unset (the default): no access control, as the challenge expects. Set:
  every HTTP route needs the header `X-API-Key: <key>`, and the websocket `/ws` needs
  `?api_key=<key>` (a browser cannot set headers on a websocket). Exempt: `/_healthcheck`
  (orchestrators probe it without secrets), the /monitor page's static files (it asks for the
  key itself), `/metrics` unless METRICS_REQUIRE_KEY=true, and the documentation (/docs,
  /openapi.json) when DOCS_REQUIRE_KEY=false. The schema then declares the key as an apiKey
  security scheme, so that /docs's Authorize button sends it on every call tried from there.
  A missing or wrong key is a 401 with `{"detail": "unauthorized"}` and nothing else: no
  hint whether the key was missing or wrong. The comparison is constant-time
  (hmac.compare_digest), so that response timing does not leak the key byte by byte.
  The check runs before the body is read: a request without the key costs no parsing.
* **CORS.** Off by default: browsers on other origins cannot read the answers. CORS_ORIGINS
  (comma list, or `*`) opens it to those origins, for GET/POST with the headers the API
  uses; preflight requests are answered by the CORS layer before the key check (browsers
  never send credentials on a preflight), and 401s still carry the CORS headers so that a
  page can tell "unauthorized" from "network error".
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from merit_order.api.docs import ASSET_PATHS as DOCS_ASSET_PATHS
from merit_order.api.routes.schedule_page import SCHEDULE_PAGE_PATHS

API_KEY_HEADER = b"x-api-key"
API_KEY_QUERY = "api_key"
ALWAYS_OPEN = frozenset({"/_healthcheck"})
_UNAUTHORIZED = json.dumps({"detail": "unauthorized"}).encode()
# RFC 6455 close code 1008 "policy violation": for servers without the websocket denial response.
_WS_POLICY_VIOLATION = 1008


class APIKeyMiddleware:
    """Refuses any request without the right key, except the open paths. See the module docstring."""

    def __init__(self, app: ASGIApp, *, api_key: str, open_paths: Iterable[str] = ALWAYS_OPEN) -> None:
        if not api_key:
            raise ValueError("APIKeyMiddleware needs a non-empty key (leave it out to turn access control off)")
        self.app = app
        self._key = api_key.encode("utf-8")
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or scope.get("path") in self.open_paths:
            await self.app(scope, receive, send)
            return
        if kind == "http":
            presented = _header(scope, API_KEY_HEADER)
        else:
            presented = _query_param(scope, API_KEY_QUERY)
        if presented is not None and hmac.compare_digest(presented, self._key):
            await self.app(scope, receive, send)
            return
        if kind == "http":
            await _send_401(send)
        else:
            await _deny_websocket(scope, send)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def _query_param(scope: Scope, name: str) -> bytes | None:
    query = scope.get("query_string", b"").decode("latin-1")
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == name:
            return value.encode("utf-8")
    return None


async def _send_401(send: Send, *, prefix: str = "http") -> None:
    await send(
        {
            "type": f"{prefix}.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_UNAUTHORIZED)).encode()),
                (b"www-authenticate", b'APIKey header="X-API-Key"'),
            ],
        }
    )
    await send({"type": f"{prefix}.response.body", "body": _UNAUTHORIZED})


async def _deny_websocket(scope: Scope, send: Send) -> None:
    """A 401 to the handshake where the server supports it (uvicorn does), else close 1008."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await _send_401(send, prefix="websocket.http")
    else:
        await send({"type": "websocket.close", "code": _WS_POLICY_VIOLATION, "reason": "unauthorized"})


#: The monitor page and its static files: no data in them (the plans come over /ws, which needs
#: the key), and a browser cannot send a header when it opens a page. See api/routes/live.py.
MONITOR_PAGE_PATHS = frozenset(
    {"/monitor", "/monitor/monitor.js", "/monitor/monitor.css", "/monitor/favicon.svg", "/monitor/example.json"}
    # the page's ES modules (static/monitor-*.js), imported by monitor.js
    | {f"/monitor/monitor-{name}.js" for name in ("feed", "chart", "form", "format")}
)


#: The interactive documentation: the pages, their assets (served from the package, see
#: api/docs.py), the OAuth2 redirect helper, and the schema they load.
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}) | DOCS_ASSET_PATHS

#: The OpenAPI security scheme of the key (declared when API_KEY is set; see api/openapi.py).
SECURITY_SCHEME = {"APIKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}


def open_paths(settings: Any) -> frozenset[str]:
    """The paths that never need the key under these settings."""
    paths = set(ALWAYS_OPEN) | MONITOR_PAGE_PATHS | SCHEDULE_PAGE_PATHS  # the pages ask for the key themselves
    if not settings.metrics_require_key:
        paths.add("/metrics")
    if not settings.docs_require_key:
        paths |= DOCS_PATHS
    return frozenset(paths)


def install_access_control(app: Any, settings: Any) -> None:
    """Add the API-key check (when API_KEY is set), then CORS (when CORS_ORIGINS is set) outside it.

    Call after the app's own middleware and before `install_metrics` (Starlette puts the
    last middleware added outermost: metrics > CORS > key > the app's own).
    """
    if settings.api_key is not None:
        app.add_middleware(APIKeyMiddleware, api_key=settings.api_key.get_secret_value(), open_paths=open_paths(settings))
    origins = settings.cors_origin_list()
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "X-Cache", "Location", "Retry-After"],
            allow_credentials=False,  # the key travels in a header, not a cookie
            max_age=600,
        )
