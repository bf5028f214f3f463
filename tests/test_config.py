from __future__ import annotations

import pytest
from pydantic import ValidationError

from marketsvc.config import PROVIDER_NAMES, Settings
from marketsvc.domain import RateLimit


def test_rate_limits_parse_into_sorted_typed_windows() -> None:
    limits = RateLimit.parse_many("10000/month; 30/minute")
    assert [(r.limit, r.window, r.unit) for r in limits] == [
        (30, 60.0, "minute"),
        (10000, 30 * 86400.0, "month"),
    ]


@pytest.mark.parametrize("bad", ["abc", "30/fortnight", "x/minute", "0/minute", "-3/second", ";"])
def test_bad_rate_limits_fail_with_a_clear_message(bad: str) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        RateLimit.parse_many(bad)


def test_env_rate_limits_reach_the_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BINANCE_RATE_LIMITS", "4/second;100/minute")
    limits = Settings(_env_file=None).provider("binance").rate_limits  # type: ignore[call-arg]
    assert [str(r) for r in limits] == ["4/second", "100/minute"]


def test_bad_env_rate_limit_is_a_settings_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINNHUB_RATE_LIMITS", "sixty/minute")
    with pytest.raises(ValidationError, match="finnhub_rate_limits"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_keyed_providers_are_enabled_only_with_a_key() -> None:
    s = Settings(_env_file=None, finnhub_api_key="k")  # type: ignore[call-arg]
    enabled = {p.name for p in s.providers() if p.enabled}
    assert enabled == {"coingecko", "yahoo", "binance", "finnhub"}
    assert set(PROVIDER_NAMES) >= enabled


def test_defaults_match_the_contract() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.database_url == "sqlite+aiosqlite:///./marketsvc.db"
    assert s.redis_url is None and s.admin_token is None and s.sandbox is False
    assert (s.cache_l1_max_size, s.cache_l1_max_bytes) == (1000, 50_000_000)
    assert (s.cache_l2_default_ttl, s.cache_l3_default_ttl) == (300, 3600)
    assert (s.call_planner_workers, s.call_planner_batch_delay, s.provider_timeout) == (3, 5, 10)
    assert s.provider("polygon").base_url == "https://api.massive.com"
    assert s.provider("coingecko").base_url == "https://api.coingecko.com/api/v3"


def test_secret_keys_are_not_in_repr() -> None:
    s = Settings(_env_file=None, tiingo_api_key="SENTINEL-KEY-123")  # type: ignore[call-arg]
    assert "SENTINEL-KEY-123" not in repr(s)
    assert "SENTINEL-KEY-123" not in repr(s.provider("tiingo"))
