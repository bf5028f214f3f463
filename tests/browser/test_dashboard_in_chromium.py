"""/dashboard in a real headless Chromium against a real ``marketsvc serve --sandbox`` process,
offline (the same two locks as the docs test: request interception and a host resolver that
knows only 127.0.0.1).

Every page loads with no console error and no request to another host, the overview's charts
draw on their canvases, the providers table equals /stats, login → clear a cache entry →
logout works, an action without the CSRF header is refused, and the admin token appears in no
page and no log line.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests._services import sandbox_service
from tests.browser.test_docs_in_chromium import assert_stayed_local, browser, open_page

__all__ = ["browser"]  # the module-scoped Chromium fixture, shared with the docs test

ADMIN = "dash-admin-sentinel-7f3a9c1e"
PAGES = ["", "/providers", "/cache", "/scheduler", "/alerts", "/login"]
SHOTS = Path("/tmp/dashboard-shots")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    # Streamed symbols are refilled by ticks within 0.2 s of a clear: keep the cache page's
    # clear-an-entry check about the cache alone.
    env = {
        "LOG_LEVEL": "INFO",
        "ADMIN_TOKEN": ADMIN,
        "MONITOR_INTERVAL": "0.5",
        "MONITOR_SAMPLE_SECONDS": "2",
        "STREAMS_ENABLED": "false",
    }
    with sandbox_service(tmp_path_factory.mktemp("dash"), **env) as (root, proc):
        for symbol in ["BTC", "ETH", "AAPL", "BTC", "BTC", "MSFT", "AAPL"]:
            httpx.get(f"{root}/api/market/price/{symbol}", timeout=20).raise_for_status()
            time.sleep(0.3)  # spread over more than one sample period
        yield root, proc.log
    assert ADMIN not in proc.log.read_text()  # never logged, after everything below ran


def wait_js(page: Page, expression: str, timeout: float = 15.0) -> None:
    """Poll ``expression`` until truthy. (Playwright's wait_for_function evaluates its predicate
    with eval, which the dashboard's Content-Security-Policy forbids, as it should.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(f"() => Boolean({expression})"):
        if time.monotonic() > deadline:
            raise TimeoutError(expression)
        time.sleep(0.05)


def goto(page: Page, url: str) -> None:
    page.goto(url, wait_until="load")
    wait_js(page, "document.getElementById('live-state').textContent === 'connected'")


CANVAS_INK = """ids => ids.map(id => {
    const c = document.querySelector('#' + id + ' canvas');
    if (!c || !c.width || !c.height) return 0;
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let ink = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i] > 0) ink++;
    return ink;
})"""


def test_every_page_loads_offline_and_charts_draw(
    browser: Browser, served: tuple[str, Path]
) -> None:
    root, _ = served
    SHOTS.mkdir(exist_ok=True)
    context, page, watch = open_page(browser, root)
    try:
        for path in PAGES:
            goto(page, f"{root}/dashboard{path}")
            assert ADMIN not in page.content()
            name = path.strip("/") or "overview"
            page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        goto(page, f"{root}/dashboard")
        load_ms = page.evaluate(
            "() => { const n = performance.getEntriesByType('navigation')[0];"
            " return n.loadEventEnd - n.startTime; }"
        )
        charts = ["chart-rps", "chart-latency", "chart-errors", "chart-hits"]
        # The charts hold the sampled requests (a live SSE update may redraw them meanwhile).
        wait_js(
            page,
            "() => document.querySelectorAll('.chart canvas').length === 4"
            " && document.getElementById('charts-empty').hidden",
        )
        ink = page.evaluate(CANVAS_INK, charts)
        assert all(n > 500 for n in ink), dict(zip(charts, ink, strict=True))
        version = int(page.evaluate("document.body.dataset.version"))
        wait_js(page, f"+document.body.dataset.version > {version}")  # live update
        assert_stayed_local(watch)
        assert f"{root}/dashboard/static/uplot/uPlot.iife.min.js" in watch.requests
        print(f"\n/dashboard load time {load_ms:.0f} ms; canvas ink {ink}")
    finally:
        context.close()


def test_narrow_screen_has_no_sideways_scroll(browser: Browser, served: tuple[str, Path]) -> None:
    root, _ = served
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        for path in ["", "/cache", "/alerts"]:
            page.goto(f"{root}/dashboard{path}", wait_until="load")
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, path
        page.goto(f"{root}/dashboard", wait_until="load")
        wait_js(page, "document.querySelectorAll('.chart canvas').length === 4")
        page.screenshot(path=str(SHOTS / "overview-narrow.png"), full_page=True)
    finally:
        context.close()


def test_provider_numbers_match_stats(browser: Browser, served: tuple[str, Path]) -> None:
    root, _ = served
    context, page, _ = open_page(browser, root)
    try:
        page.goto(f"{root}/dashboard/providers", wait_until="load")
        shown = page.eval_on_selector_all(
            "tr[data-provider]",
            """rows => rows.map(r => [r.dataset.provider,
                +r.querySelector('[data-field=calls]').textContent,
                +r.querySelector('[data-field=rate_limited]').textContent,
                [...r.querySelectorAll('.window')].map(w => [w.dataset.window, +w.dataset.used,
                                                            +w.dataset.left])])""",
        )
        planner = httpx.get(f"{root}/api/market/stats", timeout=10).json()["planner"]
        expected = [
            [
                name,
                p["calls"],
                p["rate_limited"],
                [[w["window"], w["used"], w["left"]] for w in p["windows"]],
            ]
            for name, p in planner.items()
        ]
        assert shown == expected
        assert sum(row[1] for row in shown) > 0  # the fixture's requests made upstream calls
        page.goto(f"{root}/dashboard", wait_until="load")
        hour = httpx.get(f"{root}/api/market/stats", timeout=10).json()["requests_last_hour"]
        assert page.text_content("[data-stat=requests_last_hour]") == str(hour)
    finally:
        context.close()


def test_login_clear_logout_and_csrf(browser: Browser, served: tuple[str, Path]) -> None:
    root, _ = served
    context, page, watch = open_page(browser, root)
    try:
        goto(page, f"{root}/dashboard/cache")
        assert page.locator("#clear-form").count() == 0  # read-only without a session
        goto(page, f"{root}/dashboard/login")
        page.fill("input[name=token]", "wrong-token")
        page.click("#login-form button")
        wait_js(page, "document.getElementById('login-result').textContent !== ''")
        assert "wrong" in page.text_content("#login-result")
        page.fill("input[name=token]", ADMIN)
        page.click("#login-form button")
        page.wait_for_url(f"{root}/dashboard")
        (cookie,) = context.cookies()
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert ADMIN not in cookie["value"]

        goto(page, f"{root}/dashboard/cache")
        assert "crypto:BTC" in page.text_content("#top-symbols")
        before = httpx.get(f"{root}/api/market/cache/stats", timeout=10).json()
        page.fill("#clear-form input[name=symbol]", "BTC")
        page.click("#clear-form button")
        wait_js(page, "document.getElementById('clear-result').textContent !== ''")
        assert page.text_content("#clear-result").startswith("cleared:")
        after = httpx.get(f"{root}/api/market/cache/stats", timeout=10).json()
        assert after["invalidations"] > before["invalidations"]
        assert after["tiers"]["l1"]["size"] < before["tiers"]["l1"]["size"]

        # The same action without the CSRF header, with the session cookie: refused.
        status = page.evaluate(
            """() => fetch('/dashboard/cache/clear', {method: 'POST', credentials: 'same-origin',
                 headers: {'Content-Type': 'application/json'}, body: '{"symbol": "ETH"}'})
               .then(r => r.status)"""
        )
        assert status == 403
        assert ADMIN not in page.content()

        page.click("#logout")
        page.wait_for_url(f"{root}/dashboard")
        assert context.cookies() == []
        assert page.locator("a[href='/dashboard/login']").count() == 1
        # The only console errors are the two refusals this test provoked on purpose.
        assert [e.rsplit("status of ", 1)[-1] for e in watch.errors] == [
            "401 (Unauthorized)",
            "403 (Forbidden)",
        ]
        assert watch.blocked == [] and all(watch.local(u) for u in watch.requests)
    finally:
        context.close()
    # Without a session (a plain client) the action is refused too.
    r = httpx.post(f"{root}/dashboard/cache/clear", json={"symbol": "BTC"}, timeout=10)
    assert r.status_code == 401
