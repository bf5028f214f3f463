"""The real CoinMarketCapProvider against the CMC emulator: every capability equals what
_synth computes, and the emulator's throttle, auth and fault answers become the right typed
errors."""

from __future__ import annotations

import pytest

from marketsvc.domain import AssetClass
from marketsvc.errors import (
    RateLimitedError,
    SymbolNotFoundError,
)
from marketsvc.sandbox import SandboxState, _synth
from tests._sandbox import adapter_on_sandbox


def calls(state: SandboxState, suffix: str) -> list[dict[str, str]]:
    return [
        c.query for c in state.calls if c.provider == "coinmarketcap" and c.path.endswith(suffix)
    ]


async def test_quote_equals_the_synthetic_price() -> None:
    async with adapter_on_sandbox("coinmarketcap") as (provider, state):
        q = await provider.quote("BTC", AssetClass.CRYPTO)
        now = state.now()
        assert calls(state, "/quotes/latest") == [
            {"id": "1", "convert": "USD", "skip_invalid": "true"}
        ]
        assert calls(state, "/map") == []  # BTC maps through the built-in table
    t = q.timestamp.timestamp()  # CMC's last_updated: the minute the price belongs to
    assert t % 60 == 0 and 0 <= now - t < 65
    assert q.price == _synth.price_at("BTC", t)
    day_ago = _synth.price_at("BTC", t - 86400)
    assert q.change_percent == pytest.approx((q.price - day_ago) / day_ago * 100)
    assert q.change == pytest.approx(q.price - day_ago)
    assert q.volume == _synth.bar("BTC", int(t) - 86400, 86400).volume
    assert (q.source, q.currency, q.asset_class) == ("coinmarketcap", "USD", AssetClass.CRYPTO)


async def test_batch_resolves_unknown_tickers_through_the_map() -> None:
    async with adapter_on_sandbox("coinmarketcap") as (provider, state):
        out = await provider.quotes(["ETH", "PEPE", "WIF", "NOPECOIN"], AssetClass.CRYPTO)
        await provider.quotes(["PEPE", "WIF", "NOPECOIN"], AssetClass.CRYPTO)
        # CMC rejects the whole map call for one unknown symbol, so it is asked one by one;
        # the answers (NOPECOIN's miss included) are cached.
        assert [c["symbol"] for c in calls(state, "/map")] == [
            "PEPE,WIF,NOPECOIN",
            "PEPE",
            "WIF",
            "NOPECOIN",
        ]
        # WIF is the active, ranked coin (28752), not the inactive imitation.
        assert [c["id"] for c in calls(state, "/quotes/latest")] == [
            "1027,24478,28752",
            "24478,28752",
        ]
        assert all("CMC_PRO_API_KEY" not in c for c in calls(state, ""))
    assert isinstance(out["NOPECOIN"], SymbolNotFoundError)
    for symbol in ("ETH", "PEPE", "WIF"):
        q = out[symbol]
        assert not isinstance(q, Exception)
        assert q.price == _synth.price_at(symbol, q.timestamp.timestamp())


async def test_fundamentals_search_and_health() -> None:
    async with adapter_on_sandbox("coinmarketcap") as (provider, state):
        f = await provider.fundamentals("DOGE")
        matches = await provider.search("wif")
        await provider.health()
        assert calls(state, "/cryptocurrency/info") == [{"id": "74"}]
        assert calls(state, "/key/info") == [{}]
    assert (f.symbol, f.name, f.source) == ("DOGE", "Dogecoin", "coinmarketcap")
    assert f.description is not None and "synthetic" in f.description
    assert f.extra["cmc_id"] == 74
    assert [(m.symbol, m.name, m.provider_symbol) for m in matches] == [
        ("WIF", "dogwifhat", "28752"),
        ("WIF", "WIF Imitation (synthetic)", "99000001"),
    ]


async def test_throttle_answer_is_rate_limited_with_retry_after() -> None:
    limits = {"coinmarketcap": "2/minute"}
    async with adapter_on_sandbox("coinmarketcap", limits=limits) as (provider, state):
        await provider.quote("BTC", AssetClass.CRYPTO)
        await provider.quote("ETH", AssetClass.CRYPTO)
        with pytest.raises(RateLimitedError) as info:
            await provider.quote("SOL", AssetClass.CRYPTO)
        assert state.provider("coinmarketcap").over_limit == 1
    # CMC sends code 1008 and no Retry-After: the adapter waits for the next minute.
    assert "code 1008" in str(info.value)
    assert info.value.retry_after is not None and 0 < info.value.retry_after <= 60
