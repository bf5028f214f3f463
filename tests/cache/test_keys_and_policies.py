"""CacheKey rendering, invalidation prefixes, the breaker's arithmetic and default TTLs."""

from __future__ import annotations

import re

import pytest

from marketsvc.cache import CacheKey, CachePolicy, TierBreaker, default_policies
from marketsvc.cache.base import KEY_ROOT, invalidation_prefixes
from marketsvc.cache.policy import negative_entry, raise_negative
from marketsvc.config import Settings
from marketsvc.domain import DataType
from marketsvc.errors import InvalidInputError, NotFoundError, SymbolNotFoundError

SAFE_KEY = re.compile(r"^marketsvc:v1:[a-z_]+:[A-Za-z0-9._~%-]+:[0-9a-f]{16}$")


def test_keys_are_stable_whatever_the_parameter_order() -> None:
    a = CacheKey.of(DataType.HISTORICAL, "AAPL", {"interval": "day", "limit": 100})
    b = CacheKey.of("historical", "AAPL", {"limit": 100, "interval": "day"})
    assert a == b and a.text == b.text
    assert a.text.startswith(f"{KEY_ROOT}historical:AAPL:")
    assert CacheKey.of(DataType.HISTORICAL, "AAPL", {"interval": "week", "limit": 100}) != a
    assert CacheKey.of(DataType.PRICE, "AAPL").text != CacheKey.of(DataType.NEWS, "AAPL").text


def test_parameter_values_never_appear_in_the_key() -> None:
    text = CacheKey.of(DataType.NEWS, "BTC", {"apikey": "sk-live-SECRET123"}).text
    assert "SECRET" not in text and "apikey" not in text


@pytest.mark.parametrize("symbol", ["A*", "B?", "C[x]", "D\\", "^GSPC", "X:BTCUSD", "a b", "E/F=G"])
def test_symbols_cannot_inject_separators_or_globs(symbol: str) -> None:
    text = CacheKey.of(DataType.PRICE, symbol).text
    assert SAFE_KEY.match(text), text
    assert text.count(":") == 4
    (prefix,) = invalidation_prefixes(DataType.PRICE, symbol)
    assert text.startswith(prefix) and not any(ch in prefix for ch in "*?[]\\^ ")


def test_invalidation_prefixes_are_always_bounded() -> None:
    assert invalidation_prefixes() == (KEY_ROOT,)
    assert invalidation_prefixes(DataType.NEWS) == (f"{KEY_ROOT}news:",)
    by_symbol = invalidation_prefixes(symbol="BTC")
    assert len(by_symbol) == len(DataType)
    assert all(p.startswith(KEY_ROOT) and p.endswith(":BTC:") for p in by_symbol)
    with pytest.raises(InvalidInputError):
        invalidation_prefixes("no-such-type")
    with pytest.raises(InvalidInputError):
        CacheKey.of(DataType.PRICE, "")
    with pytest.raises(InvalidInputError):
        CacheKey.of(DataType.PRICE, "X" * 65)


def test_negative_entries_raise_the_error_they_remember() -> None:
    entry = negative_entry(SymbolNotFoundError("finnhub", "ZZZZ"), 100.0, 60.0)
    assert entry.fresh_until == entry.stale_until == 160.0  # never served stale
    with pytest.raises(SymbolNotFoundError) as info:
        raise_negative(entry)
    assert (info.value.provider, info.value.symbol) == ("finnhub", "ZZZZ")
    with pytest.raises(NotFoundError) as nf:
        raise_negative(negative_entry(NotFoundError("QQQQ"), 100.0, 60.0))
    assert nf.value.symbol == "QQQQ"


def test_default_policies_are_short_for_prices_and_long_for_history() -> None:
    settings = Settings(_env_file=None, cache_l2_default_ttl=300, cache_l3_default_ttl=3600)
    policies = default_policies(settings)
    assert set(policies) == set(DataType)
    price = policies[DataType.CRYPTO_PRICE]
    assert (price.fresh_ttl, price.stale_ttl) == (30, 300)
    assert policies[DataType.HISTORICAL].fresh_ttl == 3600
    assert policies[DataType.FUNDAMENTALS].fresh_ttl > policies[DataType.HISTORICAL].fresh_ttl
    longer = default_policies(Settings(_env_file=None, cache_l3_default_ttl=7200))
    assert longer[DataType.HISTORICAL].fresh_ttl == 7200
    with pytest.raises(ValueError):
        CachePolicy(fresh_ttl=60, stale_ttl=30)


def test_breaker_opens_after_five_failures_and_probes_once() -> None:
    breaker = TierBreaker(threshold=5, base_open=1.0, max_open=30.0)
    for _ in range(4):
        breaker.record_failure(0.0)
    assert breaker.allow(0.0)
    breaker.record_failure(0.0)
    assert breaker.state(0.5) == "open" and not breaker.allow(0.5)
    assert breaker.allow(1.0)  # half-open: one probe
    assert not breaker.allow(1.0)  # ...and only one
    breaker.record_failure(1.0)  # probe failed: open again, for twice as long
    assert not breaker.allow(2.9) and breaker.allow(3.0)
    breaker.record_success()
    assert breaker.state(3.0) == "closed" and breaker.allow(3.0)


def test_breaker_ignores_late_failures_and_caps_its_break() -> None:
    breaker = TierBreaker(threshold=1, base_open=1.0, max_open=4.0)
    breaker.record_failure(0.0)
    breaker.record_failure(0.5)  # started before it opened: does not extend the break
    assert breaker.allow(1.0)
    for now in (1.0, 3.0, 7.0, 11.0):  # 2 s, 4 s, then capped at 4 s
        breaker.record_failure(now)
    assert breaker.open_until == 15.0
