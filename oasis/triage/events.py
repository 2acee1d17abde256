"""Operational events as OASIS has seen and decided them, one row per event key.

The row keeps the newest version of the event (by its own last-updated time), the
Acknowledge decision with its reason, who decided when a person had to, and a short
history. A copy that is not newer than what is stored changes nothing but `seen`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oasis.signals.model import utc_iso
from oasis.state import from_db, to_db
from oasis.triage.model import OpsEvent

metadata = sa.MetaData()
ops_events = sa.Table(
    "ops_events", metadata,
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("category", sa.String(40), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("last_updated", sa.DateTime, nullable=False),
    sa.Column("first_seen", sa.DateTime, nullable=False),
    sa.Column("seen", sa.Integer, nullable=False),
    sa.Column("verdict", sa.String(16)),
    sa.Column("reason", sa.Text),
    sa.Column("decided_by", sa.String(200)),
    sa.Column("event", sa.JSON, nullable=False),
    sa.Column("history", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)


@dataclass
class EventRecord:
    key: str
    event: OpsEvent
    first_seen: datetime
    seen: int
    verdict: str | None
    reason: str | None
    decided_by: str | None
    history: list[dict[str, Any]] = field(default_factory=list)
    version: int = 1

    def to_dict(self, raw: bool = False) -> dict[str, Any]:
        return {"key": self.key, "source": self.event.source, "category": self.event.category,
                "title": self.event.title, "last_updated": utc_iso(self.event.last_updated),
                "first_seen": utc_iso(self.first_seen), "seen": self.seen,
                "verdict": self.verdict, "reason": self.reason, "decided_by": self.decided_by,
                "event": self.event.model_dump(mode="json", exclude=None if raw else {"raw"}),
                "history": self.history}


class EventStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def get(self, key: str) -> EventRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(ops_events).where(ops_events.c.key == key)).first()
        return _record(row._mapping) if row else None

    def list(self, *, verdict: str | None = None, limit: int = 100) -> list[EventRecord]:
        query = sa.select(ops_events).order_by(ops_events.c.last_updated.desc()).limit(limit)
        if verdict:
            query = query.where(ops_events.c.verdict == verdict)
        with self.engine.connect() as conn:
            return [_record(r._mapping) for r in conn.execute(query)]

    def receive(self, event: OpsEvent, now: datetime) -> tuple[str, EventRecord]:
        """Store `event`: ("new" | "updated" | "unchanged", the stored record)."""
        stored = self.get(event.key)
        body = event.model_dump(mode="json")
        if stored is None:
            record = EventRecord(event.key, event, now, 1, None, None, None,
                                 [{"at": utc_iso(now), "change": "received"}])
            try:
                with self.engine.begin() as conn:
                    conn.execute(ops_events.insert().values(
                        key=event.key, source=event.source, category=event.category,
                        title=event.title, last_updated=to_db(event.last_updated),
                        first_seen=to_db(now), seen=1, event=body, history=record.history,
                        version=1))
                return "new", record
            except sa.exc.IntegrityError:  # another process stored it first
                return self.receive(event, now)
        newer = event.last_updated > stored.event.last_updated
        history = stored.history + ([{"at": utc_iso(now), "change": "updated",
                                      "last_updated": utc_iso(event.last_updated)}]
                                    if newer else [])
        values: dict[str, Any] = {"seen": stored.seen + 1, "history": history[-50:],
                                  "version": stored.version + 1}
        if newer:
            values.update(event=body, title=event.title, last_updated=to_db(event.last_updated))
        with self.engine.begin() as conn:
            done = conn.execute(ops_events.update()
                                .where(ops_events.c.key == event.key,
                                       ops_events.c.version == stored.version)
                                .values(**values)).rowcount
        if not done:
            return self.receive(event, now)  # changed under us: decide again on fresh data
        return ("updated" if newer else "unchanged"), self.get(event.key)

    def decide(self, key: str, verdict: str, reason: str, *, by: str,
               now: datetime | None = None) -> EventRecord:
        now = now or datetime.now(UTC)
        stored = self.get(key)
        if stored is None:
            raise KeyError(key)
        history = [*stored.history,
                   {"at": utc_iso(now), "change": f"{verdict}: {reason}", "by": by}]
        with self.engine.begin() as conn:
            conn.execute(ops_events.update().where(ops_events.c.key == key).values(
                verdict=verdict, reason=reason, decided_by=by, history=history[-50:],
                version=stored.version + 1))
        return self.get(key)


    def note(self, key: str, change: str, *, by: str, now: datetime) -> None:
        """Add a history entry (the event resolved) without changing the decision."""
        for _ in range(10):
            stored = self.get(key)
            if stored is None:
                raise KeyError(key)
            history = [*stored.history, {"at": utc_iso(now), "change": change, "by": by}]
            with self.engine.begin() as conn:
                done = conn.execute(ops_events.update().where(
                    ops_events.c.key == key, ops_events.c.version == stored.version).values(
                    history=history[-50:], version=stored.version + 1)).rowcount
            if done:
                return


def _record(m: Any) -> EventRecord:
    return EventRecord(key=m["key"], event=OpsEvent.model_validate(m["event"]),
                       first_seen=from_db(m["first_seen"]), seen=m["seen"],
                       verdict=m["verdict"], reason=m["reason"], decided_by=m["decided_by"],
                       history=m["history"] or [], version=m["version"])
