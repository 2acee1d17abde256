"""Console pages for the OHERO side and the records: events, tickets, knowledge, audit.
(Their buttons, Accept/Discharge and ticket moves, are in `oasis.web.actions`.)

Events and tickets exist only when triage is configured; otherwise the pages say why
instead of failing. The audit export is admin-only: the trail names every actor.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.background import BackgroundTask

from oasis.auth import Principal, Role
from oasis.triage.acknowledge import Verdict
from oasis.triage.tickets import NEXT_STATUS
from oasis.web.render import forbidden, page, problem, viewer

router = APIRouter(include_in_schema=False)
Who = Annotated[Principal, Depends(viewer)]
LIMIT = 100  # rows per page; the JSON API pages further


def _triage_problem(request: Request) -> str:
    return getattr(request.app.state, "triage_problem", "triage is not configured")


@router.get("/events", response_class=HTMLResponse)
async def events_page(
    request: Request,
    who: Who,
    verdict: Annotated[str, Query(max_length=40)] = "",
    key: Annotated[str, Query(max_length=512)] = "",
) -> Response:
    """All events, or with `key` one event and its tickets (the page messages link to)."""
    kit = request.app.state.triage
    if kit is None:
        return page(
            request,
            "unconfigured.html",
            principal=who,
            title="Events",
            reason=_triage_problem(request),
        )
    if key:
        return await _event_page(request, who, key)
    known = [v.value for v in Verdict]
    if verdict and verdict.lower() not in known:
        return page(
            request,
            "events.html",
            status=400,
            principal=who,
            events=[],
            verdict=verdict,
            error=f"unknown verdict {verdict!r}; one of {', '.join(known)}",
        )
    found = await run_in_threadpool(kit.events.list, verdict=verdict.lower() or None, limit=LIMIT)
    return page(request, "events.html", principal=who, events=found, verdict=verdict)


async def _event_page(request: Request, who: Principal, key: str) -> Response:
    kit = request.app.state.triage
    record = await run_in_threadpool(kit.events.get, key)
    if record is None:
        return problem(request, who, 404, "No such event", f"there is no event {key!r}")
    tickets = await run_in_threadpool(kit.tickets.for_event, key)
    return page(request, "event.html", principal=who, record=record, tickets=tickets)


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
async def ticket_page(request: Request, ticket_id: str, who: Who) -> Response:
    """One ticket: what to do, its event, its history and the moves open to it."""
    kit = request.app.state.triage
    if kit is None:
        return page(
            request,
            "unconfigured.html",
            principal=who,
            title="Tickets",
            reason=_triage_problem(request),
        )
    ticket = await run_in_threadpool(kit.tickets.get, ticket_id[:100])
    if ticket is None:
        return problem(request, who, 404, "No such ticket", f"there is no ticket {ticket_id!r}")
    record = await run_in_threadpool(kit.events.get, ticket.event_key)
    return page(
        request,
        "ticket.html",
        principal=who,
        t=ticket,
        record=record,
        moves=NEXT_STATUS.get(ticket.status, ()),
    )


@router.get("/tickets", response_class=HTMLResponse)
async def tickets_page(
    request: Request,
    who: Who,
    team: Annotated[str, Query(max_length=100)] = "",
    status: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    kit = request.app.state.triage
    if kit is None:
        return page(
            request,
            "unconfigured.html",
            principal=who,
            title="Tickets",
            reason=_triage_problem(request),
        )
    try:
        found = await run_in_threadpool(
            kit.tickets.list, team=team or None, status=status or None, limit=LIMIT
        )
    except ValueError as exc:
        return page(
            request,
            "tickets.html",
            status=400,
            principal=who,
            tickets=[],
            team=team,
            ticket_status=status,
            error=str(exc),
            next_status={},
        )
    return page(
        request,
        "tickets.html",
        principal=who,
        tickets=found,
        team=team,
        ticket_status=status,
        next_status=NEXT_STATUS,
    )


@router.get("/knowledge", response_class=HTMLResponse)
async def knowledge_page(
    request: Request, who: Who, q: Annotated[str, Query(max_length=2000)] = ""
) -> Response:
    answer, error = None, None
    if q.strip():
        try:
            answer = await run_in_threadpool(request.app.state.knowledge.consult, q.strip())
        except Exception as exc:  # a failing model or index is shown, not a 500
            error = f"could not consult the knowledge base: {exc}"
    return page(request, "knowledge.html", principal=who, q=q, answer=answer, error=error)


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    who: Who,
    kind: Annotated[str, Query(max_length=100)] = "",
    subject: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    audit = request.app.state.response.audit
    result = await run_in_threadpool(audit.verify)
    records = await run_in_threadpool(
        lambda: audit.records(kind=kind or None, subject=subject or None, limit=LIMIT)
    )
    return page(
        request,
        "audit.html",
        principal=who,
        result=result,
        records=list(reversed(records)),
        kind=kind,
        subject=subject,
    )


@router.get("/audit/export.jsonl")
async def audit_export(request: Request, who: Who) -> Response:
    """The whole trail as JSON lines, hashes included (admin role)."""
    if not who.role.allows(Role.ADMIN):
        return forbidden(request, who, Role.ADMIN)
    # Written to a temporary file and streamed from it: a long trail never sits in memory.
    folder = Path(tempfile.mkdtemp(prefix="oasis-audit-"))
    path = folder / "audit.jsonl"
    await run_in_threadpool(request.app.state.response.audit.export_jsonl, path)
    return FileResponse(
        path,
        media_type="application/x-ndjson",
        filename="oasis-audit.jsonl",
        background=BackgroundTask(shutil.rmtree, folder, True),
    )
