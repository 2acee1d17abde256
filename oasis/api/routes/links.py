"""Approval links from messages: GET shows what will run, only the form's POST decides.

Mail scanners and chat unfurlers fetch links; a GET here changes nothing. The page names
the action, its parameters, its risk and the executor that will run it, and asks who is
deciding. Bad links answer 400 (malformed), 403 (forged), 409 (used) or 410 (expired).
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from oasis.api.deps import IncidentsDep
from oasis.api.response_deps import ActionsDep, LedgerDep, ResponderDep, SignerDep
from oasis.approve import Decision, LinkClaim, LinkError
from oasis.incidents import NotFoundError
from oasis.remediate import ActionError
from oasis.respond import ActionStatus, DecisionError
from oasis.signals.times import parse_aware

router = APIRouter(tags=["approval links"])
_env = jinja2.Environment(
    loader=jinja2.FunctionLoader(
        lambda name: resources.files("oasis.api").joinpath("templates", name).read_text()
    ),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def _page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_env.get_template(template).render(**context), status_code=status)


def _problem(exc: LinkError | DecisionError) -> HTMLResponse:
    return _page("link_problem.html", exc.status, message=str(exc))


@router.get("/approve/{token}", response_class=HTMLResponse, summary="Confirm a decision")
async def confirm_page(
    token: str,
    request: Request,
    signer: SignerDep,
    ledger: LedgerDep,
    incidents: IncidentsDep,
    actions: ActionsDep,
) -> HTMLResponse:
    """The confirmation page for an approval link; nothing is decided by opening it.

    Once the action is decided (through this link, its twin or any other way) the page
    says who decided what and when, instead of offering the form again."""
    try:
        claim = signer.verify(token)
        used = await run_in_threadpool(ledger.was_used, claim)
        incident = await run_in_threadpool(incidents.get, claim.incident_id)
        action = await run_in_threadpool(actions.get, claim.action_id)
    except LinkError as exc:
        return _problem(exc)
    except NotFoundError:
        return _page("link_problem.html", 404, message="that incident no longer exists")
    if action is None:
        return _page("link_problem.html", 404, message="that action no longer exists")
    waiting = action.status is ActionStatus.PROPOSED and not used
    executor = _executor_name(request, action.spec())
    return _page(
        "confirm.html",
        200 if waiting or not used else 409,
        incident=incident.to_dict(timeline=False),
        action=action.to_dict(),
        decision=claim.decision.value,
        executor=executor,
        waiting=waiting,
        decided=None
        if action.status is ActionStatus.PROPOSED
        else decided_sentence(action.to_dict()),
        expires_at=f"{claim.expires_at:%Y-%m-%d %H:%M} UTC",
        token=token,
    )


@router.post("/approve/{token}", response_class=HTMLResponse, summary="Decide")
async def decide(
    token: str,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    signer: SignerDep,
    ledger: LedgerDep,
    responder: ResponderDep,
    actions: ActionsDep,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse:
    """Carry out the link's decision once, recording who confirmed it."""
    actor = f"{name.strip()} (email link)"
    try:
        claim = signer.verify(token)
        await run_in_threadpool(_use_and_decide, claim, actor, note, ledger, responder, actions)
    except (LinkError, DecisionError) as exc:
        return _problem(exc)
    except NotFoundError:
        return _page("link_problem.html", 404, message="that incident no longer exists")
    return _page(
        "decided.html", decision=claim.decision.value, actor=actor, incident_id=claim.incident_id
    )


_AFTERWARDS = {
    ActionStatus.APPROVED: "It is about to run.",
    ActionStatus.RUNNING: "It is running now.",
    ActionStatus.SUCCEEDED: "It has run and succeeded.",
    ActionStatus.FAILED: "It has run and failed; the incident was escalated.",
}


def decided_sentence(action: dict[str, Any]) -> str:
    """`Approved by alice (email link) at 2026-11-23 09:52 UTC: "roll it back". It has run
    and succeeded.` for an action no longer waiting."""
    status = ActionStatus(action["status"])
    verb = {
        ActionStatus.EXPIRED: "Expired",
        ActionStatus.WITHDRAWN: "Withdrawn",
        ActionStatus.REJECTED: "Rejected",
    }.get(status, "Approved")
    who = f" by {action['decided_by']}" if action.get("decided_by") else ""
    when = ""
    if action.get("decided_at"):
        when = f" at {parse_aware(action['decided_at']):%Y-%m-%d %H:%M} UTC"
    note = f': "{action["note"]}"' if action.get("note") else ""
    after = _AFTERWARDS.get(status)
    return f"{verb}{who}{when}{note}." + (f" {after}" if after else "")


def _use_and_decide(
    claim: LinkClaim, actor: str, note: str, ledger: Any, responder: Any, actions: Any
) -> None:
    # Checked first so a spent link cannot be burned on a decision that is no longer open.
    if ledger.was_used(claim):
        raise LinkError("this approval link was already used; each link works once", 409)
    action = actions.get(claim.action_id)
    # A link answers the question it was mailed with; a later change of mind goes through
    # the console or the API, where the decider is signed in.
    if action is not None and action.status is not ActionStatus.PROPOSED:
        raise DecisionError(f"nothing to decide: {decided_sentence(action.to_dict())}", 409)
    decide = responder.approve if claim.decision is Decision.APPROVE else responder.reject
    decide(claim.incident_id, claim.action_id, actor, note)
    ledger.use(claim, actor)


def _executor_name(request: Request, spec: Any) -> str:
    try:
        return request.app.state.executors.for_action(spec).name
    except ActionError as exc:
        return f"none configured ({exc})"
