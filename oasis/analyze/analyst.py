"""The deterministic analyst, the one that needs no model.

`analyse`: root cause, suspected change, severity, title and summary from the detectors'
evidence alone, when an incident opens. `DeterministicAnalyst`: the investigation the
response loop acts on, filled from that evidence with rules and templates; it runs by
default and whenever the model-backed analyst (`oasis.agents.investigator`) cannot."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from oasis.analyze.investigation import (
    Catalog,
    Investigation,
    Outcome,
    ProposedAction,
    RootCause,
    evidence_ids,
)
from oasis.analyze.proposals import ReplicaCounter, propose
from oasis.analyze.rootcause import ERROR_DETECTORS, Candidate, rank_root_cause
from oasis.detect.anomaly import Anomaly
from oasis.detect.graph import CallGraph
from oasis.incidents.model import Incident, Severity
from oasis.remediate.catalog import ActionSpec
from oasis.signals.model import DeploymentRecord, utc_iso


@dataclass(slots=True)
class Analysis:
    root_cause_service: str | None
    ranking: list[Candidate]
    started_at: datetime
    services: list[str]
    severity: Severity
    title: str
    summary: str
    suspected_change: dict[str, Any] | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)


def suspected_change(ranking: Sequence[Candidate], deployments: Iterable[DeploymentRecord],
                     window: timedelta, first_symptom: datetime,
                     skew: timedelta = timedelta(minutes=2)) -> dict[str, Any] | None:
    """The latest deployment of a ranked service shortly before that service's onset.

    A change made after the incident's first symptom (beyond `skew`, for clocks that
    disagree) did not cause it, whichever service it touched: it is never blamed.
    """
    deployments = list(deployments)
    for candidate in ranking:
        latest = min(candidate.onset, first_symptom) + skew
        near = [d for d in deployments if d.service == candidate.service
                and candidate.onset - window <= d.timestamp <= latest]
        if near:
            d = max(near, key=lambda d: d.timestamp)
            return {"service": d.service, "version": d.version,
                    "previous_version": d.previous_version, "deployed_at": utc_iso(d.timestamp),
                    "minutes_before_onset": round(
                        (candidate.onset - d.timestamp).total_seconds() / 60, 1)}
    return None


def analyse(anomalies: Sequence[Anomaly], graph: CallGraph, propagated_share: dict[str, float],
            deployments: Iterable[DeploymentRecord], change_window: timedelta,
            skew: timedelta = timedelta(minutes=2),
            silent_callees: dict[str, tuple[str, float]] | None = None) -> Analysis:
    symptoms = [a for a in anomalies if a.role == "symptom"]
    ranking = rank_root_cause(symptoms, graph, propagated_share)
    ranking = _silent_root(ranking, silent_callees or {})
    root = ranking[0].service if ranking else None
    services = [c.service for c in ranking]
    services += sorted({a.service for a in anomalies} - set(services))
    started = min(a.started_at for a in (symptoms or anomalies))
    change = suspected_change(ranking, deployments, change_window, started, skew)
    severity = _severity(symptoms, graph, services)
    title = _title(root, symptoms, change, services)
    return Analysis(root, ranking, started, services, severity, title,
                    _summary(root, ranking, symptoms, change, started), change,
                    [a.to_evidence() for a in sorted(anomalies, key=lambda a: a.started_at)])


SILENT_SHARE = 0.5  # share of the likeliest service's errors that must name the dependency


def _silent_root(ranking: list[Candidate],
                 silent_callees: dict[str, tuple[str, float]]) -> list[Candidate]:
    """A dependency that sends no telemetry (a database, a provider) is seen only through
    its callers: when most errors of the likeliest service name one, it goes first."""
    if not ranking or ranking[0].service not in silent_callees:
        return ranking
    dependency, share = silent_callees[ranking[0].service]
    if share < SILENT_SHARE:
        return ranking
    callers = sorted(c.service for c in ranking
                     if silent_callees.get(c.service, ("", 0))[0] == dependency)
    top = ranking[0]
    reasons = [f"{share:.0%} of {top.service}'s errors name it",
               f"named by the errors of {', '.join(callers)}",
               "it sends no telemetry of its own"]
    silent = Candidate(dependency, top.score * 1.1, 0.0, min(c.onset for c in ranking),
                       callers, reasons)
    return [silent, *ranking]


def _severity(symptoms: Sequence[Anomaly], graph: CallGraph, services: list[str]) -> Severity:
    erroring = {a.service for a in symptoms if a.detector in ERROR_DETECTORS}
    # An entry point (nothing affected depends... nothing at all calls it) failing is users.
    traced = graph.traced_services()
    entry = [s for s in erroring if not any(graph.depends_on(o, s) for o in traced)]
    if len(erroring) >= 3 or (entry and traced):
        return Severity.CRITICAL
    if erroring:
        return Severity.HIGH
    if any(a.detector == "metric" for a in symptoms):
        return Severity.MEDIUM
    return Severity.LOW


def _headline(anomalies: Sequence[Anomaly]) -> str:
    kinds = {a.detector for a in anomalies}
    if "error_rate" in kinds or "error_type" in kinds:
        types = [a.signal.split(":", 1)[1] for a in anomalies if a.detector == "error_type"]
        return "error spike" + (f" ({types[0]})" if types else "")
    if "metric_trend" in kinds:
        metric = next(a.detail.get("metric") for a in anomalies if a.detector == "metric_trend")
        return f"{metric} climbing steadily"
    metrics = [a.detail.get("metric") for a in anomalies if a.detector == "metric"]
    if metrics:
        return f"{metrics[0]} anomaly"
    return "new log pattern"


def _title(root: str | None, symptoms: Sequence[Anomaly], change: dict | None,
           services: list[str]) -> str:
    if root is None:
        return "anomaly"
    title = f"{root}: {_headline([a for a in symptoms if a.service == root])}"
    if change and change["service"] == root:
        title += f" after deploy of {change['version']}"
    others = [s for s in services if s != root]
    if others:
        title += f", affecting {', '.join(others[:3])}" + ("..." if len(others) > 3 else "")
    return title


def _summary(root: str | None, ranking: Sequence[Candidate], symptoms: Sequence[Anomaly],
             change: dict | None, started: datetime) -> str:
    lines = [f"Started about {utc_iso(started)}."]
    if root:
        lines.append(f"Most likely root cause: {root} ({'; '.join(ranking[0].reasons)}).")
    if change:
        lines.append(f"Suspected change: {change['service']} {change['version']} deployed "
                     f"{change['minutes_before_onset']:g} min before the onset "
                     f"(previous version {change['previous_version']}).")
    for a in sorted(symptoms, key=lambda a: -a.strength)[:6]:
        lines.append(f"- {a.summary}")
    return "\n".join(lines)


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
