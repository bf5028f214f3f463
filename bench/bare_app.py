"""The baseline: a bare FastAPI endpoint at the product's path returning the same JSON.

Started by the bench as its own process, served by uvicorn exactly as ``marketsvc serve`` is
(one worker, no access log), so "service ÷ bare" isolates what the product adds on top of
FastAPI. The JSON is an L1 answer captured from the running service (``BENCH_BODY_FILE``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI


def create_bare_app(body: dict[str, Any]) -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/market/price/{symbol}")
    async def price(symbol: str) -> dict[str, Any]:
        return body

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    body = orjson.loads(Path(os.environ["BENCH_BODY_FILE"]).read_bytes())
    uvicorn.run(
        create_bare_app(body),
        host="127.0.0.1",
        port=args.port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
