"""Error type → HTTP status, rendered as RFC 9457 problem+json; never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from marketsvc.errors import (
    AllProvidersFailedError,
    CallTooHeavyError,
    DeadlineExceededError,
    InvalidInputError,
    MarketsvcError,
    NotFoundError,
    ProviderAuthError,
    ProviderError,
    RateLimitedError,
    SaturatedError,
    SymbolNotFoundError,
)

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"

# (status, title, type slug); the first matching class wins, so subclasses come first.
ERROR_TABLE: list[tuple[type[BaseException], int, str]] = [
    (InvalidInputError, 422, "invalid-input"),
    (NotFoundError, 404, "symbol-not-found"),
    (SymbolNotFoundError, 404, "symbol-not-found"),
    (SaturatedError, 503, "saturated"),
    (CallTooHeavyError, 503, "rate-limit-too-small"),
    (DeadlineExceededError, 503, "deadline-exceeded"),
    (AllProvidersFailedError, 503, "providers-unavailable"),
    (RateLimitedError, 503, "providers-unavailable"),
    (ProviderAuthError, 503, "providers-unavailable"),
    (ProviderError, 503, "providers-unavailable"),
    (MarketsvcError, 503, "unavailable"),
]

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


def problem(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://marketsvc.dev/problems/{slug or status}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM)


def problem_for(exc: BaseException) -> JSONResponse:
    for cls, status, slug in ERROR_TABLE:
        if isinstance(exc, cls):
            headers = None
            retry_after = getattr(exc, "retry_after", None)
            if status == 503:
                headers = {"Retry-After": str(max(1, round(retry_after or 30)))}
            return problem(status, str(exc), slug=slug, headers=headers)
    log.error("unexpected error", exc_info=exc)
    return problem(500, "internal error", slug="internal")


def install_error_handlers(app: FastAPI) -> None:
    async def on_marketsvc(_: Request, exc: Exception) -> JSONResponse:
        return problem_for(exc)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        return problem(
            422, "request validation failed", slug="invalid-input", extra={"errors": errors}
        )

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return problem(500, "internal error", slug="internal")

    app.add_exception_handler(MarketsvcError, on_marketsvc)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
