"""/docs and /redoc in-process: only local asset URLs, each one served with the right type,
and the admin bearer scheme declared in OpenAPI (what Swagger's Authorize button is built from).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from marketsvc.api.docs_ui import STATIC_DIR
from tests.api.conftest import make_settings, running_app

URL_ATTRS = {"src", "href", "spec-url"}
EXPECTED_TYPE = {
    ".js": "javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".json": "application/json",
}


class _UrlCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in URL_ATTRS and value]


def referenced_urls(html: str) -> list[str]:
    """Every URL the page loads: tag attributes plus Swagger's ``url: '...'`` spec option."""
    collector = _UrlCollector()
    collector.feed(html)
    return collector.urls + re.findall(r"\burl:\s*'([^']+)'", html)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(tmp_path, admin_token="docs-admin-token")
    async with running_app(settings) as (_, c):
        yield c


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (
            "/docs",
            {
                "/static/swagger-ui/swagger-ui-bundle.js",
                "/static/swagger-ui/swagger-ui.css",
                "/static/swagger-ui/favicon-32x32.png",
                "/openapi.json",
            },
        ),
        (
            "/redoc",
            {
                "/static/redoc/redoc.standalone.js",
                "/static/swagger-ui/favicon-32x32.png",
                "/openapi.json",
            },
        ),
    ],
)
async def test_page_loads_only_local_assets(
    client: httpx.AsyncClient, page: str, expected: set[str]
) -> None:
    resp = await client.get(page)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    html = resp.text
    # No absolute URL at all: not a CDN, not Google fonts, not FastAPI's favicon.
    assert re.findall(r"(?:https?:)?//[\w.-]+", html) == []
    urls = set(referenced_urls(html))
    assert urls == expected
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        want = EXPECTED_TYPE[Path(url).suffix]
        assert want in asset.headers["content-type"], (url, asset.headers["content-type"])
        assert len(asset.content) > 100, url


async def test_swagger_page_turns_off_the_online_validator(client: httpx.AsyncClient) -> None:
    # Otherwise Swagger UI fetches a badge from validator.swagger.io on any non-localhost host.
    assert '"validatorUrl": null' in (await client.get("/docs")).text


async def test_oauth2_redirect_page_still_served(client: httpx.AsyncClient) -> None:
    resp = await client.get("/docs/oauth2-redirect")
    assert resp.status_code == 200
    assert "oauth2" in resp.text.lower()
    assert (
        "oauth2RedirectUrl: window.location.origin + '/docs/oauth2-redirect'"
        in (await client.get("/docs")).text
    )


async def test_only_vendored_folders_are_served(client: httpx.AsyncClient) -> None:
    # The mounts are the two asset folders, not static/ itself (its script and notes stay out).
    assert (await client.get("/static/vendor.sh")).status_code == 404
    assert (await client.get("/static/swagger-ui/LICENSE")).status_code == 200


def test_vendored_files_carry_their_licences() -> None:
    for folder, licence in (("swagger-ui", "Apache License"), ("redoc", "MIT License")):
        assert licence in (STATIC_DIR / folder / "LICENSE").read_text()
    assert "cdn.redoc.ly" not in (STATIC_DIR / "redoc" / "redoc.standalone.js").read_text()


async def test_openapi_declares_the_admin_bearer_scheme(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes == {
        "adminBearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "the service's ADMIN_TOKEN",
        }
    }
    secured = {
        (method, path)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if op.get("security") == [{"adminBearer": []}]
    }
    admin_ops = {
        (method, path)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if "admin" in op.get("tags", [])
    }
    assert admin_ops >= {("post", "/api/market/cache/clear"), ("post", "/api/market/prefetch")}
    assert secured == admin_ops


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong-token"}, 401),
        ({"Authorization": "Basic docs-admin-token"}, 401),
        ({"Authorization": "bearer docs-admin-token"}, 200),
    ],
)
async def test_admin_guard_statuses(
    client: httpx.AsyncClient, headers: dict[str, str], status: int
) -> None:
    resp = await client.post("/api/market/cache/clear", json={}, headers=headers)
    assert resp.status_code == status, resp.text
    if status == 401:
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.headers["www-authenticate"] == "Bearer"


async def test_admin_disabled_is_403_even_with_a_bearer(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path)) as (_, c):
        resp = await c.post(
            "/api/market/cache/clear", json={}, headers={"Authorization": "Bearer anything"}
        )
    assert resp.status_code == 403
    assert resp.headers["content-type"].startswith("application/problem+json")
