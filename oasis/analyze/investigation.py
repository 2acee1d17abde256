"""What an investigation must produce (whichever analyst made it), how it was reached
(`Outcome`), and the checks that decide whether to believe a model's.

A model's answer is accepted only if it names a service OASIS knows, cites evidence items
that exist (by id: E1, E2, …), and proposes only actions from the catalog with valid typed
parameters on known services. Anything else is rejected with the reasons, so the model can
try again, or OASIS falls back to the deterministic analyst.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, Field

from oasis.incidents.model import Incident
from oasis.remediate.catalog import ActionError, ActionKind, ActionSpec, Risk

#: The action kinds some executor here can run on a service (None: on no service).
Catalog = Callable[[str | None], Collection[ActionKind]]


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


@dataclass
class Outcome:
    """An investigation and how it was reached."""

    investigation: Investigation
    source: str  # "analyst:deterministic" or "analyst:model:<model id>"
    attempts: int = 0
    rejected: list[str] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    fallback_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "attempts": self.attempts, "rejected": self.rejected,
                "usage": self.usage,
                "tool_calls": [{k: c.get(k) for k in ("name", "args", "ok")}
                               for c in self.tool_calls[:50]],
                "fallback_reason": self.fallback_reason,
                "investigation": self.investigation.model_dump(mode="json")}


class Analyst(Protocol):
    """Who turns an incident's evidence into an investigation: the deterministic analyst
    (`oasis.analyze.analyst.DeterministicAnalyst`) or a model (`oasis.agents.investigator`)."""

    name: str

    def investigate(self, incident: Incident) -> Outcome: ...


def evidence_ids(evidence: Sequence[dict[str, Any]]) -> list[str]:
    return [f"E{n}" for n in range(1, len(evidence) + 1)]


def problems(investigation: Investigation, *, known_services: Collection[str],
             evidence: Sequence[dict[str, Any]], incident_id: str,
             catalog_for: Catalog) -> list[str]:
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
