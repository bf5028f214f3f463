"""Settings, read from the environment (or ``.env``) exactly as the public contract names them.

Built once in ``create_app(settings=None)`` (or by the CLI) and passed down; never a module global.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from marketsvc.domain import RateLimit

PROVIDER_NAMES: tuple[str, ...] = (
    "coingecko",
    "coinmarketcap",
    "polygon",
    "finnhub",
    "newsapi",
    "alphavantage",
    "yahoo",
    "binance",
    "tiingo",
)

# Providers that answer market data without any key.
KEYLESS_PROVIDERS = frozenset({"coingecko", "yahoo", "binance"})

COINGECKO_PRO_BASE_URL = "https://pro-api.coingecko.com/api/v3"

DEFAULT_BASE_URLS: dict[str, str] = {
    "coingecko": "https://api.coingecko.com/api/v3",
    "coinmarketcap": "https://pro-api.coinmarketcap.com",
    "polygon": "https://api.massive.com",
    "finnhub": "https://finnhub.io/api/v1",
    "newsapi": "https://newsapi.org/v2",
    "alphavantage": "https://www.alphavantage.co",
    "yahoo": "https://query1.finance.yahoo.com",
    "binance": "https://api.binance.com",
    "tiingo": "https://api.tiingo.com",
}

# Each provider's documented free-tier limits (shared/reference/providers.md); Yahoo publishes
# none, so a polite guess. Override with <P>_RATE_LIMITS.
DEFAULT_RATE_LIMITS: dict[str, str] = {
    "coingecko": "30/minute;10000/month",
    "coinmarketcap": "30/minute;10000/month",
    "polygon": "5/minute",
    "finnhub": "30/second;60/minute",
    "newsapi": "100/day",
    "alphavantage": "5/minute;25/day",
    "yahoo": "60/minute",
    "binance": "6000/minute",
    "tiingo": "50/hour;1000/day",
}

DEFAULT_WS_URLS: dict[str, str] = {
    "binance": "wss://stream.binance.com:9443",
    "finnhub": "wss://ws.finnhub.io",
    "polygon": "wss://socket.massive.com",
}


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """One provider's resolved settings."""

    name: str
    api_key: SecretStr | None
    base_url: str
    enabled: bool
    rate_limits: tuple[RateLimit, ...]
    ws_url: str | None


# The async drivers the engine is built for; anything else fails later with a deep traceback.
DATABASE_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
REDIS_SCHEMES = ("redis", "rediss", "unix")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _limits(value: Any) -> Any:
    if value is None or isinstance(value, tuple):
        return value
    try:
        return RateLimit.parse_many(str(value))
    except ValueError as exc:
        # Worded to follow "<P>_RATE_LIMITS='...'" in the CLI's one-line error, which adds
        # the provider's own default as the example.
        detail = str(exc).split(" (e.g.")[0]
        raise ValueError(f"is not a rate-limit list: {detail}") from None


REAL_DATABASE_URL = "sqlite+aiosqlite:///./marketsvc.db"
SANDBOX_DATABASE_URL = "sqlite+aiosqlite:///./marketsvc-sandbox.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # A ValidationError's text must not carry a key or a URL's password; the CLI words
        # each error itself from ``errors()`` (marketsvc.settings_errors).
        hide_input_in_errors=True,
    )

    # Unset or empty: a SQLite file per data mode, so sandbox (synthetic) data never lands in
    # the database a real-mode run reads (see db/mode.py for the stamp that enforces it).
    database_url: str = ""
    redis_url: str | None = None
    admin_token: SecretStr | None = None
    # true: data endpoints need a client key (keys/, api/client_keys.py); false keeps the
    # embedded default open, and a key that is presented is still checked and metered.
    api_keys_required: bool = False
    sandbox: bool = False
    auto_migrate: bool = True
    log_level: str = "INFO"
    scheduler_enabled: bool = True
    replica_count: int = Field(default=1, ge=1)

    cache_l1_max_size: int = Field(default=1000, ge=1)
    cache_l1_max_bytes: int = Field(default=50_000_000, ge=1024)
    cache_l2_default_ttl: int = Field(default=300, ge=1)
    cache_l3_default_ttl: int = Field(default=3600, ge=1)

    # Scheduled jobs: intervals in seconds and the symbols they keep warm.
    watchlist_crypto: str = "BTC,ETH,SOL,BNB,XRP"
    watchlist_stocks: str = "AAPL,MSFT,GOOGL,AMZN,NVDA"
    job_crypto_prices_interval: float = Field(default=300, gt=0)
    job_stock_prices_interval: float = Field(default=900, gt=0)
    job_news_interval: float = Field(default=3600, gt=0)
    job_history_interval: float = Field(default=3600, gt=0)
    job_technical_interval: float = Field(default=1800, gt=0)
    job_warming_interval: float = Field(default=600, gt=0)
    job_health_interval: float = Field(default=60, gt=0)
    job_validation_interval: float = Field(default=900, gt=0)
    # Seconds added to every rate-limit window to absorb network jitter (see RateLimit.padded).
    rate_limit_margin: float = Field(default=0.5, ge=0)
    # Requests in progress per process before new ones get an immediate 503 + Retry-After.
    max_inflight_requests: int = Field(default=512, ge=1)
    breaker_base_break: float = Field(default=5.0, gt=0)
    # Alerts (monitor/): POSTed as JSON here when set; rules run every monitor_interval
    # seconds over samples of monitor_sample_seconds (the dashboard's chart resolution).
    alert_webhook_url: SecretStr | None = None
    alert_p99_seconds: float = Field(default=2.0, gt=0)
    monitor_interval: float = Field(default=5.0, gt=0)
    monitor_sample_seconds: float = Field(default=60.0, gt=0)
    validation_max_spread_pct: float = Field(default=2.0, gt=0)

    # Provider streams and the client stream endpoints (marketsvc.streams; README "Live data").
    streams_enabled: bool = True
    stream_silence_seconds: float = Field(default=15.0, gt=0)
    stream_poll_interval: float = Field(default=5.0, gt=0)
    stream_max_symbols: int = Field(default=100, ge=1)
    stream_client_messages_per_second: float = Field(default=20.0, gt=0)
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0)
    stream_max_lag_seconds: float = Field(default=10.0, gt=0)
    stream_max_clients_per_ip: int = Field(default=1000, ge=200)

    call_planner_workers: int = Field(default=3, ge=1, le=64)
    call_planner_batch_delay: float = Field(default=5.0, ge=0)
    # Seconds one upstream attempt may take, all of it (connect, headers, body, an adapter's
    # lookups); the whole data request, every provider tried, gets request_timeout.
    provider_timeout: float = Field(default=10.0, gt=0)
    request_timeout: float = Field(default=10.0, gt=0)
    # The shared (Redis) limiter: seconds one Redis call may take, and how many failures in a
    # row mean "Redis is away" (then each replica uses its local share of every limit).
    rate_limit_redis_timeout: float = Field(default=0.5, gt=0)
    rate_limit_redis_failures: int = Field(default=3, ge=1)
    provider_max_response_bytes: int = Field(default=20_000_000, ge=1024)

    # Demo and Pro keys look alike ("CG-..."), so the plan is said, not guessed.
    coingecko_pro: bool = False
    coingecko_api_key: SecretStr | None = None
    coingecko_base_url: str | None = None
    coingecko_enabled: bool | None = None
    coingecko_rate_limits: tuple[RateLimit, ...] | None = None
    coingecko_ws_url: str | None = None
    coinmarketcap_api_key: SecretStr | None = None
    coinmarketcap_base_url: str | None = None
    coinmarketcap_enabled: bool | None = None
    coinmarketcap_rate_limits: tuple[RateLimit, ...] | None = None
    coinmarketcap_ws_url: str | None = None
    polygon_api_key: SecretStr | None = None
    polygon_base_url: str | None = None
    polygon_enabled: bool | None = None
    polygon_rate_limits: tuple[RateLimit, ...] | None = None
    polygon_ws_url: str | None = None
    finnhub_api_key: SecretStr | None = None
    finnhub_base_url: str | None = None
    finnhub_enabled: bool | None = None
    finnhub_rate_limits: tuple[RateLimit, ...] | None = None
    finnhub_ws_url: str | None = None
    newsapi_api_key: SecretStr | None = None
    newsapi_base_url: str | None = None
    newsapi_enabled: bool | None = None
    newsapi_rate_limits: tuple[RateLimit, ...] | None = None
    newsapi_ws_url: str | None = None
    alphavantage_api_key: SecretStr | None = None
    alphavantage_base_url: str | None = None
    alphavantage_enabled: bool | None = None
    alphavantage_rate_limits: tuple[RateLimit, ...] | None = None
    alphavantage_ws_url: str | None = None
    yahoo_api_key: SecretStr | None = None
    yahoo_base_url: str | None = None
    yahoo_enabled: bool | None = None
    yahoo_rate_limits: tuple[RateLimit, ...] | None = None
    yahoo_ws_url: str | None = None
    binance_api_key: SecretStr | None = None
    binance_base_url: str | None = None
    binance_enabled: bool | None = None
    binance_rate_limits: tuple[RateLimit, ...] | None = None
    binance_ws_url: str | None = None
    tiingo_api_key: SecretStr | None = None
    tiingo_base_url: str | None = None
    tiingo_enabled: bool | None = None
    tiingo_rate_limits: tuple[RateLimit, ...] | None = None
    tiingo_ws_url: str | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _parse_rate_limits(cls, value: Any, info: Any) -> Any:
        if str(info.field_name).endswith("_rate_limits"):
            return _limits(value)
        if value == "" and cls.model_fields[str(info.field_name)].default is None:
            return None  # an empty variable in .env means "unset", not "empty key"
        return value

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = SANDBOX_DATABASE_URL if self.sandbox else REAL_DATABASE_URL
        return self

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"is not a log level; use one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("database_url")
    @classmethod
    def _supported_database_url(cls, value: str) -> str:
        if not value:
            return value  # unset: the default file of the data mode (_default_database)
        try:
            driver = make_url(value).drivername
        except (ArgumentError, ValueError):
            raise ValueError(
                "is not a database URL; use e.g. sqlite+aiosqlite:///./marketsvc.db "
                "or postgresql+asyncpg://user:password@host:5432/dbname"
            ) from None
        if driver not in DATABASE_DRIVERS:
            raise ValueError(
                f"names the driver {driver!r}, which marketsvc does not support; "
                f"use {' or '.join(d + '://...' for d in DATABASE_DRIVERS)}"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and value.partition("://")[0].lower() not in REDIS_SCHEMES:
            raise ValueError(
                "is not a Redis URL; use e.g. redis://127.0.0.1:6379/0 (or rediss://, "
                "unix://), or leave REDIS_URL unset for single-process mode"
            )
        return value

    @field_validator(*(f"{p}_{kind}" for p in PROVIDER_NAMES for kind in ("base_url", "ws_url")))
    @classmethod
    def _provider_url(cls, value: str | None, info: Any) -> str | None:
        if value is None:
            return value
        schemes = ("http", "https") if str(info.field_name).endswith("_base_url") else ("ws", "wss")
        try:
            parts = urlsplit(value)
            valid = parts.scheme in schemes and bool(parts.hostname) and parts.port != -1
        except ValueError:  # e.g. a port that is not a number
            valid = False
        if not valid:
            raise ValueError(f"is not an absolute {schemes[0]}(s):// URL; unset it for the default")
        return value

    def provider(self, name: str) -> ProviderSettings:
        """Resolve one provider's settings, applying the contract's defaults."""
        if name not in PROVIDER_NAMES:
            raise KeyError(name)
        key: SecretStr | None = getattr(self, f"{name}_api_key")
        if key is not None and not key.get_secret_value().strip():
            key = None
        enabled: bool | None = getattr(self, f"{name}_enabled")
        if enabled is None:
            enabled = name in KEYLESS_PROVIDERS or key is not None or self.sandbox
        base_url: str | None = getattr(self, f"{name}_base_url")
        if base_url is None:
            base_url = DEFAULT_BASE_URLS[name]
            if name == "coingecko" and key is not None and self.coingecko_pro:
                base_url = COINGECKO_PRO_BASE_URL
        limits: tuple[RateLimit, ...] | None = getattr(self, f"{name}_rate_limits")
        return ProviderSettings(
            name=name,
            api_key=key,
            base_url=base_url.rstrip("/"),
            enabled=enabled,
            rate_limits=limits or RateLimit.parse_many(DEFAULT_RATE_LIMITS[name]),
            ws_url=getattr(self, f"{name}_ws_url") or DEFAULT_WS_URLS.get(name),
        )

    def watchlist(self, kind: str) -> list[str]:
        raw = self.watchlist_crypto if kind == "crypto" else self.watchlist_stocks
        return [s.strip().upper() for s in raw.split(",") if s.strip()]

    def providers(self) -> list[ProviderSettings]:
        return [self.provider(name) for name in PROVIDER_NAMES]
