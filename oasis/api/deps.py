"""Dependencies the routes ask for, all read from the app's `Services`
(`app.state.services`, opened by `oasis.runtime.services.open_services` at start)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from oasis.api.admission import IngestAdmission
from oasis.config import Settings
from oasis.incidents import IncidentStore
from oasis.ingest import Ingestor
from oasis.runtime.services import Services, open_ingestor
from oasis.store import SignalStore


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings(services: ServicesDep) -> Settings:
    return services.settings


def get_store(services: ServicesDep) -> SignalStore:
    return services.store


def get_ingestor(
    store: Annotated[SignalStore, Depends(get_store)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> Ingestor:
    return open_ingestor(settings, store)


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[SignalStore, Depends(get_store)]
IngestorDep = Annotated[Ingestor, Depends(get_ingestor)]


def get_incidents(services: ServicesDep) -> IncidentStore:
    return services.incidents


IncidentsDep = Annotated[IncidentStore, Depends(get_incidents)]


def get_admission(request: Request) -> IngestAdmission:
    return request.app.state.admission


AdmissionDep = Annotated[IngestAdmission, Depends(get_admission)]
