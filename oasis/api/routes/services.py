"""`GET /api/v1/services`: every service the store has seen."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from oasis.api.deps import StoreDep
from oasis.api.schemas import ServiceOut

router = APIRouter(prefix="/api/v1", tags=["services"])


@router.get("/services", response_model=list[ServiceOut])
async def list_services(store: StoreDep) -> list[ServiceOut]:
    """Services seen in any signal, with counts, first/last time seen and current version."""
    summaries = await run_in_threadpool(store.services)
    return [ServiceOut.model_validate(s, from_attributes=True) for s in summaries]
