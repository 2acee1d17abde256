"""`GET /healthz`: the service is up and its store answers; degraded while a source fails.
`GET /metrics`: OASIS's own health in Prometheus' text format."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from oasis.api.deps import ServicesDep
from oasis.api.schemas import Health, SourceStatus
from oasis.runtime.metrics import CONTENT_TYPE

router = APIRouter(tags=["health"])
metrics_router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz(services: ServicesDep) -> Health:
    # Raises, and so fails the check, if the store is down.
    await run_in_threadpool(services.store.services)
    failing = [SourceStatus(**{k: h[k] for k in ("name", "kind", "status", "failing_since")})
               for h in services.degraded_sources()]
    return Health(status="degraded" if failing else "ok", time=datetime.now(UTC),
                  store=services.settings.store.backend, sources=failing)


@metrics_router.get("/metrics", response_class=Response,
                    responses={200: {"content": {CONTENT_TYPE: {}},
                                     "description": "Prometheus text format"}})
async def metrics(services: ServicesDep) -> Response:
    """Records ingested and rejected by path, detection cycle duration, incidents by
    status, approvals waiting, the notification outbox, and each source's queries, errors
    and lag."""
    body = await run_in_threadpool(services.metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE)
