"""What an investigation must produce, and the checks that decide whether to believe it.

A model's answer is accepted only if it names a service OASIS knows, cites evidence items
that exist (by id: E1, E2, …), and proposes only actions from the catalog with valid typed
parameters on known services. Anything else is rejected with the reasons, so the model can
try again, or OASIS falls back to the deterministic analyst.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

from pydantic import BaseModel, Field

from oasis.remediate.catalog import ActionError, ActionKind, ActionSpec, Risk


class RootCause(BaseModel):
    service: str = Field(description="The service where the problem starts")
    confidence: float = Field(ge=0, le=1, description="0 to 1")
    explanation: str = Field(max_length=1500, description="Why, in two or three sentences")
    evidence: list[str] = Field(description="Ids of the evidence items that support this, "
                                            "e.g. ['E1', 'E4']")


class ProposedAction(BaseModel):
    kind: ActionKind = Field(description="One of the action catalog's kinds")
    params: dict[str, Any] = Field(description="The kind's typed parameters")
    risk: Risk = Field(description="low, medium or high")
    reason: str = Field(max_length=600, description="Why this action, citing evidence ids")


class Investigation(BaseModel):
    """An investigation's conclusion, as an on-call engineer would hand it over."""

    summary: str = Field(max_length=2000, description="What is wrong, since when, where")
    impact: str = Field(max_length=800, description="Who or what is affected and how badly")
    root_cause: RootCause
    proposed_actions: list[ProposedAction] = Field(
        max_length=3, description="Best first; empty if no catalog action fits")


def evidence_ids(evidence: Sequence[dict[str, Any]]) -> list[str]:
    return [f"E{n}" for n in range(1, len(evidence) + 1)]


def problems(investigation: Investigation, *, known_services: Collection[str],
             evidence: Sequence[dict[str, Any]], incident_id: str,
             catalog_for: Callable[[str | None], Collection[ActionKind]]) -> list[str]:
    """Reasons to reject `investigation`; empty when it can be believed."""
    found = []
    cause = investigation.root_cause
    if cause.service not in known_services:
        found.append(f"root cause {cause.service!r} is not a known service; known: "
                     f"{', '.join(sorted(known_services))}")
    ids = set(evidence_ids(evidence))
    if not cause.evidence:
        found.append("the root cause cites no evidence; cite evidence ids such as E1")
    unknown = [e for e in cause.evidence if e not in ids]
    if unknown:
        found.append(f"cited evidence {unknown} does not exist; valid ids: E1..E{len(ids)}")
    for n, action in enumerate(investigation.proposed_actions, 1):
        try:
            spec = ActionSpec(id=f"check-{n}", incident_id=incident_id, kind=action.kind,
                              params=action.params, risk=action.risk, reason=action.reason)
        except ActionError as exc:
            found.append(f"action {n} ({action.kind.value}) is invalid: {exc}")
            continue
        service = spec.params.get("service")
        if service is not None and service not in known_services:
            found.append(f"action {n} targets unknown service {service!r}")
        elif action.kind is not ActionKind.NOTIFY_ONLY and action.kind not in catalog_for(
                service):
            found.append(f"action {n}: no executor here can run {action.kind.value}"
                         + (f" on {service}" if service else ""))
    return found
