"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) served from files shipped in the package.

FastAPI's built-in pages load their JS/CSS from a CDN and render blank offline; these use
FastAPI's own HTML helpers pointed at the vendored copies under ``static/`` (versions and
licences in ``static/README.md``). Nothing on either page asks another host for anything:
no CDN, no favicon from fastapi.tiangolo.com, no Google fonts, no online validator badge.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
SWAGGER_ASSETS = "/static/swagger-ui"
REDOC_ASSETS = "/static/redoc"

# Swagger UI shows a badge image fetched from validator.swagger.io for any spec not served
# from localhost; None switches the online validator off.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}


def install_docs(app: FastAPI, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Mount the assets and add the two pages plus Swagger's OAuth2 redirect page.

    ``app`` must be built with ``docs_url=None, redoc_url=None`` so these are the only ones.
    """
    # Two narrow mounts (not the whole static/ folder): only the vendored files are served.
    app.mount(SWAGGER_ASSETS, StaticFiles(directory=STATIC_DIR / "swagger-ui"), name="swagger-ui")
    app.mount(REDOC_ASSETS, StaticFiles(directory=STATIC_DIR / "redoc"), name="redoc")
    favicon = f"{SWAGGER_ASSETS}/favicon-32x32.png"
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
            swagger_favicon_url=favicon,
            oauth2_redirect_url=oauth2_redirect_url,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters={**SWAGGER_UI_PARAMETERS, **(app.swagger_ui_parameters or {})},
        )

    if oauth2_redirect_url:

        @app.get(oauth2_redirect_url, include_in_schema=False)
        async def swagger_ui_redirect() -> HTMLResponse:
            return get_swagger_ui_oauth2_redirect_html()

    @app.get(redoc_url, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{REDOC_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=favicon,
            with_google_fonts=False,
        )
