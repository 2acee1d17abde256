"""Incident state in a relational database (SQLAlchemy): SQLite by default, PostgreSQL too.

Several processes may share one database. Every update is a compare-and-set on the
incident's `version`, so two writers never silently overwrite each other: the loser gets
`ConflictError` and re-reads. Timeline events are rows of their own, only ever inserted.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from oasis.incidents.lifecycle import IllegalTransition, apply_transition
from oasis.incidents.model import Incident, Severity, Status, TimelineEvent
from oasis.signals.errors import Conflict, NotFound
from oasis.state import from_db as _aware
from oasis.state import state_engine
from oasis.state import to_db as _naive

metadata = sa.MetaData()

incidents = sa.Table(
    "incidents", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("status", sa.String(32), nullable=False, index=True),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False, default=""),
    sa.Column("root_cause_service", sa.String(200), index=True),
    sa.Column("services", sa.JSON, nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("detected_at", sa.DateTime, nullable=False, index=True),
    sa.Column("last_seen_at", sa.DateTime, nullable=False),
    sa.Column("recovered_at", sa.DateTime),
    sa.Column("suspected_change", sa.JSON),
    sa.Column("root_cause_ranking", sa.JSON, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

incident_events = sa.Table(
    "incident_events", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.String(40), sa.ForeignKey("incidents.id"), nullable=False,
              index=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
)


leases = sa.Table(
    "leases", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)


class ConflictError(Conflict, RuntimeError):
    """Someone else changed the incident since it was read."""


class NotFoundError(NotFound, KeyError):
    """No incident has that id."""

    def __init__(self, incident_id: str) -> None:
        super().__init__(f"no incident {incident_id!r}")
        self.incident_id = incident_id


def new_incident_id(at: datetime) -> str:
    """Readable and unique across processes: the detection day plus random hex."""
    return f"inc-{at:%Y%m%d}-{secrets.token_hex(3)}"


class IncidentStore:
    """Create, read and update incidents and their timelines."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine: Engine = state_engine(url, echo=echo)
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- writing ---------------------------------------------------------------------------
    def create(self, incident: Incident, event: TimelineEvent) -> Incident:
        """Insert a new incident with its first timeline event."""
        with self.engine.begin() as conn:
            conn.execute(incidents.insert().values(**_row(incident), version=1))
            _insert_event(conn, incident.id, event)
        incident.version = 1
        incident.timeline = [event]
        return incident

    def update(self, incident: Incident, events: Sequence[TimelineEvent] = ()) -> Incident:
        """Save `incident` if nobody else changed it since it was read, plus new events."""
        with self.engine.begin() as conn:
            result = conn.execute(
                incidents.update()
                .where(incidents.c.id == incident.id, incidents.c.version == incident.version)
                .values(**_row(incident), version=incident.version + 1))
            if result.rowcount != 1:
                exists = conn.execute(sa.select(incidents.c.version)
                                      .where(incidents.c.id == incident.id)).first()
                if exists is None:
                    raise NotFoundError(incident.id)
                raise ConflictError(f"incident {incident.id} changed since it was read "
                                    f"(version {incident.version}, now {exists[0]})")
            for event in events:
                _insert_event(conn, incident.id, event)
        incident.version += 1
        incident.timeline.extend(events)
        return incident

    def transition(self, incident_id: str, to: Status, *, actor: str,
                   at: datetime | None = None, message: str = "",
                   data: dict[str, Any] | None = None,
                   expect: Sequence[Status] | None = None) -> Incident:
        """Move an incident to `to`, re-reading and retrying if someone changed it meanwhile.

        `expect`: statuses the caller believes the incident is in; when it is elsewhere the
        move is refused (IllegalTransition) instead of applied to a state nobody looked at.
        """
        for _ in range(5):
            incident = self.get(incident_id)
            if expect is not None and incident.status not in expect:
                raise IllegalTransition(
                    f"incident {incident_id} is {incident.status.value}, not "
                    f"{' or '.join(s.value for s in expect)}")
            event = apply_transition(incident, to, actor=actor, at=at or datetime.now(UTC),
                                     message=message, data=data)
            try:
                return self.update(incident, [event])
            except ConflictError:
                continue
        raise ConflictError(f"incident {incident_id} kept changing; try again")

    def add_event(self, incident_id: str, event: TimelineEvent) -> None:
        """Record something on the timeline that changes no field (a note, an ack)."""
        with self.engine.begin() as conn:
            if conn.execute(sa.select(incidents.c.id)
                            .where(incidents.c.id == incident_id)).first() is None:
                raise NotFoundError(incident_id)
            _insert_event(conn, incident_id, event)

    def acquire_lease(self, name: str, holder: str, ttl_seconds: float,
                      now: datetime | None = None) -> bool:
        """Hold `name` for `ttl_seconds` if it is free, expired or already ours.

        Several OASIS processes may share one database; only the lease holder runs the
        monitor, so detection never opens the same incident twice.
        """
        now = now or datetime.now(UTC)
        expires = _naive(now + timedelta(seconds=ttl_seconds))
        with self.engine.begin() as conn:
            taken = conn.execute(
                leases.update()
                .where(leases.c.name == name,
                       sa.or_(leases.c.holder == holder, leases.c.expires_at < _naive(now)))
                .values(holder=holder, expires_at=expires)).rowcount
            if taken:
                return True
            exists = conn.execute(sa.select(leases.c.holder)
                                  .where(leases.c.name == name)).first()
            if exists is not None:
                return False
        try:
            with self.engine.begin() as conn:
                conn.execute(leases.insert().values(name=name, holder=holder,
                                                    expires_at=expires))
            return True
        except sa.exc.IntegrityError:  # another process inserted it first
            return False

    # -- reading ---------------------------------------------------------------------------
    def get(self, incident_id: str) -> Incident:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(incidents).where(incidents.c.id == incident_id)).first()
            if row is None:
                raise NotFoundError(incident_id)
            incident = _incident(row._mapping)
            incident.timeline = [
                TimelineEvent(_aware(e.at), e.kind, e.message, e.actor, e.data or {})
                for e in conn.execute(sa.select(incident_events)
                                      .where(incident_events.c.incident_id == incident_id)
                                      .order_by(incident_events.c.seq))
            ]
        return incident

    def list(self, *, status: Sequence[str] | None = None, service: str | None = None,
             severity: str | None = None, active: bool | None = None,
             limit: int = 100) -> list[Incident]:
        """Incidents, newest detection first, without their timelines."""
        query = sa.select(incidents).order_by(incidents.c.detected_at.desc()).limit(limit)
        if status:
            query = query.where(incidents.c.status.in_(list(status)))
        if severity:
            query = query.where(incidents.c.severity == severity)
        if active is not None:
            query = query.where(incidents.c.recovered_at.is_(None) if active
                                else incidents.c.recovered_at.is_not(None))
        with self.engine.connect() as conn:
            found = [_incident(r._mapping) for r in conn.execute(query)]
        if service:  # JSON containment differs per dialect; the list is short
            found = [i for i in found if service in i.services]
        return found

    def count_by_status(self) -> dict[str, int]:
        """How many incidents are in each status (for /metrics)."""
        query = sa.select(incidents.c.status, sa.func.count()).group_by(incidents.c.status)
        with self.engine.connect() as conn:
            return {status: n for status, n in conn.execute(query)}


def _row(i: Incident) -> dict[str, Any]:
    return {
        "id": i.id, "status": i.status.value, "severity": i.severity.value, "title": i.title,
        "summary": i.summary, "root_cause_service": i.root_cause_service,
        "services": list(i.services), "started_at": _naive(i.started_at),
        "detected_at": _naive(i.detected_at), "last_seen_at": _naive(i.last_seen_at),
        "recovered_at": _naive(i.recovered_at), "suspected_change": i.suspected_change,
        "root_cause_ranking": i.root_cause_ranking, "evidence": i.evidence,
    }


def _incident(m: Any) -> Incident:
    return Incident(
        id=m["id"], status=Status(m["status"]), severity=Severity(m["severity"]),
        title=m["title"], summary=m["summary"], services=list(m["services"]),
        root_cause_service=m["root_cause_service"], started_at=_aware(m["started_at"]),
        detected_at=_aware(m["detected_at"]), last_seen_at=_aware(m["last_seen_at"]),
        recovered_at=_aware(m["recovered_at"]), suspected_change=m["suspected_change"],
        root_cause_ranking=m["root_cause_ranking"] or [], evidence=m["evidence"] or [],
        version=m["version"],
    )


def _insert_event(conn: Connection, incident_id: str, event: TimelineEvent) -> None:
    conn.execute(incident_events.insert().values(
        incident_id=incident_id, at=_naive(event.at), kind=event.kind, actor=event.actor,
        message=event.message, data=event.data))
