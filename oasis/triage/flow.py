"""The OHERO flow for operational events: store → Acknowledge → Triage → tell the teams.

Every step and its reason goes to the audit trail. A copy of an event that is not newer
than the stored one changes nothing (but the `seen` count). An alert that resolves closes
its tickets and tells the teams; firing again reopens them (lifecycle.py). An update of an
accepted event updates its tickets; of a discharged one, is decided again (it may have
become significant).
Events the policy cannot settle wait for a person's Accept or Discharge. A `watcher`
(the Slack app) is told of every decision and ticket change, to post them in team channels.

`EventQueue` (oasis.triage.queue) sits in front for HTTP: a durable, bounded queue in the
state database, worked by one thread in arrival order; an event it hands over again after a
crash is `handle`d with `resumed=True`, which finishes what the dead attempt started.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from oasis.audit import AuditLog
from oasis.notify import Outbox, build_notification
from oasis.notify.links import event_url, ticket_url
from oasis.signals.crashpoints import crash_point
from oasis.triage.acknowledge import Acknowledgement, AcknowledgePolicy, Verdict
from oasis.triage.events import EventRecord, EventStore
from oasis.triage.lifecycle import is_resolution
from oasis.triage.model import OpsEvent
from oasis.triage.org import Organisation
from oasis.triage.queue import EventQueue, QueueFull  # noqa: F401  (they lived here)
from oasis.triage.tickets import Ticket
from oasis.triage.triage import Triage

log = logging.getLogger(__name__)


@dataclass
class FlowResult:
    key: str
    received: str  # new | updated | unchanged
    verdict: str | None = None
    reason: str | None = None
    tickets_created: list[str] = field(default_factory=list)
    tickets_updated: list[str] = field(default_factory=list)
    tickets_resolved: list[str] = field(default_factory=list)
    tickets_reopened: list[str] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class EventWatcher(Protocol):
    """Told what happens to events and tickets (see `oasis.slack.watcher`)."""

    def decided(self, event: OpsEvent, verdict: str, reason: str, actor: str,
                previous: str | None) -> None: ...
    def ticket_changed(self, ticket: Ticket, change: str, actor: str) -> None: ...


class TriageFlow:
    def __init__(self, org: Organisation, policy: AcknowledgePolicy, triage: Triage,
                 events: EventStore, audit: AuditLog, outbox: Outbox | None = None,
                 channels: list[str] | None = None, public_url: str = "",
                 remember: Callable[[EventRecord, Any], None] | None = None,
                 cost_judge: Any = None, watcher: EventWatcher | None = None) -> None:
        self.org, self.policy, self.triage, self.events = org, policy, triage, events
        self.audit, self.outbox, self.watcher = audit, outbox, watcher
        self.channels = channels or []
        self.public_url = public_url.rstrip("/")
        self.remember = remember
        self.cost_judge = cost_judge  # a model that may raise (never lower) cost impact

    def handle(self, event: OpsEvent, now: datetime | None = None, *,
               resumed: bool = False) -> FlowResult:
        """Store, acknowledge and triage `event`. `resumed`: an earlier attempt at this
        same event may have died half-way (the durable queue knows); carry on from where
        it stopped instead of counting the event as a second copy."""
        now = now or datetime.now(UTC)
        stored = self.events.get(event.key) if resumed else None
        if stored is not None and stored.event.last_updated >= event.last_updated:
            return self._resume(stored, now)
        received, record = self.events.receive(event, now)
        crash_point("triage.after_receive")
        result = FlowResult(event.key, received)
        if received == "unchanged":
            result.verdict, result.reason = record.verdict, record.reason
            return result
        self.audit.append("event.received", f"source:{event.source}", event.key, {
            "received": received, "title": event.title, "category": event.category,
            "last_updated": event.last_updated.isoformat()})
        if is_resolution(event):
            return self._resolved(event, record, now, result)
        self._acknowledge(event, record.verdict, now, result)
        return result

    def _acknowledge(self, event: OpsEvent, previous: str | None, now: datetime,
                     result: FlowResult) -> None:
        if self.cost_judge is not None:
            event = self.cost_judge.review(event)
        ack = self.policy.decide(event)
        self.audit.append("event.acknowledged", "oasis:acknowledge", event.key,
                          ack.model_dump(mode="json"))
        self.events.decide(event.key, ack.verdict.value, ack.reason, by="policy", now=now)
        crash_point("triage.after_decide")
        self._tell(lambda w: w.decided(event, ack.verdict.value, ack.reason, "policy", previous))
        result.verdict, result.reason = ack.verdict.value, ack.reason
        if ack.verdict is Verdict.ACCEPT:
            self._triage(event, ack, now, result)

    def _resume(self, record: EventRecord, now: datetime) -> FlowResult:
        """Finish an event stored by an attempt that died: decide it if that attempt did
        not get so far, and make the tickets an accepted event still lacks (one per team;
        the ones made before the crash are kept, not made again)."""
        result = FlowResult(record.key, "resumed", record.verdict, record.reason)
        last = record.history[-1]["change"] if record.history else "received"
        if record.verdict is None or last in ("received", "updated"):
            self.audit.append("event.received", f"source:{record.event.source}", record.key,
                              {"received": "resumed", "title": record.event.title,
                               "category": record.event.category,
                               "last_updated": record.event.last_updated.isoformat()})
            self._acknowledge(record.event, record.verdict, now, result)
        elif record.verdict == Verdict.ACCEPT.value:
            ack = self.policy.decide(record.event).model_copy(
                update={"verdict": Verdict.ACCEPT, "reason": record.reason})
            self._triage(record.event, ack, now, result, resumed=True)
        return result

    def _resolved(self, event: OpsEvent, record: EventRecord, now: datetime,
                  result: FlowResult) -> FlowResult:
        """The source says the event is over: its open tickets close, the teams hear it.
        The decision stands (a resolve is not a reason to decide again); an event first
        seen already resolved needs nothing."""
        actor = f"source:{event.source}"
        if record.verdict is None:
            reason = "already resolved when first received: nothing to do"
            self.events.decide(event.key, Verdict.DISCHARGE.value, reason, by="policy", now=now)
            self.audit.append("event.acknowledged", "oasis:acknowledge", event.key,
                              {"verdict": Verdict.DISCHARGE.value, "reason": reason})
            result.verdict, result.reason = Verdict.DISCHARGE.value, reason
            return result
        closed = self.triage.resolve(event, now, actor)
        self.events.note(event.key, f"resolved ({event.status}); tickets closed: "
                         f"{', '.join(t.id for t in closed) or 'none open'}", by=actor, now=now)
        self.audit.append("event.resolved", actor, event.key, {
            "status": event.status, "last_updated": event.last_updated.isoformat(),
            "tickets": [t.id for t in closed]})
        for ticket in closed:
            self.audit.append("ticket.status", actor, ticket.id,
                              {"status": ticket.status.value, "note": "the event resolved"})
            self._notify_team(event, ticket, "resolved")
        result.verdict, result.reason = record.verdict, record.reason
        result.tickets_resolved = [t.id for t in closed]
        result.teams = list(dict.fromkeys(t.team for t in closed))
        return result

    def decide(self, key: str, accept: bool, actor: str, note: str = "") -> FlowResult:
        """A person's Accept or Discharge of an event the policy could not settle."""
        record = self.events.get(key)
        if record is None:
            raise KeyError(key)
        if record.verdict != Verdict.ASK.value:
            raise ValueError(f"event {key} is {record.verdict or 'undecided'}; only events "
                             "waiting for a person can be accepted or discharged")
        verdict = Verdict.ACCEPT if accept else Verdict.DISCHARGE
        done = "accepted" if accept else "discharged"
        reason = f"{done} by {actor}" + (f": {note}" if note else "")
        now = datetime.now(UTC)
        self.events.decide(key, verdict.value, reason, by=actor, now=now)
        self.audit.append(f"event.{done}", actor, key, {"note": note})
        self._tell(lambda w: w.decided(record.event, verdict.value, reason, actor, record.verdict))
        result = FlowResult(key, "decided", verdict.value, reason)
        if accept:
            ack = self.policy.decide(record.event).model_copy(
                update={"verdict": Verdict.ACCEPT, "reason": reason})
            self._triage(record.event, ack, now, result)
        return result

    def move_ticket(self, ticket_id: str, status: Any, actor: str, note: str = "") -> Ticket:
        """A person moves a ticket on (one step): the ticket, its Jira issue, and the audit
        trail, wherever the move was made (API, console)."""
        ticket = self.triage.set_status(ticket_id, status, actor, note)
        self.audit.append("ticket.status", actor, ticket.id,
                          {"status": ticket.status.value, "note": note})
        return ticket

    def _triage(self, event: OpsEvent, ack: Acknowledgement, now: datetime,
                result: FlowResult, *, resumed: bool = False) -> None:
        outcome = self.triage.triage(event, ack, now)
        result.tickets_created = [t.id for t in outcome.created]
        result.tickets_updated = [t.id for t in outcome.updated]
        result.tickets_reopened = list(outcome.reopened)
        result.teams = list(outcome.stakeholders)
        if resumed:
            self._notify_untold(event, outcome.unchanged)
            if not (outcome.created or outcome.updated):
                return  # fully triaged before the crash
        self.audit.append("event.triaged", "oasis:triage", event.key, {
            "owner": outcome.owner, "stakeholders": outcome.stakeholders,
            "created": result.tickets_created, "updated": result.tickets_updated,
            "reopened": result.tickets_reopened})
        for ticket in outcome.updated:
            if ticket.id in outcome.reopened:
                self.audit.append("ticket.status", "oasis:triage", ticket.id,
                                  {"status": ticket.status.value, "note": "the event fired again"})
        for ticket, change in [(t, "created") for t in outcome.created] + [
                (t, "reopened" if t.id in outcome.reopened else "updated")
                for t in outcome.updated]:
            self._notify_team(event, ticket, change)
        if self.remember is not None:
            try:
                self.remember(self.events.get(event.key), outcome)
            except Exception:  # memory is a convenience; triage must not fail on it
                log.exception("could not remember event %s", event.key)

    def _notify_untold(self, event: OpsEvent, tickets: list[Ticket]) -> None:
        """Tell the teams of tickets made by an attempt that died before queueing their mail
        (at least once: a crash between queueing and auditing it sends it twice)."""
        for ticket in tickets:
            if not self.audit.records(subject=ticket.id, kind="notification.queued", limit=1):
                self._notify_team(event, ticket, "created")

    def _tell(self, news: Callable[[EventWatcher], None]) -> None:
        if self.watcher is None:
            return
        try:
            news(self.watcher)
        except Exception:  # chat messages are a courtesy; triage must not fail on them
            log.exception("could not tell the event watcher")

    def _notify_team(self, event: OpsEvent, ticket: Any, change: str) -> None:
        self._tell(lambda w: w.ticket_changed(ticket, change, "oasis:triage"))
        team = self.org.team(ticket.team)
        if self.outbox is None or team is None:
            return
        channels = [c for c in self.channels if c != "email" or team.email]
        if not channels:
            return
        note = build_notification("ticket", {
            "ticket": ticket.model_dump(mode="json"), "team": team.model_dump(mode="json"),
            "event": event.model_dump(mode="json", exclude={"raw"}), "change": change,
            "console_url": ticket_url(self.public_url, ticket.id),
            "event_url": event_url(self.public_url, event.key)},
            [team.email] if team.email else [])
        self.outbox.enqueue(note, channels)
        self.audit.append("notification.queued", "oasis:triage", ticket.id, {
            "kind": "ticket", "team": team.id, "notification_id": note.id,
            "channels": channels, "change": change})
