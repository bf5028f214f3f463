"""Composition root: ``create_app(settings=None) -> FastAPI``.

Settings are built once here (or passed in by tests and the CLI); the lifespan opens the
Container and hands it to every request through lifespan state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from marketsvc import __version__
from marketsvc.api.errors import install_error_handlers
from marketsvc.api.middleware import BodyLimitMiddleware
from marketsvc.api.routes import market, probes
from marketsvc.config import Settings
from marketsvc.container import open_container, secret_values
from marketsvc.logs import configure_logging

DESCRIPTION = """One entry point for market data (crypto and stock prices, history, news,
fundamentals, technical indicators) across rate-limited public providers, with a three-tier
cache, a call planner that keeps every provider within its limits, and fallback across
providers. Errors are `application/problem+json` (RFC 9457)."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level, secret_values(settings))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with open_container(settings) as container:
            yield {"container": container}

    app = FastAPI(
        title="marketsvc",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=64 * 1024)
    app.include_router(probes.router)
    app.include_router(market.router)
    return app
