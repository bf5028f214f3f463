"""The composition of every long-lived resource, owned by one AsyncExitStack.

``open_container(settings)`` builds, in order: the in-process emulator (sandbox mode), one
httpx client per enabled provider, the database engine (after migrations), Redis (when
configured), and the orchestrator on top. Leaving the context closes all of it in reverse.
The API (lifespan state) and the scheduled jobs share the same Container.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace

import httpx
import redis.asyncio as aioredis
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

from marketsvc.config import ProviderSettings, Settings
from marketsvc.db.engine import create_engine
from marketsvc.db.migrate import upgrade_async
from marketsvc.orchestrator import DataOrchestrator
from marketsvc.providers._http import ProviderHttp
from marketsvc.providers.base import Provider
from marketsvc.providers.registry import build_http_client, build_provider

log = logging.getLogger(__name__)

SANDBOX_ROOT = "http://sandbox.marketsvc.invalid"
# Keyed providers get a placeholder key in sandbox mode so the emulator's auth checks pass
# and the adapters exercise their real auth placement.
SANDBOX_PLACEHOLDER_KEY = "sandbox-placeholder-key"


@dataclass
class Container:
    settings: Settings
    providers: dict[str, Provider]
    engine: AsyncEngine
    redis: aioredis.Redis | None
    orchestrator: DataOrchestrator
    sandbox_app: ASGIApp | None = None
    started_at: float = field(default_factory=time.time)


def _sandbox_provider_settings(ps: ProviderSettings) -> ProviderSettings:
    from marketsvc.sandbox import sandbox_base_url

    return replace(
        ps,
        base_url=sandbox_base_url(SANDBOX_ROOT, ps.name),
        api_key=ps.api_key or SecretStr(SANDBOX_PLACEHOLDER_KEY),
        enabled=ps.enabled,
    )


async def _open_providers(
    settings: Settings, stack: AsyncExitStack, sandbox_app: ASGIApp | None
) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    transport = httpx.ASGITransport(app=sandbox_app) if sandbox_app is not None else None
    for ps in settings.providers():
        if not ps.enabled:
            continue
        if sandbox_app is not None:
            ps = _sandbox_provider_settings(ps)
        client = build_http_client(
            ps,
            timeout=settings.provider_timeout,
            transport=transport,
            max_connections=max(settings.call_planner_workers * 2, 4),
        )
        await stack.enter_async_context(client)
        http = ProviderHttp(ps.name, client, max_bytes=settings.provider_max_response_bytes)
        providers[ps.name] = build_provider(ps, http)
    return providers


@asynccontextmanager
async def open_container(settings: Settings) -> AsyncIterator[Container]:
    async with AsyncExitStack() as stack:
        sandbox_app: ASGIApp | None = None
        if settings.sandbox:
            from marketsvc.sandbox import create_sandbox_app

            sandbox_app = create_sandbox_app()
        providers = await _open_providers(settings, stack, sandbox_app)

        if settings.auto_migrate:
            await upgrade_async(settings.database_url)
        engine = create_engine(settings.database_url)
        stack.push_async_callback(engine.dispose)

        redis_client: aioredis.Redis | None = None
        if settings.redis_url:
            redis_client = aioredis.Redis.from_url(
                settings.redis_url,
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
                health_check_interval=15,
            )
            stack.push_async_callback(redis_client.aclose)

        orchestrator = DataOrchestrator(providers)
        log.info(
            "container ready",
            extra={
                "providers": sorted(providers),
                "sandbox": settings.sandbox,
                "redis": bool(redis_client),
            },
        )
        yield Container(
            settings=settings,
            providers=providers,
            engine=engine,
            redis=redis_client,
            orchestrator=orchestrator,
            sandbox_app=sandbox_app,
        )


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret's value, for the log redactor."""
    values = [ps.api_key.get_secret_value() for ps in settings.providers() if ps.api_key]
    if settings.admin_token:
        values.append(settings.admin_token.get_secret_value())
    return values
