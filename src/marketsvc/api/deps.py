"""Dependency getters: the Container comes from the lifespan state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from marketsvc.container import Container
from marketsvc.orchestrator import DataOrchestrator


def get_container(request: Request) -> Container:
    container: Container = request.state.container
    return container


def get_orchestrator(request: Request) -> DataOrchestrator:
    return get_container(request).orchestrator


ContainerDep = Annotated[Container, Depends(get_container)]
OrchestratorDep = Annotated[DataOrchestrator, Depends(get_orchestrator)]
