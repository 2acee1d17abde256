"""Rank the services of an incident by how likely each is the root cause.

The root cause is the service whose own symptoms started first and that the others depend
on, not the loudest caller. So each service scores its own symptoms (errors it raised
itself count fully; errors that only name a failing callee count a quarter), gains for
every affected service that depends on it, loses when it depends on an affected service
that looks worse, and loses with every minute its symptoms started after the first.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from oasis.detect.anomaly import Anomaly
from oasis.detect.graph import CallGraph

WEIGHTS = {"error_rate": 1.0, "error_type": 0.8, "log_template": 0.8, "metric": 0.6,
           "metric_trend": 0.7}
ERROR_DETECTORS = {"error_rate", "error_type", "log_template"}
PROPAGATED_WEIGHT = 0.25
ONSET_DECAY_MINUTES = 10.0


@dataclass(slots=True)
class Candidate:
    service: str
    score: float
    own: float
    onset: datetime
    dependents: list[str]
    reasons: list[str]

    def to_dict(self) -> dict:
        return {"service": self.service, "score": round(self.score, 3),
                "own": round(self.own, 3), "dependents": self.dependents,
                "reasons": self.reasons}


def rank_root_cause(anomalies: Iterable[Anomaly], graph: CallGraph,
                    propagated_share: dict[str, float]) -> list[Candidate]:
    """Candidates, most likely first. `propagated_share[s]` is the share of `s`'s recent
    error lines that name another service (errors passed up from a callee)."""
    by_service: dict[str, list[Anomaly]] = defaultdict(list)
    for a in anomalies:
        if a.role == "symptom":
            by_service[a.service].append(a)
    if not by_service:
        return []
    own: dict[str, float] = {}
    onset: dict[str, datetime] = {}
    for service, found in by_service.items():
        share = propagated_share.get(service, 0.0)
        total = 0.0
        for a in found:
            weight = WEIGHTS.get(a.detector, 0.5)
            if a.detector in ERROR_DETECTORS:
                weight *= 1 - share * (1 - PROPAGATED_WEIGHT)
            total += weight * (0.3 + 0.7 * a.strength)
        own[service] = total
        onset[service] = min(a.started_at for a in found)
    first = min(onset.values())
    ranked = []
    for service in by_service:
        dependents = sorted(s for s in by_service if graph.depends_on(s, service))
        worse_callees = [s for s in by_service
                         if graph.depends_on(service, s) and own[s] >= 0.5 * own[service]]
        late = (onset[service] - first).total_seconds() / 60
        score = own[service] * (1 + 0.3 * len(dependents)) * math.exp(-late / ONSET_DECAY_MINUTES)
        reasons = [f"own symptoms {own[service]:.2f}"]
        if dependents:
            reasons.append(f"{len(dependents)} affected service(s) depend on it")
        if worse_callees:
            score *= 0.5
            reasons.append(f"depends on affected {', '.join(sorted(worse_callees))}")
        if late > 0:
            reasons.append(f"started {late:.0f} min after the first symptom")
        if propagated_share.get(service, 0) > 0.5:
            reasons.append("its errors mostly name a failing callee")
        ranked.append(Candidate(service, score, own[service], onset[service], dependents,
                                reasons))
    ranked.sort(key=lambda c: (-c.score, c.onset, c.service))
    return ranked
