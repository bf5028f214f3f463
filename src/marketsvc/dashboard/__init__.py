"""The operator's dashboard at ``/dashboard`` (Jinja2 pages, vendored uPlot, live SSE)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from marketsvc.dashboard.routes import PREFIX, Dashboard, build_router

HERE = Path(__file__).parent


def install_dashboard(app: FastAPI) -> None:
    templates = Jinja2Templates(directory=HERE / "templates")
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="dashboard-static")
    app.include_router(build_router(Dashboard(templates)))
