"""Operational events in, decisions and tickets out.

    POST /api/v1/events               AWS Health, Security Hub (ASFF), CloudWatch alarm,
                                      Alertmanager, cost anomaly: raw or EventBridge-wrapped,
                                      one payload or a JSON list of them
    POST /api/v1/events/report        a person reports an event in words
    GET  /api/v1/events[/{key}]       what was received and decided, and why
    POST /api/v1/events/accept|discharge   a person settles what the policy could not
    GET  /api/v1/tickets[/{id}]       tickets per team

Bodies over `triage.max_body_kb` are 413; JSON that is no known event shape, or misses or
mistypes a field, is 422 naming it; a full queue is 429 with Retry-After. SNS messages are
verified first (403 when unsigned or forged); a SubscriptionConfirmation is confirmed. In a batch (a
list, an alert group, a findings batch) the readable events are kept and the others listed
in `rejected` with the reason; only a body with nothing readable is 422.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from oasis.api.event_bodies import EVENTS_BODY
from oasis.api.routes.actions import Approver, Responder, actor_of
from oasis.triage.flow import QueueFull
from oasis.triage.parse import parse_batch
from oasis.triage.sns import looks_like_sns

router = APIRouter(prefix="/api/v1", tags=["events and tickets"])


def _kit(request: Request) -> Any:
    kit = getattr(request.app.state, "triage", None)
    if kit is None:
        raise HTTPException(503, getattr(request.app.state, "triage_problem",
                                         "triage is not configured"))
    return kit


async def _body(request: Request) -> Any:
    limit = request.app.state.settings.triage.max_body_kb * 1024
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body over {limit // 1024} KB; send events one by one")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise HTTPException(413, f"body over {limit // 1024} KB; send events one by one")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(422, f"body is not valid JSON: {exc}") from None


def _submit(request: Request, kit: Any, body: Any, wait: bool) -> JSONResponse:
    now = datetime.now(UTC)
    if looks_like_sns(body):  # verified before anything in it is believed (403 if not)
        admitted = kit.sns.admit(body)
        if admitted.kind != "Notification":
            return JSONResponse({"type": admitted.kind, "topic": admitted.topic,
                                 "confirmed": admitted.confirmed})
    batch = parse_batch(body, received_at=now)
    events = batch.events
    if not events:  # nothing readable: the reasons, as for any bad body
        raise HTTPException(422, "; ".join(batch.rejected) or "no events in the body")
    if wait:
        results = [kit.flow.handle(e, now).to_dict() for e in events]
        return JSONResponse({"processed": len(results), "results": results,
                             "rejected": batch.rejected})
    try:
        kit.queue.submit(events)
    except QueueFull as exc:
        return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": "5"})
    return JSONResponse({"accepted": len(events), "keys": [e.key for e in events],
                         "rejected": batch.rejected}, status_code=202)


@router.post("/events", status_code=202, openapi_extra=EVENTS_BODY, responses={
    413: {"description": "Body too large"}, 422: {"description": "Not a known event shape"},
    429: {"description": "Queue full; retry after the given seconds"},
    503: {"description": "Triage not configured"}})
async def receive_events(request: Request, _who: Responder, wait: Annotated[bool, Query(
        description="Process before answering and return the decisions")] = False) -> Any:
    """Receive provider health events, security findings, alarms and cost anomalies."""
    kit = _kit(request)
    body = await _body(request)
    return await run_in_threadpool(_submit, request, kit, body, wait)


class ReportIn(BaseModel):
    text: str = Field(min_length=3, max_length=10_000, description="What is happening")
    reporter: str = Field(min_length=1, max_length=200)
    accounts: list[str] = Field(default_factory=list, max_length=100)
    service: str | None = Field(None, max_length=100)
    region: str | None = Field(None, max_length=50)


@router.post("/events/report", status_code=202)
async def report_event(body: ReportIn, request: Request, who: Responder,
                       wait: bool = False) -> Any:
    """A person reports an operational event; it goes through Acknowledge and Triage."""
    kit = _kit(request)
    payload = {"type": "report", "id": uuid.uuid4().hex, **body.model_dump(),
               "reporter": actor_of(who, body.reporter)}
    return await run_in_threadpool(_submit, request, kit, payload, wait)


@router.get("/events")
async def list_events(request: Request, verdict: str | None = None,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict]:
    kit = _kit(request)
    found = await run_in_threadpool(kit.events.list, verdict=verdict, limit=limit)
    return [r.to_dict() for r in found]


class DecisionIn(BaseModel):
    key: str = Field(min_length=1, max_length=512)
    actor: str = Field(min_length=1, max_length=200)
    note: str = Field("", max_length=2000)


async def _decide(request: Request, body: DecisionIn, accept: bool, actor: str) -> dict:
    kit = _kit(request)
    try:
        result = await run_in_threadpool(kit.flow.decide, body.key, accept, actor, body.note)
    except KeyError:
        raise HTTPException(404, f"no event {body.key!r}") from None
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return result.to_dict()


@router.post("/events/accept")
async def accept_event(body: DecisionIn, request: Request, who: Approver) -> dict:
    """Accept an event the policy left to a person (approver role): it is triaged now."""
    return await _decide(request, body, True, actor_of(who, body.actor))


@router.post("/events/discharge")
async def discharge_event(body: DecisionIn, request: Request, who: Approver) -> dict:
    """Discharge an event the policy left to a person (approver role): no tickets."""
    return await _decide(request, body, False, actor_of(who, body.actor))


@router.get("/events/{key:path}")
async def get_event(key: str, request: Request) -> dict:
    """One event by its key (an event ARN, a finding id, ...), with its tickets."""
    kit = _kit(request)
    record = await run_in_threadpool(kit.events.get, key)
    if record is None:
        raise HTTPException(404, f"no event {key!r}")
    tickets = await run_in_threadpool(kit.tickets.for_event, key)
    return {**record.to_dict(), "tickets": [t.model_dump(mode="json") for t in tickets]}


@router.get("/tickets")
async def list_tickets(request: Request, team: str | None = None, status: str | None = None,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict]:
    kit = _kit(request)
    try:
        found = await run_in_threadpool(kit.tickets.list, team=team, status=status,
                                        limit=limit)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return [t.model_dump(mode="json") for t in found]


class StatusIn(BaseModel):
    status: str = Field(description="Acknowledged, In progress, Resolved or Discharged")
    actor: str = Field(min_length=1, max_length=200)
    note: str = Field("", max_length=2000)


@router.post("/tickets/{ticket_id}/status", responses={
    404: {"description": "No such ticket"}, 409: {"description": "Not the next status"}})
async def set_ticket_status(ticket_id: Annotated[str, Path(max_length=100)], body: StatusIn,
                            request: Request, who: Responder) -> dict:
    """Move a ticket on (New → Acknowledged → In progress → Resolved / Discharged)."""
    from oasis.triage.tickets import IllegalTicketTransition, TicketNotFound

    kit = _kit(request)
    try:
        ticket = await run_in_threadpool(kit.flow.move_ticket, ticket_id, body.status,
                                         actor_of(who, body.actor), body.note)
    except TicketNotFound:
        raise HTTPException(404, f"no ticket {ticket_id!r}") from None
    except IllegalTicketTransition as exc:
        raise HTTPException(409, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return ticket.model_dump(mode="json")


@router.get("/tickets/{ticket_id}")
async def get_ticket(ticket_id: Annotated[str, Path(max_length=100)],
                     request: Request) -> dict:
    kit = _kit(request)
    ticket = await run_in_threadpool(kit.tickets.get, ticket_id)
    if ticket is None:
        raise HTTPException(404, f"no ticket {ticket_id!r}")
    return ticket.model_dump(mode="json")


class ActIn(BaseModel):
    text: str = Field(min_length=1, max_length=10_000, description="What the person wrote")
    reporter: str = Field(min_length=1, max_length=200)
    service: str | None = Field(None, max_length=100)


@router.post("/act")
async def act(body: ActIn, request: Request, who: Responder) -> dict:
    """Words from a person: a report is acknowledged and triaged, a question is answered
    from the knowledge base (the OheroACT flow). Each step is audited."""
    act = request.app.state.services.act
    result = await run_in_threadpool(act.handle, body.text, actor_of(who, body.reporter),
                                     service=body.service)
    return result.to_dict()
