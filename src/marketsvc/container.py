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
from typing import Any, cast

import httpx
import redis.asyncio as aioredis
from pydantic import SecretStr
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

from marketsvc.cache.base import CacheTier
from marketsvc.cache.coordination import RedisCoordination
from marketsvc.cache.database import DatabaseTier
from marketsvc.cache.memory import MemoryTier
from marketsvc.cache.policy import default_policies
from marketsvc.cache.redis import RedisTier
from marketsvc.cache.tiered import TieredCache
from marketsvc.config import ProviderSettings, Settings
from marketsvc.db.candles import CandleRepository
from marketsvc.db.engine import create_engine
from marketsvc.db.migrate import upgrade_async
from marketsvc.db.mode import claim_data_mode, mode_name
from marketsvc.db.universes import UniverseRepository
from marketsvc.domain import DataType
from marketsvc.jobs.refresh import default_jobs
from marketsvc.jobs.scheduler import JobScheduler
from marketsvc.keys import KeyService, UsageCollector, open_key_service
from marketsvc.metrics import ServiceMetrics
from marketsvc.orchestrator import DataOrchestrator
from marketsvc.orchestrator.breaker import BreakerPolicy
from marketsvc.orchestrator.chain_runner import ChainRunner
from marketsvc.planner import (
    CallPlanner,
    DatabaseCallLog,
    Limiter,
    LocalLimiter,
    RedisLimiter,
)
from marketsvc.planner.fit import CallWeights, budget_conflicts
from marketsvc.planner.window import lookup_reserve
from marketsvc.providers._http import ProviderHttp
from marketsvc.providers.base import Provider
from marketsvc.providers.registry import build_http_client, build_provider
from marketsvc.streams import StreamHub, open_streams

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
    planner: CallPlanner
    cache: TieredCache
    orchestrator: DataOrchestrator
    metrics: ServiceMetrics
    keys: KeyService
    scheduler: JobScheduler | None = None
    sandbox_app: ASGIApp | None = None
    streams: StreamHub | None = None
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
        http = ProviderHttp(
            ps.name,
            client,
            max_bytes=settings.provider_max_response_bytes,
            attempt_timeout=settings.provider_timeout,
        )
        providers[ps.name] = build_provider(ps, http)
    return providers


@asynccontextmanager
async def open_container(
    settings: Settings, metrics: ServiceMetrics | None = None
) -> AsyncIterator[Container]:
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
        mode = mode_name(settings.sandbox)
        await claim_data_mode(engine, mode)
        # Sandbox keys live in their own Redis namespace (cache, leases, limits, job locks);
        # real-mode names are unchanged, so a rolling upgrade keeps its shared counts.
        namespace = "marketsvc:v1" if mode == "real" else "marketsvc:v1:sandbox"

        redis_client: aioredis.Redis | None = None
        if settings.redis_url:
            # Short timeouts and one quick retry: a dead Redis must fail fast so the cache
            # skips it and the limiter falls back, instead of redis-py's seconds of backoff.
            redis_client = aioredis.Redis.from_url(
                settings.redis_url,
                retry=Retry(NoBackoff(), 1),
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
                health_check_interval=15,
            )
            stack.push_async_callback(redis_client.aclose)

        planner = await _open_planner(settings, providers, engine, redis_client, stack, namespace)
        cache = await _open_cache(settings, engine, redis_client, stack, sandbox=settings.sandbox)
        runner = ChainRunner(
            providers,
            planner,
            breaker_policy=BreakerPolicy(base_break=settings.breaker_base_break),
            deadline_seconds=settings.request_timeout,
            sandbox=settings.sandbox,
        )
        orchestrator = DataOrchestrator(
            providers,
            runner,
            cache,
            default_policies(settings),
            CandleRepository(engine),
            max_spread_pct=settings.validation_max_spread_pct,
            universe_repo=UniverseRepository(engine),
        )
        stack.push_async_callback(orchestrator.aclose)
        # Stored symbol universes load in the background: start-up never waits for them.
        # Without the scheduler nothing is fetched upstream on its own (tests, tools).
        orchestrator.spawn(orchestrator.keep_universes(refresh_stale=settings.scheduler_enabled))
        streams: StreamHub | None = None
        if settings.streams_enabled:
            streams = await _open_streams(settings, orchestrator, cache, sandbox_app, stack)
        metrics = metrics or ServiceMetrics()
        keys = await stack.enter_async_context(
            open_key_service(
                engine, redis_client, namespace=namespace, replica_count=settings.replica_count
            )
        )
        usage_collector = UsageCollector(keys.meter)
        metrics.registry.register(usage_collector)
        stack.callback(metrics.registry.unregister, usage_collector)
        scheduler: JobScheduler | None = None
        if settings.scheduler_enabled:
            jobs = default_jobs(
                orchestrator, settings, streamed=streams.is_streamed if streams else None
            )
            scheduler = JobScheduler(jobs, redis=redis_client, namespace=namespace)
            await scheduler.start()
            stack.push_async_callback(scheduler.aclose)
        log.info(
            "container ready",
            extra={
                "providers": sorted(providers),
                "sandbox": settings.sandbox,
                "redis": bool(redis_client),
                "scheduler": bool(scheduler),
            },
        )
        yield Container(
            settings=settings,
            providers=providers,
            engine=engine,
            redis=redis_client,
            planner=planner,
            cache=cache,
            orchestrator=orchestrator,
            metrics=metrics,
            keys=keys,
            scheduler=scheduler,
            sandbox_app=sandbox_app,
            streams=streams,
        )


async def _open_streams(
    settings: Settings,
    orchestrator: DataOrchestrator,
    cache: TieredCache,
    sandbox_app: ASGIApp | None,
    stack: AsyncExitStack,
) -> StreamHub:
    ws_urls: dict[str, str] | None = None
    keys: dict[str, str] | None = None
    if sandbox_app is not None:
        # The stream emulator over a loopback socket (why: sandbox/loopback.py).
        from marketsvc.sandbox.loopback import loopback_streams
        from marketsvc.sandbox.streams import sandbox_ws_url

        emulator = cast(Any, sandbox_app).state.streams
        root = await stack.enter_async_context(loopback_streams(emulator))
        names = ("binance", "finnhub", "polygon")
        ws_urls = {name: sandbox_ws_url(root, name) for name in names}
        keys = {name: SANDBOX_PLACEHOLDER_KEY for name in names}
    policy = default_policies(settings)[DataType.PRICE]
    return await open_streams(
        settings, orchestrator, cache, policy, stack, ws_urls=ws_urls, keys=keys
    )


async def _open_planner(
    settings: Settings,
    providers: dict[str, Provider],
    engine: AsyncEngine,
    redis_client: aioredis.Redis | None,
    stack: AsyncExitStack,
    namespace: str,
) -> CallPlanner:
    limiter: Limiter
    if redis_client is not None:
        limiter = RedisLimiter(
            redis_client,
            prefix=f"{namespace}:limits",
            replica_count=settings.replica_count,
            op_timeout=settings.rate_limit_redis_timeout,
            failures_to_degrade=settings.rate_limit_redis_failures,
        )
    else:
        # Day and month windows persist in the database, so a restart keeps the count.
        limiter = LocalLimiter(call_log=DatabaseCallLog(engine))
    planner = CallPlanner(
        limiter,
        workers=settings.call_planner_workers,
        batch_delay=settings.call_planner_batch_delay,
        # Interactive calls gather batch-mates for at most 2 ms: a miss should not wait longer.
        gather_delay=0.002,
    )
    for name, provider in providers.items():
        configured = settings.provider(name).rate_limits
        reserved = [lookup_reserve(lim, provider.info.lookup_weight) for lim in configured]
        for conflict in budget_conflicts(
            name, f"{name.upper()}_RATE_LIMITS", configured, reserved, call_weights(provider)
        ):
            log.warning("%s", conflict)
        limits = [lim.padded(settings.rate_limit_margin) for lim in configured]
        await planner.configure(name, limits, reserved=reserved)
    await planner.start()
    stack.push_async_callback(planner.aclose)
    return planner


def call_weights(provider: Provider) -> CallWeights:
    """What ``provider``'s calls weigh, for the start-up check of its limits."""
    info = provider.info
    operations = {op: provider.weight(op) for op in info.weights}
    operations.setdefault("quote", provider.weight("quote"))
    return CallWeights(
        operations,
        lookup=info.lookup_weight,
        max_batch=info.max_batch,
        batch_weight=lambda n: provider.weight("quotes", n),
    )


async def _open_cache(
    settings: Settings,
    engine: AsyncEngine,
    redis_client: aioredis.Redis | None,
    stack: AsyncExitStack,
    *,
    sandbox: bool,
) -> TieredCache:
    tiers: list[CacheTier] = [MemoryTier(settings.cache_l1_max_size, settings.cache_l1_max_bytes)]
    labels = ["l1"]
    coordination: RedisCoordination | None = None
    if redis_client is not None:
        redis_tier = RedisTier(redis_client, namespace="sandbox" if sandbox else "")
        tiers.append(redis_tier)
        labels.append("l2")
        coordination = RedisCoordination(redis_tier)
    tiers.append(DatabaseTier(engine))
    labels.append("l3")  # the SQL tier is "l3" with or without Redis in between
    cache = TieredCache(tiers, coordination=coordination, labels=labels)
    await cache.start()
    stack.push_async_callback(cache.aclose)
    return cache


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret's value, for the log redactor."""
    values = [ps.api_key.get_secret_value() for ps in settings.providers() if ps.api_key]
    if settings.admin_token:
        values.append(settings.admin_token.get_secret_value())
    return values
