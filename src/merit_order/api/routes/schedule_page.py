"""``/monitor/schedules``: the page that draws day-ahead schedules (unit commitment jobs).

The page is static HTML and native ES modules shipped in the package (``static/schedules.html``
and ``static/schedules/``); no build step, no CDN. It reads the data itself: ``GET /schedules``
and ``GET /schedules/{id}`` (with ``X-API-Key`` when a key is set), ``DELETE /schedules/{id}``
for its Cancel button, and the ``schedule`` messages of ``/ws`` while a schedule runs.

Every URL the page uses is relative (``schedules/page.js``, ``../schedules/{id}``, ``../ws``), so
it works behind a proxy that mounts the service under a prefix.

Include this router *before* ``live.router``: live's ``/monitor/{asset}`` would otherwise answer
``/monitor/schedules`` with a 404. The page and its files hold no data, so they are open without
the API key: add `SCHEDULE_PAGE_PATHS` to the open paths (see api/security.py).
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

router = APIRouter(tags=["live"])

#: Plain file names only: no slash, no leading dot, so nothing outside static/schedules/ is served.
_ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(js|css|svg)$")
_MEDIA_TYPES = {
    "js": "text/javascript; charset=utf-8",  # the type the HTML standard asks for module scripts
    "css": "text/css; charset=utf-8",
    "svg": "image/svg+xml",
}
_NO_CACHE = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def _static_dir() -> Any:
    return resources.files("merit_order").joinpath("static")


def _asset_dir() -> Any:
    return _static_dir().joinpath("schedules")


def _asset_names() -> list[str]:
    folder = _asset_dir()
    if not folder.is_dir():
        return []
    return sorted(entry.name for entry in folder.iterdir() if entry.is_file() and _ASSET_NAME.match(entry.name))


#: The page and its files, open without the API key (they carry no data; the page asks for the key).
SCHEDULE_PAGE_PATHS = frozenset({"/monitor/schedules", *(f"/monitor/schedules/{name}" for name in _asset_names())})


@router.get("/monitor/schedules", response_class=HTMLResponse, summary="Schedule monitor page (unit commitment)")
async def schedules_page() -> HTMLResponse:
    """The page: output by unit, on/off by unit, marginal price, and the solve converging while it runs.

    `?id=` selects a schedule; without it the page shows the newest one and follows new ones.
    """
    html = _static_dir().joinpath("schedules.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers=_NO_CACHE)


@router.get("/monitor/schedules/{asset}", include_in_schema=False)
async def schedules_asset(asset: str) -> Response:
    """The page's modules and stylesheet, by plain name (no paths: nothing outside static/schedules/)."""
    match = _ASSET_NAME.match(asset)
    file = _asset_dir().joinpath(asset) if match else None
    if match is None or file is None or not file.is_file():
        raise HTTPException(status_code=404, detail=f"no such schedule monitor file: {asset[:100]}")
    return Response(file.read_bytes(), media_type=_MEDIA_TYPES[match.group(1)], headers=_NO_CACHE)
