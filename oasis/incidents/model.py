"""Incidents as people see them: status, severity, services, evidence and a timeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from oasis.signals.model import utc_iso


class Status(StrEnum):
    """Where an incident is in its life. Detection sets the first two."""

    INITIAL_DETECTION = "initial_detection"
    ANALYSIS_COMPLETE = "analysis_complete"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    MITIGATING = "mitigating"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    FAILED = "failed"
    EXPIRED = "expired"
    ESCALATED = "escalated"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


SEVERITY_ORDER = {s: i for i, s in enumerate(Severity)}  # critical first


@dataclass(slots=True)
class TimelineEvent:
    """One thing that happened to an incident: who, when, what."""

    at: datetime
    kind: str
    message: str
    actor: str = "oasis"
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"at": utc_iso(self.at), "kind": self.kind, "actor": self.actor,
                "message": self.message, "data": self.data}


@dataclass(slots=True)
class Incident:
    """One problem, however many services and signals show it.

    `started_at` is the estimated onset, `detected_at` when OASIS opened it, `last_seen_at`
    the last check that still saw symptoms, `recovered_at` when they stopped (still open
    for people to close, but a new occurrence opens a new incident).
    """

    id: str
    status: Status
    severity: Severity
    title: str
    services: list[str]
    root_cause_service: str | None
    started_at: datetime
    detected_at: datetime
    last_seen_at: datetime
    summary: str = ""
    recovered_at: datetime | None = None
    suspected_change: dict[str, Any] | None = None
    root_cause_ranking: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[TimelineEvent] = field(default_factory=list)
    version: int = 0

    @property
    def active(self) -> bool:
        return self.recovered_at is None

    def to_dict(self, timeline: bool = True) -> dict[str, Any]:
        out = {
            "id": self.id, "status": self.status.value, "severity": self.severity.value,
            "title": self.title, "summary": self.summary,
            "root_cause_service": self.root_cause_service, "services": self.services,
            "started_at": utc_iso(self.started_at), "detected_at": utc_iso(self.detected_at),
            "last_seen_at": utc_iso(self.last_seen_at),
            "recovered_at": utc_iso(self.recovered_at) if self.recovered_at else None,
            "suspected_change": self.suspected_change,
            "root_cause_ranking": self.root_cause_ranking,
            "evidence": self.evidence,
        }
        if timeline:
            out["timeline"] = [e.to_dict() for e in self.timeline]
        return out
