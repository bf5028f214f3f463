"""The real BinanceProvider against the Binance emulator: values equal _synth's, and Binance's
weights, headers, throttle/ban answers and -1121 rejections come through as typed errors."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from marketsvc.domain import AssetClass, Interval, Quote
from marketsvc.errors import (
    RateLimitedError,
    SymbolNotFoundError,
)
from marketsvc.providers.binance import BinanceProvider
from marketsvc.sandbox import create_sandbox_app
from marketsvc.sandbox._framework import Fault, SandboxState
from marketsvc.sandbox._synth import bar, price_at
from marketsvc.symbols import TOP_COINS
from tests._sandbox import adapter_on_sandbox

CRYPTO = AssetClass.CRYPTO


def binance(provider: object) -> BinanceProvider:
    assert isinstance(provider, BinanceProvider)
    return provider


def check_quote(q: Quote, symbol: str, factor: float = 1.0) -> None:
    t = q.timestamp.timestamp()
    assert q.symbol == symbol and q.source == "binance" and q.currency == "USD"
    assert q.price == pytest.approx(price_at(symbol, t) * factor, rel=1e-9)
    assert q.open == pytest.approx(price_at(symbol, t - 86400) * factor, rel=1e-9)
    assert q.open is not None and q.change == pytest.approx(q.price - q.open, rel=1e-6, abs=1e-7)
    assert q.high is not None and q.low is not None and q.low <= q.price <= q.high


def weights(state: SandboxState) -> list[tuple[str, int, int]]:
    return [(c.path.rsplit("/api/v3/", 1)[-1], c.weight, c.status) for c in state.calls]


async def test_quote_equals_synth_and_reports_used_weight() -> None:
    async with adapter_on_sandbox("binance") as (provider, state):
        q = await provider.quote("BTC", CRYPTO)
        check_quote(q, "BTC")
        assert abs(q.timestamp.timestamp() - state.now()) < 5
        await provider.health()
        assert weights(state) == [("ticker/24hr", 2, 200), ("ping", 1, 200)]
        assert binance(provider).used_weight_1m == 3


async def test_batch_quotes_with_unknown_and_delisted_symbols() -> None:
    async with adapter_on_sandbox("binance") as (provider, state):
        out = await provider.quotes(["BTC", "ETH", "MATIC", "PEPE", "NOPE"], CRYPTO)
        for symbol in ("BTC", "ETH", "PEPE"):
            quote = out[symbol]
            assert isinstance(quote, Quote)
            check_quote(quote, symbol)
        assert isinstance(out["MATIC"], SymbolNotFoundError)  # BREAK on the emulated exchange
        assert isinstance(out["NOPE"], SymbolNotFoundError)
        assert weights(state) == [("exchangeInfo", 20, 200), ("ticker/24hr", 2, 200)]
        assert state.calls[-1].query["symbols"] == '["BTCUSDT","ETHUSDT","PEPEUSDT"]'
        assert binance(provider).used_weight_1m == 22


async def test_batch_of_table_guesses_recovers_from_1121() -> None:
    async with adapter_on_sandbox("binance") as (provider, state):
        out = await provider.quotes(["SOL", "XMR", "BTC"], CRYPTO)
        assert isinstance(out["XMR"], SymbolNotFoundError)
        for symbol in ("SOL", "BTC"):
            quote = out[symbol]
            assert isinstance(quote, Quote)
            check_quote(quote, symbol)
        # All three are table guesses; XMRUSDT is BREAK, so Binance rejects the whole batch,
        # exchangeInfo says which pair is out and the batch is retried without it.
        assert weights(state) == [
            ("ticker/24hr", 2, 400), ("exchangeInfo", 20, 200), ("ticker/24hr", 2, 200)
        ]  # fmt: skip
        assert state.calls[-1].query["symbols"] == '["SOLUSDT","BTCUSDT"]'


async def test_large_batch_weighs_40() -> None:
    listed = [s for s in TOP_COINS if s not in ("USDT", "MATIC", "XMR")]
    assert len(listed) > 20
    async with adapter_on_sandbox("binance") as (provider, state):
        out = await provider.quotes(listed, CRYPTO)
        assert all(isinstance(v, Quote) for v in out.values()) and len(out) == len(listed)
        assert weights(state) == [("ticker/24hr", 40, 200)]
        assert provider.weight("quotes", len(listed)) == 40


async def test_unknown_and_delisted_single_quotes() -> None:
    async with adapter_on_sandbox("binance") as (provider, state):
        with pytest.raises(SymbolNotFoundError):
            await provider.quote("MATIC", CRYPTO)  # table guess → 400 -1121 → exchangeInfo
        with pytest.raises(SymbolNotFoundError):
            await provider.quote("NOPE", CRYPTO)  # exchangeInfo cached: no further call
        assert weights(state) == [("ticker/24hr", 2, 400), ("exchangeInfo", 20, 200)]


@pytest.mark.parametrize(
    ("interval", "count"),
    # Day bars are in the provider contract suite.
    [(Interval.MINUTE, 90), (Interval.HOUR, 30), (Interval.WEEK, 6)],
)
async def test_history_equals_synth_bars(interval: Interval, count: int) -> None:
    async with adapter_on_sandbox("binance") as (provider, state):
        step = interval.seconds
        end = datetime.fromtimestamp(math.floor(state.now() / 86400) * 86400 - 86400 * 8, tz=UTC)
        start = end - timedelta(seconds=step * count)
        candles = await provider.history("ETH", CRYPTO, interval, start, end)
        assert candles and all(start <= c.ts < end for c in candles)
        assert len(candles) in (count, count - 1)  # week bars open on Mondays, not on `start`
        for c in candles:
            expected = bar("ETH", int(c.ts.timestamp()), step)
            got = (c.open, c.high, c.low, c.close, c.volume)
            want = (expected.open, expected.high, expected.low, expected.close, expected.volume)
            assert got == pytest.approx(want, rel=1e-9)
        if interval is Interval.WEEK:
            assert {c.ts.weekday() for c in candles} == {0}
        gaps = {(b.ts - a.ts).total_seconds() for a, b in itertools.pairwise(candles)}
        assert gaps == {float(step)}


async def test_history_is_capped_at_1000_bars() -> None:
    async with adapter_on_sandbox("binance") as (provider, state):
        end = datetime.fromtimestamp(math.floor(state.now() / 60) * 60 - 86400, tz=UTC)
        start = end - timedelta(minutes=2500)
        candles = await provider.history("BTC", CRYPTO, Interval.MINUTE, start, end)
        assert len(candles) == 1000 and candles[0].ts == start
        assert state.calls[-1].query["limit"] == "1000"


async def test_search_lists_stable_quoted_pairs() -> None:
    async with adapter_on_sandbox("binance") as (provider, _state):
        matches = await provider.search("wld")
        assert [(m.symbol, m.provider_symbol) for m in matches] == [("WLD", "WLDUSDC")]
        assert [m.provider_symbol for m in await provider.search("solana")] == ["SOLUSDT"]


async def test_over_the_weight_limit_is_rate_limited() -> None:
    async with adapter_on_sandbox("binance", limits={"binance": "4/minute"}) as (provider, st):
        await provider.quote("BTC", CRYPTO)
        await provider.quote("ETH", CRYPTO)
        with pytest.raises(RateLimitedError) as err:
            await provider.quote("SOL", CRYPTO)
        assert err.value.retry_after is not None and 1 <= err.value.retry_after <= 60
        assert "429" in str(err.value)
        assert [c.status for c in st.calls] == [200, 200, 429]
        assert binance(provider).used_weight_1m == 6  # Binance counts the rejected call too


async def test_ignoring_429s_gets_a_418_ban() -> None:
    async with adapter_on_sandbox("binance", limits={"binance": "2/minute"}) as (provider, st):
        await provider.quote("BTC", CRYPTO)
        for _ in range(10):
            with pytest.raises(RateLimitedError) as err:
                await provider.quote("BTC", CRYPTO)
            assert "429" in str(err.value)
        with pytest.raises(RateLimitedError) as err:
            await provider.quote("BTC", CRYPTO)
        assert "418" in str(err.value) and err.value.retry_after == 120
        with pytest.raises(RateLimitedError, match="418"):
            await provider.health()
        assert st.calls[-1].status == 418


async def test_throttle_fault_passes_its_retry_after_on() -> None:
    # 5xx, malformed and plain throttle faults are in the provider contract suite.
    async with adapter_on_sandbox("binance") as (provider, state):
        state.providers["binance"].faults.append(Fault(kind="throttle", count=1, seconds=7))
        with pytest.raises(RateLimitedError) as err:
            await provider.quote("BTC", CRYPTO)
    assert err.value.retry_after == 7


async def test_emulator_wire_format() -> None:
    app = create_sandbox_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sb/binance") as client:
        prices = await client.get("/api/v3/ticker/price", params={"symbols": '["BTCUSDT"]'})
        assert prices.headers["X-MBX-USED-WEIGHT-1M"] == "4"
        [row] = prices.json()
        assert row["symbol"] == "BTCUSDT" and isinstance(row["price"], str)
        bad = await client.get("/api/v3/ticker/24hr", params={"symbols": '["BTCUSDT","NOPE"]'})
        assert (bad.status_code, bad.json()["code"]) == (400, -1121)
        spaced = await client.get("/api/v3/ticker/24hr", params={"symbols": '["BTCUSDT", "X"]'})
        assert (spaced.status_code, spaced.json()["code"]) == (400, -1100)
        kl = await client.get("/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "2d"})
        assert (kl.status_code, kl.json()["code"]) == (400, -1120)
        info = (await client.get("/api/v3/exchangeInfo")).json()
        assert info["rateLimits"][0] == {
            "rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
            "limit": 6000,
        }  # fmt: skip
        server_time = (await client.get("/api/v3/time")).json()["serverTime"]
        assert isinstance(server_time, int) and server_time > 1_600_000_000_000
        assert [c.weight for c in app.state.sandbox.calls] == [4, 2, 2, 2, 20, 1]
