"""ProviderHttp's last check before a request leaves: no ``.``/``..``/empty segment, no query
or fragment smuggled into a relative path, never outside the base URL's path prefix; and
``path_segment``, the one encoder every adapter uses for values in a path."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from marketsvc.errors import UnsafeRequestError
from marketsvc.providers._http import (
    ProviderHttp,
    _escapes_base,
    path_segment,
    unsafe_path_reason,
)

BASE = "https://api.example.test/api/v3"


@pytest.mark.parametrize(
    ("value", "segment"),
    [
        ("BRK.B", "BRK.B"),
        ("X:BTCUSD", "X:BTCUSD"),
        ("brk-b", "brk-b"),
        ("EURUSD=X", "EURUSD%3DX"),
        ("^GSPC", "%5EGSPC"),
        ("A/B", "A%2FB"),
        ("x?y#z%", "x%3Fy%23z%25"),
        ("\u0391APL", "%CE%91APL"),
        ("..", ".."),  # stays a dot segment on purpose: ProviderHttp refuses it
    ],
)
def test_path_segment_encodes_everything_that_could_leave_the_segment(
    value: str, segment: str
) -> None:
    assert path_segment(value) == segment


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("v8/finance/chart/..", "a '.' or '..' path segment"),
        ("v8/finance/chart/.", "a '.' or '..' path segment"),
        ("chart/%2e%2e/x", "a '.' or '..' path segment"),
        ("chart/%2E", "a '.' or '..' path segment"),
        ("chart/AAPL%2F..%2F..%2FX", "a '.' or '..' path segment"),
        ("chart/A%5C..%5CB", "a '.' or '..' path segment"),
        ("chart/%EF%BC%8E%EF%BC%8E", "a '.' or '..' path segment"),
        ("../../admin", "a '.' or '..' path segment"),
        ("coins//market_chart", "an empty path segment"),
        ("chart/X?y=1", "a query inside the path"),
        ("chart/X#frag", "a fragment"),
        ("X:BTCUSD/prev", "a scheme-like first segment"),
        ("https://api.example.test/api/v3/a/../b?cursor=1", "a '.' or '..' path segment"),
    ],
)
def test_unsafe_paths_are_named(path: str, reason: str) -> None:
    assert unsafe_path_reason(path) == reason


@pytest.mark.parametrize(
    "path",
    [
        "v8/finance/chart/BRK-B",
        "coins/bitcoin/market_chart/range",
        "v2/aggs/ticker/X:BTCUSD/prev",
        "chart/A%2FB%2FC",
        "chart/...",  # three dots are a name, not a dot segment
        "chart/%252e%252e",  # "%2e%2e" as text: one decode gives no dot segment
        "https://api.example.test/api/v3/aggs?cursor=abc",
        "v1/list/",  # a trailing slash is not an empty inner segment
    ],
)
def test_ordinary_paths_pass(path: str) -> None:
    assert unsafe_path_reason(path) is None


@pytest.fixture
async def http() -> AsyncIterator[tuple[ProviderHttp, respx.MockRouter]]:
    with respx.mock(assert_all_called=False) as mock:
        mock.route().mock(return_value=httpx.Response(200, json={}))
        async with httpx.AsyncClient(base_url=BASE + "/") as client:
            yield ProviderHttp("example", client), mock


@pytest.mark.parametrize(
    "path",
    [
        "coins/..",
        "coins/../../../etc",
        "coins/%2e%2e/x",
        "coins/a%2F..%2F..%2Fb",
        "coins//x",
        "coins/x?apikey=stolen",
        "https://api.example.test/api/v3/coins/../../x",
        "coins/a\x00b",  # httpx.InvalidURL, not an HTTPError: refused, not a 500
    ],
)
async def test_refused_requests_are_never_sent(
    http: tuple[ProviderHttp, respx.MockRouter], path: str
) -> None:
    client, mock = http
    with pytest.raises(UnsafeRequestError) as caught:
        await client.get(path, {"apikey": "k-secret"})
    assert caught.value.provider == "example" and caught.value.kind == "unsafe_request"
    assert "k-secret" not in str(caught.value) and "/" not in caught.value.message
    assert mock.calls.call_count == 0


@pytest.mark.parametrize(
    ("url", "escapes"),
    [
        (BASE + "/coins/bitcoin", False),
        (BASE + "/", False),
        (BASE, False),
        ("https://api.example.test/api/v2/coins", True),
        ("https://api.example.test/api/v3x/coins", True),
        ("https://other.example.test/api/v3/coins", True),
        ("http://api.example.test/api/v3/coins", True),
        ("https://api.example.test:8443/api/v3/coins", True),
    ],
)
def test_the_final_url_must_stay_under_the_base(url: str, escapes: bool) -> None:
    assert _escapes_base(httpx.URL(BASE + "/"), httpx.URL(url)) is escapes


async def test_safe_requests_go_out_unchanged(
    http: tuple[ProviderHttp, respx.MockRouter],
) -> None:
    client, mock = http
    await client.get("coins/A%2FB%2FC", {"x": "1"})
    await client.get("https://api.example.test/api/v3/aggs?cursor=abc")
    sent = [c.request.url for c in mock.calls]
    assert [u.raw_path for u in sent] == [
        b"/api/v3/coins/A%2FB%2FC?x=1",
        b"/api/v3/aggs?cursor=abc",
    ]
