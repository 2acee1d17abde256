"""People's decisions over the API: approve or reject a proposed action, resolve, acknowledge.

Every decision names its actor; it goes on the incident's timeline and the audit trail.
Moves the lifecycle does not allow are answered 409 with the reason.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from oasis.api.deps import IncidentsDep
from oasis.api.response_deps import ResponderDep
from oasis.auth import Principal, Role, require

router = APIRouter(prefix="/api/v1/incidents", tags=["decisions"])
IncidentId = Annotated[str, Path(max_length=40, description="Incident id")]
ActionId = Annotated[str, Path(max_length=64, description="Action id, from the incident")]
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such incident or action"},
    409: {"description": "Not allowed in the incident's or action's current state"}}


Approver = Annotated[Principal, require(Role.APPROVER)]
Responder = Annotated[Principal, require(Role.RESPONDER)]


def actor_of(principal: Principal, claimed: str) -> str:
    """Who decided: the signed-in person; the claimed name only when auth is off."""
    return claimed if principal.via == "local" else principal.name


class DecisionIn(BaseModel):
    actor: str = Field(min_length=1, max_length=200, description="Who decides, e.g. an email")
    note: str = Field("", max_length=2000, description="Why, for the timeline")


async def _call(fn: Any, *args: Any) -> None:
    # No such incident (404) and refused decisions (409, or the DecisionError's status)
    # are answered by oasis.api.errors.
    await run_in_threadpool(fn, *args)


@router.post("/{incident_id}/actions/{action_id}/approve", responses=ERRORS)
async def approve(incident_id: IncidentId, action_id: ActionId, body: DecisionIn,
                  responder: ResponderDep, incidents: IncidentsDep,
                  who: Approver) -> dict[str, Any]:
    """Approve a proposed action (approver role); the deployment specialist runs it within
    seconds."""
    await _call(responder.approve, incident_id, action_id, actor_of(who, body.actor),
                body.note)
    return (await run_in_threadpool(incidents.get, incident_id)).to_dict(timeline=False)


@router.post("/{incident_id}/actions/{action_id}/reject", responses=ERRORS)
async def reject(incident_id: IncidentId, action_id: ActionId, body: DecisionIn,
                 responder: ResponderDep, incidents: IncidentsDep,
                 who: Approver) -> dict[str, Any]:
    """Reject a proposed action (approver role); nothing runs."""
    await _call(responder.reject, incident_id, action_id, actor_of(who, body.actor),
                body.note)
    return (await run_in_threadpool(incidents.get, incident_id)).to_dict(timeline=False)


@router.post("/{incident_id}/resolve", responses=ERRORS)
async def resolve(incident_id: IncidentId, body: DecisionIn, responder: ResponderDep,
                  incidents: IncidentsDep, who: Responder) -> dict[str, Any]:
    """Close an incident that needs no (more) action; pending proposals are withdrawn."""
    await _call(responder.resolve, incident_id, actor_of(who, body.actor), body.note)
    return (await run_in_threadpool(incidents.get, incident_id)).to_dict(timeline=False)


@router.post("/{incident_id}/acknowledge", responses=ERRORS)
async def acknowledge(incident_id: IncidentId, body: DecisionIn, responder: ResponderDep,
                      incidents: IncidentsDep, who: Responder) -> dict[str, Any]:
    """Say someone is on it; the status does not change."""
    await _call(responder.acknowledge, incident_id, actor_of(who, body.actor), body.note)
    return (await run_in_threadpool(incidents.get, incident_id)).to_dict(timeline=False)
