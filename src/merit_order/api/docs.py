"""/docs (Swagger UI) and /redoc served from the package, so that they work without internet.

Why. FastAPI's own pages load Swagger UI and ReDoc from a CDN: on a machine offline (or behind
a proxy that blocks CDNs), /docs -- the first page the README sends a user to -- is blank. The
assets come from `fastapi-offline`, a maintained package whose wheel ships the Swagger UI 5 and
ReDoc 2 bundles (Swagger UI 5 reads the OpenAPI 3.1 that FastAPI writes; the older bundles of
`swagger-ui-bundle` do not). We use its files only, not its app factory: `create_app` keeps
building the app. The pages are FastAPI's own (`get_swagger_ui_html`, `get_redoc_html`)
pointed at those files, with nothing left that reaches out: no Google Fonts for ReDoc, no
favicon from a CDN, and Swagger UI's online validator badge off (`validatorUrl: null`).
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs/assets"

#: The files the two pages load (all in fastapi_offline/static/): the API-key check lets exactly
#: these through with the pages when DOCS_REQUIRE_KEY=false (api/security.py).
ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
ASSET_PATHS = frozenset(f"{ASSETS_URL}/{name}" for name in ASSET_FILES)

#: FastAPI's defaults, plus no call to the online validator (it would leave the machine).
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}


def assets_directory() -> str:
    """Where the installed fastapi-offline keeps the Swagger UI and ReDoc bundles."""
    return str(resources.files("fastapi_offline").joinpath("static"))


def install_docs(app: FastAPI) -> None:
    """Add /docs, its OAuth2 redirect helper, /redoc and their assets to an app built with
    `docs_url=None, redoc_url=None` (FastAPI's CDN pages off)."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_directory()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_URL}",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
