"""FastAPI dependencies, as Annotated aliases (swap them with app.dependency_overrides)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from assistant.api.state import ServiceState
from assistant.config import Settings
from assistant.retrieval import Retriever


def get_state(request: Request) -> ServiceState:
    """The app's loaded state."""
    return request.app.state.service


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.service.settings


def get_retriever(state: Annotated[ServiceState, Depends(get_state)]) -> Retriever:
    """The retriever over the live index generation."""
    return state.retriever()


StateDep = Annotated[ServiceState, Depends(get_state)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RetrieverDep = Annotated[Retriever, Depends(get_retriever)]
