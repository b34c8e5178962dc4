"""The live feed: ``/ws`` pushes every plan answered, ``/monitor`` is the page that draws them.

Each websocket client gets its own bounded mailbox in the broadcaster (see broadcast/hub.py) and one
sender task that drains it; the route itself only watches for the client leaving. So a client
that stops reading fills its own mailbox and loses its own oldest messages; it never slows the
POST route nor another client.

Only pages of this origin, or of one in CORS_ORIGINS, may open ``/ws``: a browser sends
cookies and reaches intranet addresses on behalf of any page, and the same-origin policy does
not cover websockets, so a page elsewhere could otherwise read the feed (cross-site websocket
hijacking). A handshake with another ``Origin`` is refused with a 403 before it is accepted.
Clients that are not browsers send no ``Origin`` and are let through (the API key, when set,
is what guards them).

Dead peers are found in both directions: uvicorn sends protocol pings and drops a client that
does not answer them (``--ws-ping-interval``/``--ws-ping-timeout``), and the route sends a JSON
``heartbeat`` whenever the feed is quiet, because a browser script cannot see protocol pings and
needs *some* traffic to tell a quiet service from a dead one.
"""

from __future__ import annotations

import mimetypes
import re
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import anyio
import structlog
from fastapi import APIRouter, HTTPException, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.websockets import WebSocketDisconnect

from merit_order.api.deps import BroadcasterDep, SettingsDep
from merit_order.broadcast import NoLiveFeed, Subscription, TooManyClients, encode, heartbeat_message, hello_message

log = structlog.get_logger(__name__)

router = APIRouter(tags=["live"])

#: Close code for "server full, try again later" (RFC 6455 registry: 1013 Try Again Later).
CLOSE_TRY_AGAIN_LATER = 1013
#: Close code "policy violation", for a refused Origin where the server cannot answer a 403.
CLOSE_POLICY_VIOLATION = 1008
_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
_ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*\.(js|css|svg|png|ico)$")
_NO_CACHE = {"Cache-Control": "no-cache"}


def _static_dir() -> Any:
    return resources.files("merit_order").joinpath("static")


@router.websocket("/ws")
async def plans_feed(websocket: WebSocket, broadcaster: BroadcasterDep, settings: SettingsDep) -> None:
    """Every plan answered by the service (any replica, with Redis), as JSON text messages.

    First message ``{"type": "hello", "history": n, ...}``; then the ``n`` most recent plans
    (oldest first, so that a page opened late is not blank), then ``{"type": "plan", "request",
    "response", "detail", "at", "source", "cached", "id", ...}`` per plan as they are made, and
    ``{"type": "heartbeat"}`` when the feed is quiet (broadcast/messages.py has every shape).
    Anything the client sends is ignored.
    """
    refused = origin_refusal(
        websocket.headers.get("origin"), websocket.headers.get("host"), list(settings.cors_origin_list())
    )
    if refused is not None:
        log.warning("ws_refused", reason=refused)
        await _deny(websocket, refused)
        return
    await websocket.accept()
    try:
        subscription = broadcaster.subscribe()
    except NoLiveFeed as exc:
        await websocket.close(code=1011, reason=str(exc))
        return
    except TooManyClients as exc:
        log.warning("ws_refused", reason=str(exc))
        await websocket.close(code=CLOSE_TRY_AGAIN_LATER, reason="too many live clients, try again later")
        return
    heartbeat_s = broadcaster.heartbeat_s
    client = f"{websocket.client.host}:{websocket.client.port}" if websocket.client else "?"
    log.info("ws_connected", client=client, subscription=subscription.id)
    try:
        hello = hello_message(
            backend=broadcaster.backend,
            heartbeat_s=heartbeat_s,
            queue_size=subscription.maxsize,
            history=subscription.replayed,
        )
        await websocket.send_text(encode(hello))
        # anyio's task group rather than bare asyncio tasks: it nests in the server's own cancel
        # scopes, so a shutdown (or a test client leaving) cancels both halves cleanly.
        async with anyio.create_task_group() as group:

            async def send_until_gone() -> None:
                await _send_feed(websocket, subscription, heartbeat_s)
                group.cancel_scope.cancel()  # the socket failed: the client is gone

            group.start_soon(send_until_gone)
            await _wait_for_disconnect(websocket)
            group.cancel_scope.cancel()
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client left during the hello
    finally:
        broadcaster.unsubscribe(subscription)
        log.info(
            "ws_disconnected",
            client=client,
            subscription=subscription.id,
            delivered=subscription.delivered,
            dropped=subscription.dropped,
        )


def origin_refusal(origin: str | None, host: str | None, allowed: list[str]) -> str | None:
    """Why a handshake with this `Origin` is refused, or None when it may proceed.

    Allowed: no Origin (a client that is not a browser), an Origin in `allowed` (CORS_ORIGINS,
    `*` for any), and the same origin: the Origin's host and port are the request's `Host`
    (the port defaulted from the Origin's scheme). The scheme itself is not compared, since a
    proxy that terminates TLS makes an https page talk to this server over plain ws.
    """
    if origin is None:
        return None
    origin = origin.strip()
    if "*" in allowed or origin in allowed:
        return None
    parts = urlsplit(origin)
    if host and parts.scheme in _DEFAULT_PORTS and parts.hostname:
        served = urlsplit(f"//{host.strip()}")
        try:  # .port raises on a port that is not a number or out of range
            origin_port = parts.port or _DEFAULT_PORTS[parts.scheme]
            served_port = served.port or _DEFAULT_PORTS[parts.scheme]
        except ValueError:
            origin_port, served_port = -1, -2
        if served.hostname == parts.hostname and served_port == origin_port:
            return None
    return f"origin {origin[:100]!r} may not open /ws (same origin or CORS_ORIGINS only)"


async def _deny(websocket: WebSocket, reason: str) -> None:
    """A 403 to the handshake where the server can send one (uvicorn can), else close with 1008."""
    if "websocket.http.response" in (websocket.scope.get("extensions") or {}):
        body = {"detail": reason, "errors": [{"field": "origin", "plant": None, "message": reason}]}
        await websocket.send_denial_response(JSONResponse(body, status_code=403))
    else:
        await websocket.close(code=CLOSE_POLICY_VIOLATION, reason="origin not allowed")


async def _send_feed(websocket: WebSocket, subscription: Subscription, heartbeat_s: float) -> None:
    """Drain the client's mailbox into the socket; a heartbeat whenever it has been quiet for a while."""
    try:
        while True:
            text = await subscription.next(timeout=heartbeat_s)
            if text is None:
                text = encode(heartbeat_message())
            await websocket.send_text(text)
    except (WebSocketDisconnect, RuntimeError, OSError):
        return  # the client is gone; the route's finally cleans up


async def _wait_for_disconnect(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it disconnects."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
    except (WebSocketDisconnect, RuntimeError, OSError):
        return


@router.get("/monitor", response_class=HTMLResponse, summary="Live monitor page (merit-order chart)")
async def monitor_page() -> HTMLResponse:
    """The page: static HTML + JS + CSS shipped in the package; no build step, no CDN."""
    html = _static_dir().joinpath("monitor.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers=_NO_CACHE)


@router.get("/monitor/example.json", include_in_schema=False)
async def monitor_example() -> Response:
    """The payload the page's form starts with: the challenge's third example, from the package."""
    file = resources.files("merit_order").joinpath("examples", "payload3.json")
    if not file.is_file():
        raise HTTPException(status_code=404, detail="the example payload is not installed")
    return Response(file.read_bytes(), media_type="application/json", headers=_NO_CACHE)


@router.get("/monitor/{asset}", include_in_schema=False)
async def monitor_asset(asset: str) -> Response:
    """The page's script, stylesheet and icons, by name (no paths: nothing outside static/ is served)."""
    if not _ASSET_NAME.match(asset) or asset == "monitor.html":
        raise HTTPException(status_code=404, detail=f"no such monitor file: {asset}")
    file = _static_dir().joinpath(asset)
    if not file.is_file():
        raise HTTPException(status_code=404, detail=f"no such monitor file: {asset}")
    media_type = mimetypes.guess_type(asset)[0] or "application/octet-stream"
    if media_type.startswith("text/") or media_type == "application/javascript":
        media_type += "; charset=utf-8"
    return Response(file.read_bytes(), media_type=media_type, headers=_NO_CACHE)
