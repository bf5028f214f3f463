"""Composition root: ``create_app(settings=None) -> FastAPI``.

Settings are built once here (or passed in by tests and the CLI); the lifespan opens the
Container and hands it to every request through lifespan state.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from marketsvc import __version__
from marketsvc.agents import build_mcp_server, mcp_routes
from marketsvc.api.bodies import RequestBodyMiddleware
from marketsvc.api.client_keys import ClientKeyMiddleware, fast_path_admission
from marketsvc.api.docs_ui import install_docs
from marketsvc.api.errors import install_error_handlers
from marketsvc.api.fast_path import FastPathMiddleware
from marketsvc.api.middleware import AdmissionMiddleware, InFlight, MetricsMiddleware
from marketsvc.api.routes import (
    analytics,
    charts,
    generic,
    keys,
    market,
    ops,
    probes,
    search,
    streams,
)
from marketsvc.api.slashes import StripTrailingSlashMiddleware
from marketsvc.config import Settings
from marketsvc.container import open_container, secret_values
from marketsvc.dashboard import install_dashboard
from marketsvc.logs import configure_logging
from marketsvc.metrics import ServiceMetrics
from marketsvc.monitor import open_monitor

DESCRIPTION = """One entry point for market data (crypto and stock prices, history, news,
fundamentals, technical indicators) across rate-limited public providers, with a three-tier
cache, a call planner that keeps every provider within its limits, and fallback across
providers. Errors are `application/problem+json` (RFC 9457)."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level, secret_values(settings))
    metrics = ServiceMetrics()
    # MCP at /mcp (agents/): its session manager lives exactly as long as the Container.
    mcp_route_list, mcp_sessions = mcp_routes(build_mcp_server())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with (
            open_container(settings, metrics) as container,
            open_monitor(container) as monitor,
            mcp_sessions.run(),
        ):
            app.state.container = container  # for tests and diagnostics; requests use state
            # Everything built so far lives as long as the process: move it out of the
            # collector's reach, so full collections under load stay short (a 70 ms stall
            # measured by the reliability suite before this).
            gc.collect()
            gc.freeze()
            metrics.stalls.start()
            try:
                yield {"container": container, "monitor": monitor}
            finally:
                await metrics.stalls.stop()
                app.state.container = None

    app = FastAPI(
        title="marketsvc",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # Never redirect: Starlette builds the Location from the request's Host header.
        redirect_slashes=False,
        # Short, stable operation ids for generated clients: a route without an explicit one
        # is named by its handler (get_usage, not own_usage_api_market_usage_get).
        generate_unique_id_function=lambda route: route.name,
        # /docs and /redoc come from install_docs: FastAPI's own load their assets from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(StripTrailingSlashMiddleware)  # innermost: only routing sees it
    app.add_middleware(RequestBodyMiddleware, max_bytes=64 * 1024)
    # Outside the body check (a request without a key is refused before its body is read),
    # inside the metrics (refusals are counted).
    app.add_middleware(ClientKeyMiddleware, required=settings.api_keys_required)
    # An overloaded process refuses work before doing any.
    gate = InFlight(settings.max_inflight_requests)
    app.add_middleware(AdmissionMiddleware, limit=gate.limit, gate=gate)
    # Every answer, a refused one too, gets a request id, an access line and a count.
    app.add_middleware(MetricsMiddleware, metrics=lambda: metrics)
    # Outermost: fresh L1 price answers skip the layers above and FastAPI (api/fast_path.py).
    # A client key is answered here only when it is valid, held in memory and unlimited (and
    # metered as on the route); any other keyed or key-less-but-required request goes the
    # normal way, where the key is checked, limited and metered in full.
    app.add_middleware(
        FastPathMiddleware,
        metrics=lambda: metrics,
        gate=gate,
        allow=fast_path_admission(settings.api_keys_required),
    )
    # Routes are matched in this order: the hot data routes first.
    app.include_router(market.router)
    app.include_router(analytics.router)
    app.include_router(streams.router)
    app.include_router(generic.router)
    app.include_router(search.router)
    app.include_router(charts.router)
    app.include_router(ops.router)
    app.include_router(ops.admin)
    app.include_router(keys.router)
    app.include_router(keys.admin)
    app.include_router(probes.router)
    app.router.routes.extend(mcp_route_list)
    install_docs(app)
    install_dashboard(app)
    return app
