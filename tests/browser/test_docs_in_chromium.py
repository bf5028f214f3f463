"""/docs and /redoc in a real headless Chromium against a real ``marketsvc serve`` process.

Each page must render every operation of /openapi.json, log no console error, and make no
request to any host but the service's 127.0.0.1 port. Two independent locks keep the test
honest offline and online alike: every request is routed through a handler that records and
aborts anything else, and Chromium resolves no host name but 127.0.0.1.

Debian's ``chromium`` is driven by playwright (``executable_path``), never a browser that
playwright downloads. It is REQUIRED: a missing binary fails the test, it never skips.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright

from tests._services import sandbox_service

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = Path("/tmp/docs.png")


@dataclass
class Watch:
    """What one page did: every request URL, the ones blocked, console errors."""

    root: str
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def local(self, url: str) -> bool:
        # blob: is ReDoc's in-page web worker; data: never leaves the page.
        return url.startswith((f"{self.root}/", "blob:", "data:"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with sandbox_service(tmp_path_factory.mktemp("browser")) as (root, _):
        yield root


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    binary = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if binary is None:
        pytest.fail(
            "Chromium is required for the docs browser test and is not installed: run "
            "`apt-get update && apt-get install -y --no-install-recommends chromium` "
            "(.ci/run does this)"
        )
    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=binary,
            headless=True,
            # Name resolution for every host but loopback fails inside the browser itself.
            args=["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"],
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def spec(served: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{served}/openapi.json", timeout=10).json()
    return data


def operations(spec: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    """operationId → (METHOD, path, summary) for every operation of the document."""
    ops: dict[str, tuple[str, str, str]] = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            ops[op["operationId"]] = (method.upper(), path, op.get("summary", ""))
    return ops


def open_page(browser: Browser, root: str) -> tuple[BrowserContext, Page, Watch]:
    watch = Watch(root)
    context = browser.new_context(viewport={"width": 1280, "height": 900})

    def guard(route: Route) -> None:
        if watch.local(route.request.url):
            route.continue_()
        else:
            watch.blocked.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    context.on("request", lambda request: watch.requests.append(request.url))
    page = context.new_page()
    page.on("console", lambda msg: watch.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: watch.errors.append(f"page error: {exc}"))
    return context, page, watch


def assert_stayed_local(watch: Watch) -> None:
    assert watch.blocked == []
    assert [url for url in watch.requests if not watch.local(url)] == []
    assert watch.errors == []


def test_swagger_ui_renders_every_operation_offline(
    browser: Browser, served: str, spec: dict[str, Any]
) -> None:
    context, page, watch = open_page(browser, served)
    try:
        page.goto(f"{served}/docs", wait_until="networkidle")
        ops = operations(spec)
        page.wait_for_function(
            "n => document.querySelectorAll('.opblock').length >= n", arg=len(ops)
        )
        # Swagger gives each block the id operations-<tag>-<operationId>, and shows its
        # method and path.
        shown = page.eval_on_selector_all(
            ".opblock",
            """els => els.map(e => [
                e.id,
                e.querySelector('.opblock-summary-method').textContent.trim(),
                e.querySelector('.opblock-summary-path').getAttribute('data-path'),
            ])""",
        )
        assert {(m, p) for _, m, p in shown} == {(m, p) for m, p, _ in ops.values()}
        for op_id in ops:
            assert any(block_id.endswith(f"-{op_id}") for block_id, _, _ in shown), op_id

        authorize = page.locator("button.authorize")
        assert authorize.count() == 1 and authorize.is_visible()
        # The button's dialog offers the admin bearer scheme declared in openapi.json.
        authorize.click()
        dialog = page.locator(".dialog-ux .modal-ux")
        dialog.wait_for(state="visible")
        assert "adminBearer" in dialog.inner_text()
        assert page.locator(".dialog-ux input").count() >= 1  # where the token goes
        page.locator(".dialog-ux button.close-modal").click()
        # Admin operations carry the lock icon of a secured operation; others do not.
        locked = page.eval_on_selector_all(
            ".opblock:has(.authorization__btn)",
            "els => els.map(e => e.querySelector('.opblock-summary-path').dataset.path)",
        )
        admin_paths = {
            path
            for path, item in spec["paths"].items()
            for op in item.values()
            if op.get("security")
        }
        assert set(locked) == admin_paths and admin_paths

        page.screenshot(path=str(SCREENSHOT), full_page=True)
        assert_stayed_local(watch)
        assert f"{served}/static/swagger-ui/swagger-ui-bundle.js" in watch.requests
    finally:
        context.close()


def test_redoc_renders_every_operation_offline(
    browser: Browser, served: str, spec: dict[str, Any]
) -> None:
    context, page, watch = open_page(browser, served)
    try:
        page.goto(f"{served}/redoc", wait_until="networkidle")
        ops = operations(spec)
        # ReDoc gives each operation a section "tag/<tag>/operation/<operationId>" (or
        # "operation/<operationId>" when untagged) headed by an h2 with the summary.
        selector = "[data-section-id^='tag/'][data-section-id*='/operation/'], " + (
            "[data-section-id^='operation/']"
        )
        page.wait_for_function(
            "([sel, n]) => document.querySelectorAll(sel).length >= n", arg=[selector, len(ops)]
        )
        sections = page.eval_on_selector_all(
            selector,
            """els => els.map(e => [
                e.getAttribute('data-section-id'),
                (e.querySelector('h2') || {textContent: ''}).textContent.trim(),
            ])""",
        )
        shown_ids = {section.rsplit("operation/", 1)[1] for section, _ in sections}
        assert shown_ids == set(ops)
        headings = {heading for _, heading in sections}
        assert {summary for _, _, summary in ops.values()} <= headings
        assert_stayed_local(watch)
        assert f"{served}/static/redoc/redoc.standalone.js" in watch.requests
    finally:
        context.close()
