"""The contract every adapter keeps against its emulator, one suite over all nine: the data.

What an adapter offers is read from its ProviderInfo (capabilities, asset classes, intervals):
a test runs for what the adapter declares and checks that what it does not declare is refused.
Where the emulated vendors legitimately differ (how a quote is stamped, which status a throttle
comes with) the ``VENDOR`` table in ``_contract.py`` says so. Vendor-only behaviour (Binance
weights, Yahoo's crumb, Massive paging, ...) stays in ``test_<vendor>_e2e.py``.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from marketsvc.domain import AssetClass, Capability, Interval, Quote
from marketsvc.errors import (
    SymbolNotFoundError,
    UnsupportedError,
)
from marketsvc.sandbox import _synth
from marketsvc.symbols import TOP_COINS
from tests.sandbox._contract import (
    CRYPTO,
    KNOWN,
    NAMES,
    STOCK,
    UNKNOWN,
    VENDOR,
    by_class,
    check_quote,
    declared,
    main_class,
    offering,
    on_sandbox,
    utc,
)


# Quotes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "symbol", "ac"),
    [(n, s, ac) for n, ac in by_class(Capability.QUOTE) for s in KNOWN[ac]],
)
async def test_quote_equals_the_synthetic_price(name: str, symbol: str, ac: AssetClass) -> None:
    async with on_sandbox(name) as (p, state):
        before = state.now()
        q = await p.quote(symbol, ac)
        check_quote(name, q, symbol, ac, (before, state.now()))


@pytest.mark.parametrize(("name", "ac"), by_class(Capability.BATCH_QUOTE))
async def test_batch_quotes_are_live_and_report_unknown_symbols(name: str, ac: AssetClass) -> None:
    symbols = [*KNOWN[ac], UNKNOWN[ac]]
    async with on_sandbox(name) as (p, state):
        before = state.now()
        out = await p.quotes(symbols, ac)
        after = state.now()
    assert set(out) == set(symbols)
    assert isinstance(out[UNKNOWN[ac]], SymbolNotFoundError)
    for symbol in KNOWN[ac]:
        q = out[symbol]
        assert isinstance(q, Quote)
        # A batch is the live price even where a single quote is the last session's.
        assert (q.symbol, q.source, q.asset_class) == (symbol, name, ac)
        assert before - 65 <= q.timestamp.timestamp() <= after + 1
        assert q.price == _synth.price_at(symbol, q.timestamp.timestamp())


# History --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "ac"), by_class(Capability.HISTORY))
async def test_day_history_is_ordered_in_range_and_synthetic(name: str, ac: AssetClass) -> None:
    assert Interval.DAY in declared(name).history_intervals
    symbol = KNOWN[ac][0]
    async with on_sandbox(name) as (p, state):
        # Ten closed days a few days back: inside every vendor's free window.
        end = math.floor(state.now() / 86400) * 86400 - 3 * 86400
        start = end - 10 * 86400
        candles = await p.history(symbol, ac, Interval.DAY, utc(start), utc(end))
    expected = _synth.bars(symbol, start, end, 86400, stock=ac is STOCK)
    assert [c.ts.timestamp() for c in candles] == [b.start for b in expected]
    assert len(candles) >= 6  # a week's worth of sessions at least: the window is not empty
    for candle, bar in zip(candles, expected, strict=True):
        assert candle.open == pytest.approx(bar.open, rel=1e-9)
        assert candle.volume == pytest.approx(bar.volume, abs=1)  # some send whole shares
        assert candle.low <= min(candle.open, candle.close) <= max(candle.open, candle.close)
        assert max(candle.open, candle.close) <= candle.high
        if not VENDOR[name].bars_from_points:
            got = (candle.high, candle.low, candle.close)
            # 4 decimals on the wire for some stock vendors
            assert got == pytest.approx((bar.high, bar.low, bar.close), abs=1e-4)


# Misses and refusals --------------------------------------------------------------------------
def miss_cases() -> list[tuple[str, str, AssetClass | None]]:
    cases: list[tuple[str, str, AssetClass | None]] = []
    for name in NAMES:
        info = declared(name)
        for ac in sorted(info.asset_classes):
            if Capability.QUOTE in info.capabilities:
                cases.append((name, "quote", ac))
            if Capability.HISTORY in info.capabilities:
                cases.append((name, "history", ac))
        if Capability.FUNDAMENTALS in info.capabilities:
            cases.append((name, "fundamentals", main_class(info)))
    return cases


@pytest.mark.parametrize(("name", "operation", "ac"), miss_cases())
async def test_unknown_symbol_is_not_found(name: str, operation: str, ac: AssetClass) -> None:
    symbol = UNKNOWN[ac]
    async with on_sandbox(name) as (p, state):
        end = utc(state.now() - 3 * 86400)
        call: Callable[[], Awaitable[object]] = {
            "quote": lambda: p.quote(symbol, ac),
            "history": lambda: p.history(symbol, ac, Interval.DAY, end - timedelta(30), end),
            "fundamentals": lambda: p.fundamentals(symbol),
        }[operation]
        if operation == "history" and ac in VENDOR[name].empty_unknown_history:
            assert await call() == []
            return
        with pytest.raises(SymbolNotFoundError) as info:
            await call()
    assert info.value.provider == name and symbol in str(info.value)


def refusal_cases() -> list[tuple[str, str]]:
    """Every operation, asset class and interval the adapter does not declare."""
    cases = []
    for name in NAMES:
        info = declared(name)
        for cap in set(Capability) - info.capabilities - {Capability.BATCH_QUOTE}:
            cases.append((name, cap.value))  # a non-batch adapter still answers quotes()
        for ac in set(AssetClass) - info.asset_classes:
            cases += [(name, f"quote:{ac.value}"), (name, f"history:{ac.value}")]
        if Capability.HISTORY in info.capabilities:
            cases += [(name, f"interval:{i.value}") for i in set(Interval) - info.history_intervals]
    return sorted(cases)


@pytest.mark.parametrize(("name", "what"), refusal_cases())
async def test_undeclared_operations_are_unsupported_without_a_call(name: str, what: str) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    async with on_sandbox(name) as (p, state):
        ac = main_class(p.info)
        kind, _, arg = what.partition(":")
        call: Callable[[], Awaitable[object]] = {
            "quote": lambda: p.quote(KNOWN[ac][0], AssetClass(arg or ac)),
            "history": lambda: p.history(
                KNOWN[ac][0], AssetClass(arg or ac), Interval.DAY, start, start + timedelta(30)
            ),
            "interval": lambda: p.history(
                KNOWN[ac][0], ac, Interval(arg or "1d"), start, start + timedelta(30)
            ),
            "news": lambda: p.news(query=None, symbol="BTC", limit=3),
            "fundamentals": lambda: p.fundamentals(KNOWN[ac][0]),
            "search": lambda: p.search("bitcoin"),
        }[kind]
        with pytest.raises(UnsupportedError):
            await call()
        assert not state.calls


# News, fundamentals, health -------------------------------------------------------------------
@pytest.mark.parametrize("name", offering(Capability.NEWS))
async def test_symbol_news_equals_the_synthetic_articles(name: str) -> None:
    async with on_sandbox(name) as (p, state):
        arts = await p.news(query=None, symbol="AAPL", limit=3)
        now = state.now()
    assert len(arts) == 3
    newest = arts[0].published_at.timestamp()
    assert now - 2 * 3600 < newest <= now
    expected = _synth.articles("AAPL", newest, 3)
    assert [(a.title, a.url, a.published_at.timestamp()) for a in arts] == [
        (e.title, e.url, e.published) for e in expected
    ]
    assert {(a.provider, a.tickers) for a in arts} == {(name, ("AAPL",))}
    assert {a.summary for a in arts} <= {None, expected[0].summary}


@pytest.mark.parametrize("name", offering(Capability.FUNDAMENTALS))
async def test_fundamentals_are_the_synthetic_profile(name: str) -> None:
    ac = main_class(declared(name))
    symbol = "MSFT" if ac is STOCK else "ETH"
    async with on_sandbox(name) as (p, state):
        before = state.now()
        f = await p.fundamentals(symbol)
        after = state.now()
    assert (f.symbol, f.source) == (symbol, name)
    assert "synthetic" in f"{f.name} {f.description}"
    if ac is CRYPTO:
        assert f.name == TOP_COINS[symbol].name
        return
    company = _synth.STOCKS[symbol]
    assert f.name is not None and f.name.startswith(company.name)
    # Each field the vendor fills is the synthetic company's.
    for got, want in [
        (f.exchange, company.exchange),
        (f.sector, company.sector),
        (f.employees, company.employees),
        (f.shares_outstanding, company.shares),
    ]:
        assert got in (None, want)
    if f.market_cap is not None:
        caps = [company.shares * _synth.price_at(symbol, t) for t in (before, after)]
        assert any(f.market_cap == pytest.approx(cap, rel=0.01) for cap in caps)
