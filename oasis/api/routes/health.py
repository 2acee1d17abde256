"""`GET /healthz`: the service is up and its store answers."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from oasis.api.deps import SettingsDep, StoreDep
from oasis.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz(store: StoreDep, settings: SettingsDep) -> Health:
    await run_in_threadpool(store.services)  # raises, and so fails the check, if the store is down
    return Health(status="ok", time=datetime.now(UTC), store=settings.store.backend)
