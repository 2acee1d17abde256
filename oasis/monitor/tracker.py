"""Turn each check's anomalies into incidents: open, grow, re-analyse, and notice recovery.

Anomalies that overlap in time, or sit on services connected in the call graph, belong to
one incident; a symptom nobody explains opens a new one. An incident that sees no related
anomaly for `recovery_minutes` has recovered; what shows up after that is a new incident.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from oasis.analyze.analyst import Analysis, analyse
from oasis.detect.anomaly import Anomaly
from oasis.detect.graph import CallGraph
from oasis.detect.settings import DetectSettings
from oasis.incidents.lifecycle import apply_transition
from oasis.incidents.model import SEVERITY_ORDER, Incident, Severity, Status, TimelineEvent
from oasis.incidents.store import ConflictError, IncidentStore, new_incident_id
from oasis.signals.model import DeploymentRecord

MAX_EVIDENCE_ANOMALIES = 40
CLOCK_SKEW_MINUTES = 2  # a deployment stamped this much after a symptom may still precede it
# Statuses nobody has acted on yet: an incident that recovers there is resolved by OASIS.
UNATTENDED = frozenset({Status.INITIAL_DETECTION, Status.ANALYSIS_COMPLETE})


@dataclass
class CheckContext:
    """What the tracker needs from the monitor to analyse an incident."""

    graph: CallGraph
    propagated_share: dict[str, float]
    deployments: Sequence[DeploymentRecord]
    samples: Callable[[str, datetime, datetime], list[dict[str, Any]]]
    # service -> (a dependency with no telemetry its errors name, share of its errors)
    silent_callees: dict[str, tuple[str, float]] = field(default_factory=dict)


@dataclass
class _Open:
    incident: Incident
    anomalies: dict[tuple[str, str], Anomaly] = field(default_factory=dict)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class IncidentTracker:
    def __init__(self, store: IncidentStore, settings: DetectSettings) -> None:
        self.store = store
        self.settings = settings
        self.open: list[_Open] = [_Open(i) for i in store.list(active=True, limit=1000)]

    def frozen_services(self) -> dict[str, datetime]:
        """Services in open incidents and since when: their baselines stop there."""
        frozen: dict[str, datetime] = {}
        for o in self.open:
            for s in o.incident.services:
                t = o.incident.started_at
                frozen[s] = min(frozen.get(s, t), t)
        return frozen

    def update(self, anomalies: Sequence[Anomaly], now: datetime,
               ctx: CheckContext) -> list[Incident]:
        """Apply one check's anomalies; returns the incidents that changed."""
        touched: set[int] = set()
        orphans: list[Anomaly] = []
        for a in anomalies:
            target = next((o for o in self.open if self._related(o, a, ctx)), None)
            if target is not None:
                known = target.anomalies.get(a.key)
                if known is not None and known.started_at < a.started_at:
                    # Still the same symptom of this incident: its onset is the first one.
                    # A long outage's onsets otherwise drift (detectors look back a bounded
                    # time), and the root cause would move to whatever began "first" lately.
                    a = replace(a, started_at=known.started_at)
                target.anomalies[a.key] = a
                touched.add(id(target))
            elif a.role == "symptom":
                orphans.append(a)
        changed = []
        if orphans:
            # Context anomalies of this check that fit the new incident join it too.
            group = {a.key: a for a in orphans}
            for a in anomalies:
                if a.role == "context" and a.key not in group and any(
                        a.service == o.service for o in orphans):
                    group[a.key] = a
            changed.append(self._open_incident(group, now, ctx))
        for o in list(self.open):
            if id(o) in touched:
                changed.append(self._grow(o, now, ctx))
            elif now - o.incident.last_seen_at >= timedelta(
                    minutes=self.settings.recovery_minutes):
                changed.append(self._recovered(o, now))
        return changed

    def _related(self, o: _Open, a: Anomaly, ctx: CheckContext) -> bool:
        """Whether `a` is part of open incident `o`: a symptom of a service already in it;
        of a caller of one of its services (failures spread to callers, however late); or
        starting near the incident's onset on a callee or, unconnected, at about the same
        time. A callee failing later, or a service that was deployed after the incident
        began, is a new problem: folding it in would re-root the old incident."""
        inc = o.incident
        if a.service in inc.services:
            return True
        skew = timedelta(minutes=CLOCK_SKEW_MINUTES)
        if any(d.service == a.service and inc.started_at + skew < d.timestamp <= a.started_at
               for d in ctx.deployments):
            return False
        graph = ctx.graph
        if any(graph.depends_on(a.service, s) for s in inc.services):
            return True
        window = timedelta(minutes=self.settings.correlation_minutes)
        return abs(a.started_at - inc.started_at) <= window

    def _analyse(self, o: _Open, ctx: CheckContext) -> Analysis:
        return analyse(list(o.anomalies.values()), ctx.graph, ctx.propagated_share,
                       ctx.deployments, timedelta(minutes=self.settings.change_window_minutes),
                       timedelta(minutes=CLOCK_SKEW_MINUTES), ctx.silent_callees)

    def _evidence(self, o: _Open, analysis: Analysis) -> list[dict[str, Any]]:
        items = analysis.evidence[-MAX_EVIDENCE_ANOMALIES:]
        for service in analysis.services:
            if o.samples.get(service):
                items.append({"service": service, "kind": "log_samples",
                              "lines": o.samples[service]})
        return items

    def _take_samples(self, o: _Open, analysis: Analysis, now: datetime,
                      ctx: CheckContext) -> None:
        for service in analysis.services:
            if service not in o.samples:
                o.samples[service] = ctx.samples(service, analysis.started_at, now)

    def _open_incident(self, anomalies: dict[tuple[str, str], Anomaly], now: datetime,
                       ctx: CheckContext) -> Incident:
        o = _Open(None, dict(anomalies))  # type: ignore[arg-type]
        analysis = self._analyse(o, ctx)
        self._take_samples(o, analysis, now, ctx)
        incident = Incident(
            id=new_incident_id(now), status=Status.INITIAL_DETECTION,
            severity=analysis.severity, title=analysis.title, services=analysis.services,
            root_cause_service=analysis.root_cause_service, started_at=analysis.started_at,
            detected_at=now, last_seen_at=now, summary=analysis.summary,
            suspected_change=analysis.suspected_change,
            root_cause_ranking=[c.to_dict() for c in analysis.ranking],
            evidence=self._evidence(o, analysis))
        o.incident = incident
        detected = TimelineEvent(now, "detected", f"detected: {analysis.title}",
                                 data={"anomalies": len(anomalies)})
        self.store.create(incident, detected)
        earlier = self._recurrence_of(analysis.root_cause_service, now)
        if earlier is not None:
            ago = (now - earlier.recovered_at).total_seconds() / 3600
            self.store.add_event(incident.id, TimelineEvent(
                now, "recurrence", f"recurrence of {earlier.id} ({earlier.title}), which "
                f"recovered {ago:.1f} h earlier", data={"incident_id": earlier.id}))
        incident.status = Status.ANALYSIS_COMPLETE
        self.store.update(incident, [TimelineEvent(
            now, "analysis_complete",
            f"root cause {analysis.root_cause_service or 'unknown'}"
            + (f", suspected change {analysis.suspected_change['version']}"
               if analysis.suspected_change else ""),
            actor="analyst:deterministic")])
        self.open.append(o)
        return incident

    def _recurrence_of(self, root: str | None, now: datetime) -> Incident | None:
        """The latest incident with this root cause that recovered within
        `recurrence_hours`: the problem came back rather than a new one starting."""
        since = now - timedelta(hours=self.settings.recurrence_hours)
        if root is None or self.settings.recurrence_hours <= 0:
            return None
        for earlier in self.store.list(service=root, active=False, limit=20):
            if earlier.root_cause_service == root and earlier.recovered_at is not None \
                    and since <= earlier.recovered_at <= now:
                return earlier
        return None

    def _grow(self, o: _Open, now: datetime, ctx: CheckContext) -> Incident:
        inc = o.incident
        analysis = self._analyse(o, ctx)
        self._take_samples(o, analysis, now, ctx)
        events = []
        added = [s for s in analysis.services if s not in inc.services]
        if added:
            events.append(TimelineEvent(now, "services_added",
                                        f"now also affecting {', '.join(added)}"))
        if analysis.root_cause_service != inc.root_cause_service:
            events.append(TimelineEvent(
                now, "root_cause_changed",
                f"root cause now {analysis.root_cause_service} (was {inc.root_cause_service})",
                actor="analyst:deterministic"))
        if analysis.suspected_change != inc.suspected_change and analysis.suspected_change:
            events.append(TimelineEvent(now, "suspected_change",
                                        f"suspected change {analysis.suspected_change['service']}"
                                        f" {analysis.suspected_change['version']}"))
        inc.services = analysis.services
        inc.root_cause_service = analysis.root_cause_service
        inc.root_cause_ranking = [c.to_dict() for c in analysis.ranking]
        inc.suspected_change = analysis.suspected_change
        inc.severity = min(inc.severity, analysis.severity, key=_rank)
        inc.title, inc.summary = analysis.title, analysis.summary
        inc.started_at = min(inc.started_at, analysis.started_at)
        inc.evidence = self._evidence(o, analysis)
        inc.last_seen_at = now
        return self._save(o, events)

    def _recovered(self, o: _Open, now: datetime) -> Incident:
        """Every symptom has been back to normal for `recovery_minutes`. An incident no
        one has acted on is resolved (it went away on its own); one a person or an action
        is handling keeps its status, with the recovery on its timeline."""
        self.open.remove(o)
        inc = o.incident
        inc.recovered_at = now
        events = [TimelineEvent(
            now, "recovered",
            f"no symptoms since {inc.last_seen_at:%H:%M}Z; a recurrence opens a new incident")]
        if inc.status in UNATTENDED:
            events.append(apply_transition(
                inc, Status.RESOLVED, actor="oasis", at=now,
                message="resolved: recovered on its own, no action was taken"))
        return self._save(o, events)

    def _save(self, o: _Open, events: list[TimelineEvent]) -> Incident:
        try:
            return self.store.update(o.incident, events)
        except ConflictError:
            # A person changed it meanwhile (status, notes): keep theirs, re-apply ours.
            fresh = self.store.get(o.incident.id)
            for name in ("services", "root_cause_service", "root_cause_ranking",
                         "suspected_change", "severity", "title", "summary", "started_at",
                         "evidence", "last_seen_at", "recovered_at"):
                setattr(fresh, name, getattr(o.incident, name))
            if any(e.kind.startswith("status:") for e in events):
                if fresh.status in UNATTENDED:
                    fresh.status = o.incident.status
                else:  # someone took it on meanwhile: their status stands
                    events = [e for e in events if not e.kind.startswith("status:")]
            o.incident = fresh
            return self.store.update(fresh, events)


def _rank(severity: Severity) -> int:
    return SEVERITY_ORDER[severity]
