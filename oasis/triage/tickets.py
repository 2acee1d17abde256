"""Tickets: what each team must do (or know) about an accepted event, in the state DB.

One ticket per (event, team), and the database enforces it with a unique constraint, so
two OASIS processes triaging the same event at once never open it twice: the loser of
the race reads the winner's ticket. Every change is a compare-and-set on a private
version, retried, so concurrent writers never lose each other's history entries.

A person moves a ticket's status forward, one step at a time:
New → Acknowledged → In progress → Resolved or Discharged. The event's source may do more:
an alert that resolves closes its open tickets from any step (`resolve_by_source`), and
the same alert firing again reopens them as New (`reopen`), because the source saw it first.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field, field_serializer
from sqlalchemy.engine import Engine

from oasis.signals.errors import Conflict, NotFound
from oasis.signals.model import utc_iso
from oasis.state import from_db, state_engine, to_db

metadata = sa.MetaData()

triage_tickets = sa.Table(
    "triage_tickets", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("event_key", sa.String(512), nullable=False, index=True),
    sa.Column("team", sa.String(100), nullable=False, index=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("status", sa.String(32), nullable=False, index=True),
    sa.Column("severity", sa.Integer, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("recommended_actions", sa.JSON, nullable=False),
    sa.Column("event_last_updated", sa.DateTime, nullable=False),
    sa.Column("accounts", sa.JSON, nullable=False),
    sa.Column("resources", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("history", sa.JSON, nullable=False),
    sa.Column("external_id", sa.String(100)),
    sa.Column("version", sa.Integer, nullable=False),
    sa.UniqueConstraint("event_key", "team", name="uq_triage_tickets_event_team"),
)


class TicketStatus(StrEnum):
    NEW = "New"
    ACKNOWLEDGED = "Acknowledged"
    IN_PROGRESS = "In progress"
    RESOLVED = "Resolved"
    DISCHARGED = "Discharged"

    @classmethod
    def parse(cls, value: str | TicketStatus) -> TicketStatus:
        """From its value or name, any case ("In progress", "in_progress")."""
        if isinstance(value, TicketStatus):
            return value
        wanted = value.strip().lower().replace("_", " ")
        for status in cls:
            if wanted in (status.value.lower(), status.name.lower().replace("_", " ")):
                return status
        raise ValueError(f"unknown ticket status {value!r}; use one of "
                         f"{', '.join(s.value for s in cls)}")


NEXT_STATUS: dict[TicketStatus, tuple[TicketStatus, ...]] = {
    TicketStatus.NEW: (TicketStatus.ACKNOWLEDGED,),
    TicketStatus.ACKNOWLEDGED: (TicketStatus.IN_PROGRESS,),
    TicketStatus.IN_PROGRESS: (TicketStatus.RESOLVED, TicketStatus.DISCHARGED),
    TicketStatus.RESOLVED: (),
    TicketStatus.DISCHARGED: (),
}


FINAL_STATUSES = (TicketStatus.RESOLVED, TicketStatus.DISCHARGED)


class IllegalTicketTransition(Conflict, ValueError):
    """A status change out of order (backwards, skipping a step, or out of a final state)."""


class TicketNotFound(NotFound, KeyError):
    """No ticket has that id."""

    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"no ticket {ticket_id!r}")
        self.ticket_id = ticket_id


class Ticket(BaseModel):
    """What one team must do, or know, about one event."""

    id: str
    event_key: str
    team: str = Field(description="Team id from the organisation.")
    role: Literal["owner", "informed"] = Field(description=(
        "owner: remediates; informed: told because of severity, cost or security."))
    title: str = Field(description="The impact, in one line.")
    description: str = Field(description="What needs doing, and why this team.")
    recommended_actions: list[dict[str, Any]] = Field(description='{"text", "url"?} each.')
    event_last_updated: datetime
    accounts: list[str]
    resources: list[str]
    severity: int = Field(ge=1, le=5, description="5 highest (oasis.triage.severity).")
    status: TicketStatus = TicketStatus.NEW
    created_at: datetime
    updated_at: datetime
    history: list[dict[str, Any]] = Field(default_factory=list,
                                          description='{"at", "actor", "change"} each.')
    external_id: str | None = Field(None, description="Jira key when mirrored.")

    @field_serializer("event_last_updated", "created_at", "updated_at", when_used="json")
    def _iso(self, value: datetime) -> str:
        return utc_iso(value)


def new_ticket_id(at: datetime) -> str:
    """Readable and unique across processes: the day plus random hex."""
    return f"tkt-{at:%Y%m%d}-{secrets.token_hex(4)}"


def history_entry(at: datetime, actor: str, change: str) -> dict[str, str]:
    return {"at": utc_iso(at), "actor": actor, "change": change}


class TicketStore:
    """Tickets in the state database (SQLite by default, PostgreSQL in production)."""

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.url = url
        self.engine: Engine = engine or state_engine(url)
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- reading ---------------------------------------------------------------------------
    def get(self, ticket_id: str) -> Ticket | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(triage_tickets)
                               .where(triage_tickets.c.id == ticket_id)).first()
        return _ticket(row._mapping) if row else None

    def for_event(self, key: str) -> list[Ticket]:
        """The event's tickets, owner first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(triage_tickets)
                                .where(triage_tickets.c.event_key == key)
                                .order_by(triage_tickets.c.created_at, triage_tickets.c.id))
            found = [_ticket(r._mapping) for r in rows]
        return sorted(found, key=lambda t: t.role != "owner")

    def list(self, team: str | None = None, status: str | TicketStatus | None = None,
             limit: int = 100) -> list[Ticket]:
        """Tickets, newest first; `status` by value or name (ValueError if unknown)."""
        query = sa.select(triage_tickets).order_by(triage_tickets.c.created_at.desc(),
                                                   triage_tickets.c.id).limit(limit)
        if team:
            query = query.where(triage_tickets.c.team == team)
        if status:
            query = query.where(triage_tickets.c.status == TicketStatus.parse(status).value)
        with self.engine.connect() as conn:
            return [_ticket(r._mapping) for r in conn.execute(query)]

    # -- writing ---------------------------------------------------------------------------
    def add(self, ticket: Ticket) -> tuple[Ticket, bool]:
        """Insert `ticket`; if the team already has one for the event: (that one, False)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(triage_tickets.insert().values(**_row(ticket), version=1))
            return ticket, True
        except sa.exc.IntegrityError:
            existing = self._by_team(ticket.event_key, ticket.team)
            if existing is None:  # the conflict was on something else: not ours to hide
                raise
            return existing, False

    def save(self, ticket: Ticket) -> Ticket:
        """Write every field of an existing ticket as given (last writer wins)."""
        return self.change(ticket.id, lambda current: ticket.model_copy(deep=True))

    def change(self, ticket_id: str, mutate: Callable[[Ticket], Ticket | None]) -> Ticket:
        """Apply `mutate` to the current ticket and store it, re-reading if someone else
        changed it meanwhile. `mutate` returns None to leave the ticket as it is."""
        for _ in range(10):
            with self.engine.connect() as conn:
                row = conn.execute(sa.select(triage_tickets)
                                   .where(triage_tickets.c.id == ticket_id)).first()
            if row is None:
                raise TicketNotFound(ticket_id)
            current = _ticket(row._mapping)
            changed = mutate(current.model_copy(deep=True))
            if changed is None:
                return current
            with self.engine.begin() as conn:
                done = conn.execute(
                    triage_tickets.update()
                    .where(triage_tickets.c.id == ticket_id,
                           triage_tickets.c.version == row.version)
                    .values(**_row(changed), version=row.version + 1)).rowcount
            if done == 1:
                return changed
        raise RuntimeError(f"ticket {ticket_id} kept changing; try again")

    def set_status(self, ticket_id: str, status: str | TicketStatus, actor: str,
                   note: str = "", now: datetime | None = None) -> Ticket:
        """Move a ticket one step on; out of order raises IllegalTicketTransition."""
        target = TicketStatus.parse(status)

        def move(ticket: Ticket) -> Ticket:
            if target not in NEXT_STATUS[ticket.status]:
                allowed = " or ".join(s.value for s in NEXT_STATUS[ticket.status])
                raise IllegalTicketTransition(
                    f"ticket {ticket.id} is {ticket.status.value}; it can move to "
                    f"{allowed or 'nothing (it is closed)'}, not {target.value}")
            at = now or datetime.now(UTC)
            ticket.status, ticket.updated_at = target, at
            change = f"status → {target.value}" + (f": {note}" if note else "")
            ticket.history.append(history_entry(at, actor, change))
            return ticket

        return self.change(ticket_id, move)

    def resolve_by_source(self, ticket_id: str, actor: str, reason: str,
                          event_last_updated: datetime, now: datetime) -> Ticket | None:
        """Close an open ticket because its event ended; None when it was already closed."""
        def close(ticket: Ticket) -> Ticket | None:
            if ticket.status in FINAL_STATUSES:
                return None
            ticket.status, ticket.updated_at = TicketStatus.RESOLVED, now
            ticket.event_last_updated = max(ticket.event_last_updated, event_last_updated)
            ticket.history.append(history_entry(now, actor, f"status → Resolved: {reason}"))
            return ticket

        return self._changed_or_none(ticket_id, close)

    def reopen(self, ticket_id: str, actor: str, reason: str,
               now: datetime) -> Ticket | None:
        """A Resolved ticket back to New (its event fired again); None if it was not
        Resolved. A Discharged ticket stays closed: a person decided it needs nothing."""
        def open_again(ticket: Ticket) -> Ticket | None:
            if ticket.status is not TicketStatus.RESOLVED:
                return None
            ticket.status, ticket.updated_at = TicketStatus.NEW, now
            ticket.history.append(history_entry(now, actor, f"reopened → New: {reason}"))
            return ticket

        return self._changed_or_none(ticket_id, open_again)

    def _changed_or_none(self, ticket_id: str,
                         mutate: Callable[[Ticket], Ticket | None]) -> Ticket | None:
        done: list[bool] = []

        def tracked(ticket: Ticket) -> Ticket | None:
            done.clear()  # a retried attempt decides afresh
            changed = mutate(ticket)
            if changed is not None:
                done.append(True)
            return changed

        ticket = self.change(ticket_id, tracked)
        return ticket if done else None

    def note(self, ticket_id: str, actor: str, change: str,
             now: datetime | None = None) -> Ticket:
        """Add a history entry (a Jira failure, a comment) without changing anything else."""
        def add(ticket: Ticket) -> Ticket:
            ticket.history.append(history_entry(now or datetime.now(UTC), actor, change))
            return ticket

        return self.change(ticket_id, add)

    def _by_team(self, event_key: str, team: str) -> Ticket | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(triage_tickets).where(
                triage_tickets.c.event_key == event_key,
                triage_tickets.c.team == team)).first()
        return _ticket(row._mapping) if row else None


def _row(t: Ticket) -> dict[str, Any]:
    return {
        "id": t.id, "event_key": t.event_key, "team": t.team, "role": t.role,
        "status": t.status.value, "severity": t.severity, "title": t.title,
        "description": t.description, "recommended_actions": t.recommended_actions,
        "event_last_updated": to_db(t.event_last_updated), "accounts": list(t.accounts),
        "resources": list(t.resources), "created_at": to_db(t.created_at),
        "updated_at": to_db(t.updated_at), "history": t.history, "external_id": t.external_id,
    }


def _ticket(m: Any) -> Ticket:
    return Ticket(
        id=m["id"], event_key=m["event_key"], team=m["team"], role=m["role"],
        status=TicketStatus(m["status"]), severity=m["severity"], title=m["title"],
        description=m["description"], recommended_actions=m["recommended_actions"] or [],
        event_last_updated=from_db(m["event_last_updated"]), accounts=m["accounts"] or [],
        resources=m["resources"] or [], created_at=from_db(m["created_at"]),
        updated_at=from_db(m["updated_at"]), history=m["history"] or [],
        external_id=m["external_id"])
