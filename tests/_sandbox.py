"""Helpers to run a real adapter against the in-process emulator (synthetic data)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from pydantic import SecretStr
from starlette.applications import Starlette

from marketsvc.config import ProviderSettings, Settings
from marketsvc.providers._http import ProviderHttp
from marketsvc.providers.base import Provider
from marketsvc.providers.registry import build_http_client, build_provider
from marketsvc.sandbox import SandboxState, create_sandbox_app, sandbox_base_url
from marketsvc.sandbox._synth import is_trading_day

SANDBOX_ROOT = "http://sandbox.local"
SANDBOX_KEY = "sandbox-key-0000"


def sandbox_settings(name: str, key: str | None = SANDBOX_KEY) -> ProviderSettings:
    base = Settings(_env_file=None, sandbox=True).provider(name)  # type: ignore[call-arg]
    return ProviderSettings(
        name=name,
        api_key=SecretStr(key) if key else None,
        base_url=sandbox_base_url(SANDBOX_ROOT, name),
        enabled=True,
        rate_limits=base.rate_limits,
        ws_url=None,
    )


@asynccontextmanager
async def adapter_on_sandbox(
    name: str,
    app: Starlette | None = None,
    *,
    key: str | None = SANDBOX_KEY,
    limits: dict[str, str] | None = None,
    http_timeout: float = 5.0,
) -> AsyncIterator[tuple[Provider, SandboxState]]:
    """The real adapter ``name`` talking to the emulator in-process through httpx's ASGI
    transport. Yields (provider, emulator state)."""
    app = app or create_sandbox_app(limits=limits)
    settings = sandbox_settings(name, key)
    client = build_http_client(
        settings, timeout=http_timeout, transport=httpx.ASGITransport(app=app)
    )
    try:
        yield build_provider(settings, ProviderHttp(name, client)), app.state.sandbox
    finally:
        await client.aclose()


def previous_session(now: float, *, crypto: bool) -> int:
    """Start of the last whole trading day before ``now`` (every day trades for crypto)."""
    day = math.floor(now / 86400) * 86400 - 86400
    while not crypto and not is_trading_day(day):
        day -= 86400
    return day
