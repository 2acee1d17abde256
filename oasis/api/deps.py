"""Dependencies the routes ask for; tests swap them through `app.state`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from oasis.config import Settings
from oasis.incidents import IncidentStore
from oasis.ingest import Ingestor
from oasis.store import SignalStore


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> SignalStore:
    return request.app.state.store


def get_ingestor(
    store: Annotated[SignalStore, Depends(get_store)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> Ingestor:
    return Ingestor(
        store, batch_size=settings.ingest.batch_size, max_errors=settings.ingest.max_errors
    )


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[SignalStore, Depends(get_store)]
IngestorDep = Annotated[Ingestor, Depends(get_ingestor)]


def get_incidents(request: Request) -> IncidentStore:
    return request.app.state.incidents


IncidentsDep = Annotated[IncidentStore, Depends(get_incidents)]

