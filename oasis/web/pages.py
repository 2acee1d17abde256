"""The web console's pages: login, incidents, one incident, and decisions on its actions.

Server-rendered HTML over the same stores and responder the JSON API uses, so a
decision taken here is the same decision (timeline, audit, execution) as one taken
over the API, Slack or an approval link. Events, tickets, knowledge and audit pages
live in `oasis.web.ops`, the services page in `oasis.web.services`, acknowledge/resolve,
Accept/Discharge and ticket moves in `oasis.web.actions`; all are included here, so the
app mounts one router. Every POST form carries a CSRF token (`oasis.web.csrf`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from oasis.audit import AuditKind
from oasis.auth import COOKIE_NAME, Principal, Role
from oasis.auth.deps import auth_context
from oasis.auth.throttle import LoginLocked
from oasis.incidents import NotFoundError, Severity, Status
from oasis.monitor.monitor import signals_now
from oasis.notify.render import render as render_message
from oasis.respond import DecisionError
from oasis.respond.messages import report_context
from oasis.web import actions, csrf, ops, services
from oasis.web.chart import chart_data, render_svg
from oasis.web.render import CsrfToken, csrf_refused, forbidden, page, problem, safe_next, viewer
from oasis.web.summary import at_a_glance

router = APIRouter(include_in_schema=False)
router.include_router(ops.router)
router.include_router(services.router)
router.include_router(actions.router)
Who = Annotated[Principal, Depends(viewer)]
DECISIONS = ("approve", "reject")
OPEN_ACTIONS = ("proposed",)
LIST_LIMIT = 200  # the newest; older ones are a filter away


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/") -> Response:
    if not auth_context(request).settings.enabled:
        return RedirectResponse(safe_next(next), status_code=303)
    return page(request, "login.html", next=safe_next(next))


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
    csrf_token: CsrfToken = "",
) -> Response:
    auth = auth_context(request)
    if not auth.settings.enabled:
        return RedirectResponse(safe_next(next), status_code=303)
    # Checked before the password, so another site cannot sign a browser in as someone
    # else (login CSRF) nor use the form to guess passwords.
    if not csrf.valid(request, csrf_token):
        return csrf_refused(request, None)
    address = request.client.host if request.client else "unknown"
    try:
        cookie = await run_in_threadpool(auth.login, name, password, address) \
            if name and password else None
    except LoginLocked as exc:
        await run_in_threadpool(_audit_login, request, AuditKind.LOGIN_LOCKED, name, address)
        refused = page(request, "login.html", status=429, next=safe_next(next), name=name,
                       error=exc.message)
        refused.headers["Retry-After"] = str(max(1, int(exc.retry_after.total_seconds() + 1)))
        return refused
    if cookie is None:
        if name and password:
            await run_in_threadpool(_audit_login, request, AuditKind.LOGIN_FAILED, name,
                                    address)
        return page(request, "login.html", status=401, next=safe_next(next), name=name,
                    error="wrong name or password")
    response = RedirectResponse(safe_next(next), status_code=303)
    auth.set_cookie(response, cookie)
    return response


def _audit_login(request: Request, kind: AuditKind, name: str, address: str) -> None:
    services = getattr(request.app.state, "services", None)
    if services is not None:
        services.audit.append(kind, f"address:{address}"[:200], f"user:{name}"[:200])


@router.get("/logout")
async def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME)
    return response


@router.get("/", response_class=HTMLResponse)
async def incident_list(
    request: Request,
    who: Who,
    status: Annotated[str, Query(max_length=40)] = "",
    service: Annotated[str, Query(max_length=100)] = "",
    severity: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    filters = {"status": status, "service": service, "severity": severity}
    try:
        status_v = Status(status).value if status else None
        severity_v = Severity(severity).value if severity else None
    except ValueError as exc:
        return page(
            request,
            "incidents.html",
            status=400,
            principal=who,
            incidents=[],
            filters=filters,
            statuses=list(Status),
            severities=list(Severity),
            error=str(exc),
        )
    found = await run_in_threadpool(
        request.app.state.incidents.list,
        status=[status_v] if status_v else None,
        service=service or None,
        severity=severity_v,
        limit=LIST_LIMIT,
    )
    return page(
        request,
        "incidents.html",
        principal=who,
        incidents=found,
        filters=filters,
        statuses=list(Status),
        severities=list(Severity),
    )


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
async def incident_detail(request: Request, incident_id: str, who: Who) -> Response:
    state = request.app.state
    try:
        incident = await run_in_threadpool(state.incidents.get, incident_id[:40])
    except NotFoundError:
        return problem(
            request, who, 404, "No such incident", f"there is no incident {incident_id!r}"
        )
    taken = await run_in_threadpool(state.actions.for_incident, incident.id)
    now = await run_in_threadpool(signals_now, state.store)
    data = await run_in_threadpool(chart_data, state.store, incident, now or datetime.now(UTC))
    samples = [e for e in incident.evidence if e.get("kind") == "log_samples"]
    findings = [e for e in incident.evidence if e.get("kind") != "log_samples"]
    glance = at_a_glance(incident, taken, now or datetime.now(UTC))
    return page(
        request,
        "incident.html",
        principal=who,
        incident=incident,
        actions=taken,
        glance=glance,
        open_actions=OPEN_ACTIONS,
        findings=findings,
        samples=samples,
        chart=render_svg(data) if data else None,
        chart_data=data,
        report=final_report(state.responder, incident, taken),
    )


def final_report(responder, incident, taken) -> str | None:
    """The resolved incident's final report, as the stakeholders' mail has it (text)."""
    if incident.status is not Status.RESOLVED:
        return None
    state = {
        s: "recovered" if incident.recovered_at else "symptoms may persist"
        for s in incident.services
    }
    context = report_context(incident, taken, responder.approve_settings.public_url, state)
    return render_message("final_report", context).text


@router.get("/incidents/{incident_id}/actions/{action_id}/{decision}", response_class=HTMLResponse)
async def confirm_decision(
    request: Request, incident_id: str, action_id: str, decision: str, who: Who
) -> Response:
    """The confirmation step: what will happen, and a form that POSTs the decision."""
    found = await _action(request, who, incident_id, action_id, decision)
    if isinstance(found, Response):
        return found
    return page(
        request,
        "confirm.html",
        principal=who,
        incident_id=incident_id,
        action=found,
        decision=decision,
    )


@router.post("/incidents/{incident_id}/actions/{action_id}/{decision}", response_class=HTMLResponse)
async def decide(
    request: Request,
    incident_id: str,
    action_id: str,
    decision: str,
    who: Who,
    note: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: CsrfToken = "",
) -> Response:
    found = await _action(request, who, incident_id, action_id, decision)
    if isinstance(found, Response):
        return found
    if not csrf.valid(request, csrf_token, who):
        return csrf_refused(request, who)
    responder = request.app.state.responder
    act = responder.approve if decision == "approve" else responder.reject
    try:
        await run_in_threadpool(act, incident_id, action_id, who.name, note)
    except NotFoundError:
        return problem(request, who, 404, "No such incident", f"no incident {incident_id!r}")
    except DecisionError as exc:
        return problem(request, who, exc.status, "Not possible now", str(exc))
    return RedirectResponse(f"/incidents/{incident_id}", status_code=303)


async def _action(
    request: Request, who: Principal, incident_id: str, action_id: str, decision: str
) -> object:
    """The action to decide on, or the page saying why not (role first: 403 before 404)."""
    if decision not in DECISIONS:
        return problem(
            request,
            who,
            404,
            "Unknown decision",
            f"{decision!r} is not one of {', '.join(DECISIONS)}",
        )
    if not who.role.allows(Role.APPROVER):
        return forbidden(request, who, Role.APPROVER)
    record = await run_in_threadpool(request.app.state.actions.get, action_id[:64])
    if record is None or record.incident_id != incident_id:
        return problem(
            request,
            who,
            404,
            "No such action",
            f"incident {incident_id!r} has no action {action_id!r}",
        )
    return record
