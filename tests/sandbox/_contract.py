"""The provider contract suite's shared parts: which adapters offer what (read from their
ProviderInfo), how each emulated vendor answers where vendors may differ, and the checks of a
quote against the emulator's synthetic price."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from marketsvc.domain import AssetClass, Capability, Quote
from marketsvc.providers.base import Provider, ProviderInfo
from marketsvc.providers.newsapi import DEFAULT_RETRY_AFTER
from marketsvc.providers.registry import ADAPTER_CLASSES
from marketsvc.sandbox import SandboxState, _synth
from tests._sandbox import SANDBOX_KEY, adapter_on_sandbox, previous_session

STOCK, CRYPTO = AssetClass.STOCK, AssetClass.CRYPTO
KNOWN = {STOCK: ("AAPL", "BRK.B"), CRYPTO: ("BTC", "ETH")}
UNKNOWN = {STOCK: "ZZZZ", CRYPTO: "NOPECOIN"}


@dataclass(frozen=True)
class Vendor:
    """How one emulated vendor answers where vendors may differ."""

    # The HTTP status of the vendor's own over-the-limit answer, and the retry_after range the
    # adapter makes of it (several vendors send no Retry-After: the adapter's documented wait).
    throttle_status: int = 429
    retry_after: tuple[float, float] = (1.0, 60.0)
    # Quotes are the last session's daily bar (Massive's free tier), not the live price.
    session_quotes: bool = False
    # The quote's change and previous close span a rolling 24 hours, not the UTC day.
    rolling_24h: bool = False
    # Asset classes whose quote is stamped with the adapter's clock, not the priced moment.
    clock_stamped: frozenset[AssetClass] = frozenset()
    # A missing key is refused before any call is spent.
    local_key_check: bool = False
    # The emulator tells a wrong key from a right one.
    checks_key_value: bool = False
    # Asset classes where history of an unknown symbol is an empty answer, not a miss.
    empty_unknown_history: frozenset[AssetClass] = frozenset()
    # Candles are built from price points (open at the first, close at the next bar's first),
    # so only their times, opens and volumes are the synthetic bar's.
    bars_from_points: bool = False
    key: str | None = SANDBOX_KEY


VENDOR: dict[str, Vendor] = {
    "alphavantage": Vendor(
        throttle_status=200, retry_after=(60, 60), clock_stamped=frozenset({STOCK}),
        local_key_check=True,
    ),
    "binance": Vendor(rolling_24h=True),
    "coingecko": Vendor(checks_key_value=True, bars_from_points=True),
    "coinmarketcap": Vendor(checks_key_value=True),
    "finnhub": Vendor(
        retry_after=(1, 61), checks_key_value=True, empty_unknown_history=frozenset({STOCK})
    ),
    "newsapi": Vendor(
        retry_after=(DEFAULT_RETRY_AFTER, DEFAULT_RETRY_AFTER), checks_key_value=True
    ),
    "polygon": Vendor(
        retry_after=(60, 60), session_quotes=True, local_key_check=True,
        empty_unknown_history=frozenset({STOCK}),
    ),
    "tiingo": Vendor(throttle_status=200, retry_after=(1, 3600), local_key_check=True),
    "yahoo": Vendor(retry_after=(60, 60), key=None),
}  # fmt: skip
NAMES = sorted(ADAPTER_CLASSES)


def declared(name: str) -> ProviderInfo:
    info = ADAPTER_CLASSES[name].info  # type: ignore[attr-defined]  # the table holds classes
    assert isinstance(info, ProviderInfo)
    return info


def offering(capability: Capability) -> list[str]:
    return [n for n in NAMES if capability in declared(n).capabilities]


def by_class(capability: Capability) -> list[tuple[str, AssetClass]]:
    return [(n, ac) for n in offering(capability) for ac in sorted(declared(n).asset_classes)]


def main_class(info: ProviderInfo) -> AssetClass:
    return STOCK if STOCK in info.asset_classes else CRYPTO


def roomy(name: str) -> dict[str, str]:
    return {name: "1000/minute"}  # the free tiers' limits would end multi-call tests early


def on_sandbox(name: str) -> AbstractAsyncContextManager[tuple[Provider, SandboxState]]:
    """The adapter with its everyday key and room for many calls."""
    return adapter_on_sandbox(name, key=VENDOR[name].key, limits=roomy(name))


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def main_call(provider: Provider) -> Callable[[], Awaitable[object]]:
    """The adapter's everyday call: a quote of its main asset class, else news."""
    info = provider.info
    if Capability.QUOTE in info.capabilities:
        ac = main_class(info)
        return lambda: provider.quote(KNOWN[ac][0], ac)
    return lambda: provider.news(query=None, symbol="AAPL", limit=2)


def check_quote(
    name: str, q: Quote, symbol: str, ac: AssetClass, span: tuple[float, float], factor: float = 1
) -> None:
    """``q`` is the emulator's synthetic price (times ``factor``); ``span`` the emulator's
    clock before and after the call."""
    vendor = VENDOR[name]
    assert (q.symbol, q.source, q.currency, q.asset_class) == (symbol, name, "USD", ac)
    t = q.timestamp.timestamp()
    if vendor.session_quotes:
        day = previous_session(span[1], crypto=ac is CRYPTO)
        bar = _synth.bar(symbol, day, 86400)
        assert t == day + 86400
        assert q.price == pytest.approx(bar.close * factor)
        if factor == 1:
            assert (q.open, q.high, q.low, q.volume) == (bar.open, bar.high, bar.low, bar.volume)
        return
    assert span[0] - 65 <= t <= span[1] + 1  # a per-minute price may carry its minute's stamp
    moments = (t, *span) if ac in vendor.clock_stamped else (t,)
    expected = [_synth.price_at(symbol, m) * factor for m in moments]
    rel = 1e-12 if factor == 1 else 1e-6  # a scaled price is rounded again on the wire
    assert any(q.price == pytest.approx(e, rel=rel) for e in expected), (q.price, expected)
    if q.previous_close is not None and factor == 1 and not vendor.rolling_24h:
        assert q.previous_close in {_synth.previous_close(symbol, m) for m in moments}
        if q.change is not None:
            assert q.change == pytest.approx(q.price - q.previous_close, abs=1e-6)


def no_secret(exc: BaseException) -> None:
    assert SANDBOX_KEY not in str(exc) and SANDBOX_KEY not in repr(exc)


async def check_main_call(name: str, p: Provider, state: SandboxState) -> None:
    before = state.now()
    answer = await main_call(p)()
    if isinstance(answer, Quote):
        check_quote(name, answer, answer.symbol, answer.asset_class, (before, state.now()))
        return
    assert isinstance(answer, list) and len(answer) == 2
    expected = _synth.articles("AAPL", answer[0].published_at.timestamp(), 2)
    assert [(a.provider, a.url) for a in answer] == [(name, e.url) for e in expected]
