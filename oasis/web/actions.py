"""Console decisions besides approve/reject: acknowledge or resolve an incident, Accept or
Discharge an event waiting for a person, move a ticket on.

Each is two steps, like approving: GET shows what will happen (and changes nothing, so a
prefetch or a scanner cannot decide), POST does it. The POST calls the same code as the
JSON API (the responder, the triage flow, the ticket store), so the timeline and the
audit trail cannot tell where a decision was taken. Refusals are pages: 403 for a role
too low or a form without its CSRF token, 404 for an unknown id, 409 for a move the
incident's, event's or ticket's state does not allow now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from oasis.auth import Principal, Role
from oasis.incidents import Incident, NotFoundError, Status
from oasis.incidents.lifecycle import IllegalTransition, check_transition
from oasis.respond import DecisionError
from oasis.triage.acknowledge import Verdict
from oasis.triage.tickets import (
    NEXT_STATUS,
    IllegalTicketTransition,
    Ticket,
    TicketNotFound,
    TicketStatus,
)
from oasis.web.render import CsrfToken, forbidden, guard, page, problem, viewer

router = APIRouter(include_in_schema=False)
Who = Annotated[Principal, Depends(viewer)]
Note = Annotated[str, Form(max_length=2000)]
INCIDENT_MOVES = {"acknowledge": Role.RESPONDER, "resolve": Role.RESPONDER}
EVENT_DECISIONS = {"accept": True, "discharge": False}


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What a confirmation page says, and where its form posts."""

    title: str
    facts: list[tuple[str, str]]
    outcome: str
    post_to: str
    button: str
    style: str
    back: str
    fields: dict[str, str] = field(default_factory=dict)


def _confirm(request: Request, who: Principal, c: Confirmation) -> HTMLResponse:
    return page(request, "confirm_action.html", principal=who, c=c)


def _not_now(request: Request, who: Principal, message: str) -> HTMLResponse:
    return problem(request, who, 409, "Not possible now", message)


# -- incidents ------------------------------------------------------------------------------
async def _incident(request: Request, who: Principal, incident_id: str,
                    move: str) -> Incident | HTMLResponse:
    """The incident `move` may apply to now, or the page saying why not."""
    try:
        incident = await run_in_threadpool(request.app.state.incidents.get, incident_id[:40])
    except NotFoundError:
        return problem(request, who, 404, "No such incident",
                       f"there is no incident {incident_id!r}")
    blocker = _incident_blocker(incident, move)
    return _not_now(request, who, blocker) if blocker else incident


def _incident_blocker(incident: Incident, move: str) -> str | None:
    if incident.status is Status.RESOLVED:
        return f"incident {incident.id} is resolved already; a recurrence opens a new one"
    if move == "resolve":
        try:  # the lifecycle's own rule: nobody resolves while OASIS is acting
            check_transition(incident.status, Status.RESOLVED)
        except IllegalTransition as exc:
            return f"{exc}; wait for the running action to finish, then resolve"
    return None


def _incident_confirmation(incident: Incident, move: str, proposed: int) -> Confirmation:
    here = f"/incidents/{quote(incident.id, safe='')}"
    facts = [("Incident", f"{incident.title} ({incident.id})"),
             ("Status", incident.status.value.replace("_", " ")),
             ("Services", ", ".join(incident.services))]
    if move == "acknowledge":
        return Confirmation("Acknowledge this incident?", facts,
                            "The timeline and the audit trail record that you are on it; "
                            "the status stays as it is.", f"{here}/acknowledge",
                            "Yes, acknowledge", "approve", here)
    withdrawn = (f" {proposed} proposed action{'s are' if proposed > 1 else ' is'} "
                 "withdrawn." if proposed else "")
    return Confirmation("Resolve this incident?", facts,
                        "Resolving closes it for good and sends the final report; a "
                        f"recurrence opens a new incident.{withdrawn}", f"{here}/resolve",
                        "Yes, resolve", "reject", here)


@router.get("/incidents/{incident_id}/{move}", response_class=HTMLResponse)
async def confirm_incident_move(request: Request, incident_id: str, move: str,
                                who: Who) -> Response:
    """The confirmation step for acknowledge or resolve (responder role)."""
    if move not in INCIDENT_MOVES:
        return problem(request, who, 404, "Unknown action",
                       f"{move!r} is not one of {', '.join(INCIDENT_MOVES)}")
    if not who.role.allows(INCIDENT_MOVES[move]):
        return forbidden(request, who, INCIDENT_MOVES[move])
    found = await _incident(request, who, incident_id, move)
    if isinstance(found, Response):
        return found
    taken = await run_in_threadpool(request.app.state.actions.for_incident, found.id)
    proposed = sum(1 for a in taken if a.status.value == "proposed")
    return _confirm(request, who, _incident_confirmation(found, move, proposed))


@router.post("/incidents/{incident_id}/{move}", response_class=HTMLResponse)
async def incident_move(request: Request, incident_id: str, move: str, who: Who,
                        note: Note = "", csrf_token: CsrfToken = "") -> Response:
    if move not in INCIDENT_MOVES:
        return problem(request, who, 404, "Unknown action",
                       f"{move!r} is not one of {', '.join(INCIDENT_MOVES)}")
    refused = guard(request, who, INCIDENT_MOVES[move], csrf_token)
    if refused is not None:
        return refused
    found = await _incident(request, who, incident_id, move)
    if isinstance(found, Response):
        return found
    responder = request.app.state.responder
    act = responder.acknowledge if move == "acknowledge" else responder.resolve
    try:
        await run_in_threadpool(act, found.id, who.name, note)
    except NotFoundError:
        return problem(request, who, 404, "No such incident", f"no incident {incident_id!r}")
    except DecisionError as exc:  # the state changed between the check and the call
        return problem(request, who, exc.status, "Not possible now", str(exc))
    return RedirectResponse(f"/incidents/{quote(found.id, safe='')}", status_code=303)


# -- events (OHERO) -------------------------------------------------------------------------
def _triage_missing(request: Request, who: Principal) -> HTMLResponse:
    reason = getattr(request.app.state, "triage_problem", "triage is not configured")
    return problem(request, who, 503, "Triage is not configured", reason)


async def _waiting_event(request: Request, who: Principal, decision: str,
                         key: str) -> Any:
    """The event record a person may Accept or Discharge, or the page saying why not."""
    if decision not in EVENT_DECISIONS:
        return problem(request, who, 404, "Unknown decision",
                       f"{decision!r} is not one of {', '.join(EVENT_DECISIONS)}")
    kit = request.app.state.triage
    if kit is None:
        return _triage_missing(request, who)
    if not key:
        return problem(request, who, 400, "Which event?", "the event key is missing")
    record = await run_in_threadpool(kit.events.get, key)
    if record is None:
        return problem(request, who, 404, "No such event", f"there is no event {key!r}")
    if record.verdict != Verdict.ASK.value:
        return _not_now(request, who, f"event {key} is {record.verdict or 'undecided'}; "
                        "only events waiting for a person can be accepted or discharged")
    return record


@router.get("/events/{decision}", response_class=HTMLResponse)
async def confirm_event_decision(request: Request, decision: str, who: Who,
                                 key: Annotated[str, Query(max_length=512)] = "") -> Response:
    """The confirmation step for Accept or Discharge (approver role)."""
    if not who.role.allows(Role.APPROVER):
        return forbidden(request, who, Role.APPROVER)
    record = await _waiting_event(request, who, decision, key)
    if isinstance(record, Response):
        return record
    accept = EVENT_DECISIONS[decision]
    outcome = ("Accepted, it is triaged now: a ticket for the owner team, the stakeholder "
               "teams told, each by their own channel." if accept else
               "Discharged, it is closed without tickets.")
    return _confirm(request, who, Confirmation(
        f"{decision.capitalize()} this event?",
        [("Event", record.event.title), ("Source", record.event.source), ("Key", record.key),
         ("Why a person decides", record.reason or "")],
        outcome, f"/events/{decision}", f"Yes, {decision}",
        "approve" if accept else "reject", "/events", {"key": record.key}))


@router.post("/events/{decision}", response_class=HTMLResponse)
async def event_decision(request: Request, decision: str, who: Who,
                         key: Annotated[str, Form(max_length=512)] = "", note: Note = "",
                         csrf_token: CsrfToken = "") -> Response:
    refused = guard(request, who, Role.APPROVER, csrf_token)
    if refused is not None:
        return refused
    record = await _waiting_event(request, who, decision, key)
    if isinstance(record, Response):
        return record
    flow = request.app.state.triage.flow
    try:
        await run_in_threadpool(flow.decide, record.key, EVENT_DECISIONS[decision], who.name,
                                note)
    except KeyError:
        return problem(request, who, 404, "No such event", f"there is no event {key!r}")
    except ValueError as exc:  # decided by someone else meanwhile
        return _not_now(request, who, str(exc))
    return RedirectResponse("/events", status_code=303)


# -- tickets --------------------------------------------------------------------------------
async def _movable_ticket(request: Request, who: Principal, ticket_id: str,
                          to: str) -> tuple[Ticket, TicketStatus] | HTMLResponse:
    """The ticket and the status it may move to now, or the page saying why not."""
    kit = request.app.state.triage
    if kit is None:
        return _triage_missing(request, who)
    try:
        target = TicketStatus.parse(to)
    except ValueError as exc:
        return problem(request, who, 400, "Unknown status", str(exc))
    ticket = await run_in_threadpool(kit.tickets.get, ticket_id[:100])
    if ticket is None:
        return problem(request, who, 404, "No such ticket", f"there is no ticket {ticket_id!r}")
    if target not in NEXT_STATUS[ticket.status]:
        allowed = " or ".join(s.value for s in NEXT_STATUS[ticket.status])
        return _not_now(request, who, f"ticket {ticket.id} is {ticket.status.value}; it can "
                        f"move to {allowed or 'nothing (it is closed)'}, not {target.value}")
    return ticket, target


@router.get("/tickets/{ticket_id}/status", response_class=HTMLResponse)
async def confirm_ticket_status(request: Request, ticket_id: str, who: Who,
                                to: Annotated[str, Query(max_length=40)] = "") -> Response:
    """The confirmation step for moving a ticket on (responder role)."""
    if not who.role.allows(Role.RESPONDER):
        return forbidden(request, who, Role.RESPONDER)
    found = await _movable_ticket(request, who, ticket_id, to)
    if isinstance(found, Response):
        return found
    ticket, target = found
    return _confirm(request, who, Confirmation(
        f"Move this ticket to {target.value}?",
        [("Ticket", f"{ticket.title} ({ticket.id})"), ("Team", f"{ticket.team} ({ticket.role})"),
         ("Status", f"{ticket.status.value} → {target.value}")],
        "The ticket's history and the audit trail record the move under your name"
        + ("; its Jira issue moves too." if ticket.external_id else "."),
        f"/tickets/{quote(ticket.id, safe='')}/status", f"Yes, move to {target.value}",
        "approve", "/tickets", {"status": target.value}))


@router.post("/tickets/{ticket_id}/status", response_class=HTMLResponse)
async def ticket_status(request: Request, ticket_id: str, who: Who,
                        status: Annotated[str, Form(max_length=40)] = "", note: Note = "",
                        csrf_token: CsrfToken = "") -> Response:
    refused = guard(request, who, Role.RESPONDER, csrf_token)
    if refused is not None:
        return refused
    found = await _movable_ticket(request, who, ticket_id, status)
    if isinstance(found, Response):
        return found
    ticket, target = found
    flow = request.app.state.triage.flow
    try:
        await run_in_threadpool(flow.move_ticket, ticket.id, target, who.name, note)
    except TicketNotFound:
        return problem(request, who, 404, "No such ticket", f"there is no ticket {ticket_id!r}")
    except IllegalTicketTransition as exc:  # moved by someone else meanwhile
        return _not_now(request, who, str(exc))
    return RedirectResponse("/tickets", status_code=303)
