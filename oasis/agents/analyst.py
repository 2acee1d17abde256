"""Analysts: who turns an incident's evidence into an investigation.

`DeterministicAnalyst` fills the investigation from the detectors' evidence with rules and
templates; it needs no model and is what runs by default and in every test that is not
about providers. `ModelAnalyst` asks a model (with read-only tools) for the same structured
answer, checks it, asks once more with the reasons if it is not believable, and falls back
to the deterministic analyst when the model is unavailable, over budget, or still wrong.
Either way the response loop gets the same `Outcome`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from oasis.agents.schema import Investigation, ProposedAction, RootCause, evidence_ids
from oasis.analyze.proposals import ReplicaCounter, propose
from oasis.incidents.model import Incident
from oasis.remediate.catalog import ActionKind, ActionSpec

log = logging.getLogger(__name__)
Catalog = Callable[[str | None], Collection[ActionKind]]


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
    name: str

    def investigate(self, incident: Incident) -> Outcome: ...


class DeterministicAnalyst:
    name = "analyst:deterministic"

    def __init__(self, catalog_for: Catalog, replicas: ReplicaCounter = lambda _s: None) -> None:
        self.catalog_for = catalog_for
        self.replicas = replicas

    def investigate(self, incident: Incident) -> Outcome:
        counter = itertools.count(1)
        specs = propose(incident, self.catalog_for, self.replicas,
                        lambda: f"proposal-{next(counter)}")
        return Outcome(deterministic_investigation(incident, specs), self.name)


def deterministic_investigation(incident: Incident, specs: list[ActionSpec]) -> Investigation:
    ids = evidence_ids(incident.evidence)
    root = incident.root_cause_service or (incident.services[0] if incident.services else "")
    cited = [i for i, e in zip(ids, incident.evidence, strict=True)
             if e.get("service") == root and e.get("kind") != "log_samples"][:6]
    ranking = incident.root_cause_ranking
    scores = [c.get("score", 0.0) for c in ranking[:2]]
    confidence = 0.5 if not scores or sum(scores) <= 0 else round(
        0.5 + 0.5 * (scores[0] - (scores[1] if len(scores) > 1 else 0)) / sum(scores), 2)
    reasons = ranking[0].get("reasons", []) if ranking else []
    explanation = (f"{root}'s anomaly started first and the others depend on it"
                   + (f" ({'; '.join(reasons[:3])})" if reasons else "") + ".")
    change = incident.suspected_change
    if change:
        explanation += (f" {change['service']} {change['version']} was deployed shortly "
                        "before the onset.")
    others = [s for s in incident.services if s != root]
    impact = (f"{incident.severity.value} severity: {root} is failing"
              + (f", and {', '.join(others)} {'depends' if len(others) == 1 else 'depend'} "
                 "on it" if others else "") + ".")
    actions = [ProposedAction(kind=s.kind, params=dict(s.params), risk=s.risk, reason=s.reason)
               for s in specs]
    return Investigation(
        summary=incident.summary or incident.title, impact=impact,
        root_cause=RootCause(service=root, confidence=confidence, explanation=explanation,
                             evidence=cited or ids[:1]),
        proposed_actions=actions[:3])
