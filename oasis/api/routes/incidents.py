"""`GET /api/v1/incidents[/{id}]`: what detection has found."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from oasis.api.deps import IncidentsDep
from oasis.api.response_deps import ActionsDep, OutboxDep
from oasis.incidents import Severity, Status

router = APIRouter(prefix="/api/v1", tags=["incidents"])


class TimelineEventOut(BaseModel):
    at: datetime
    kind: str
    actor: str
    message: str
    data: dict[str, Any]


class IncidentOut(BaseModel):
    """An incident. Times are UTC; `started_at` is the estimated onset."""

    id: str
    status: Status
    severity: Severity
    title: str
    summary: str
    root_cause_service: str | None
    services: list[str]
    started_at: datetime
    detected_at: datetime
    last_seen_at: datetime
    recovered_at: datetime | None
    suspected_change: dict[str, Any] | None
    root_cause_ranking: list[dict[str, Any]]
    evidence: list[dict[str, Any]]


class IncidentDetailOut(IncidentOut):
    timeline: list[TimelineEventOut]
    actions: list[dict[str, Any]] = Field(
        description="Proposed and taken actions: kind, params, risk, reason, status, steps")
    notifications: list[dict[str, Any]] = Field(
        description="Messages about it per channel: status, attempts, last error")


@router.get("/incidents", response_model=list[IncidentOut])
async def list_incidents(
    incidents: IncidentsDep,
    status: Annotated[list[Status] | None, Query(description="Only these statuses")] = None,
    service: Annotated[str | None, Query(description="Only incidents affecting it")] = None,
    severity: Annotated[Severity | None, Query()] = None,
    active: Annotated[bool | None, Query(
        description="true: symptoms still present; false: recovered")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Incidents, newest detection first."""
    found = await run_in_threadpool(
        incidents.list, status=[s.value for s in status] if status else None, service=service,
        severity=severity.value if severity else None, active=active, limit=limit)
    return [i.to_dict(timeline=False) for i in found]


@router.get("/incidents/{incident_id}", response_model=IncidentDetailOut,
            responses={404: {"description": "No such incident"}})
async def get_incident(incidents: IncidentsDep, actions: ActionsDep, outbox: OutboxDep,
                       incident_id: Annotated[str, Path(max_length=40)]) -> dict[str, Any]:
    """One incident with its evidence, timeline, actions and notifications."""
    incident = await run_in_threadpool(incidents.get, incident_id)  # 404: oasis.api.errors
    taken = await run_in_threadpool(actions.for_incident, incident_id)
    sent = await run_in_threadpool(outbox.for_incident, incident_id)
    return {**incident.to_dict(), "actions": [a.to_dict() for a in taken],
            "notifications": [d.to_dict() for d in sent]}
