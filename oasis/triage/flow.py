"""The OHERO flow for operational events: store → Acknowledge → Triage → tell the teams.

Every step and its reason goes to the audit trail. A copy of an event that is not newer
than the stored one changes nothing (but the `seen` count). An update of an accepted event
updates its tickets; of a discharged one, is decided again (it may have become significant).
Events the policy cannot settle wait for a person's Accept or Discharge. A `watcher`
(the Slack app) is told of every decision and ticket change, to post them in team channels.

`EventQueue` sits in front for HTTP: a bounded queue worked by one thread, so bursts are
processed in arrival order (hence in order per event) and a full queue pushes back (the
endpoint answers 429 with Retry-After) instead of dropping events.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from oasis.audit import AuditLog
from oasis.notify import Outbox, build_notification
from oasis.notify.links import event_url, ticket_url
from oasis.signals.errors import TooManyRequests
from oasis.triage.acknowledge import Acknowledgement, AcknowledgePolicy, Verdict
from oasis.triage.events import EventRecord, EventStore
from oasis.triage.model import OpsEvent
from oasis.triage.org import Organisation
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

    def handle(self, event: OpsEvent, now: datetime | None = None) -> FlowResult:
        now = now or datetime.now(UTC)
        received, record = self.events.receive(event, now)
        result = FlowResult(event.key, received)
        if received == "unchanged":
            result.verdict, result.reason = record.verdict, record.reason
            return result
        self.audit.append("event.received", f"source:{event.source}", event.key, {
            "received": received, "title": event.title, "category": event.category,
            "last_updated": event.last_updated.isoformat()})
        if self.cost_judge is not None:
            event = self.cost_judge.review(event)
        ack = self.policy.decide(event)
        self.audit.append("event.acknowledged", "oasis:acknowledge", event.key,
                          ack.model_dump(mode="json"))
        previous = record.verdict
        self.events.decide(event.key, ack.verdict.value, ack.reason, by="policy", now=now)
        self._tell(lambda w: w.decided(event, ack.verdict.value, ack.reason, "policy", previous))
        result.verdict, result.reason = ack.verdict.value, ack.reason
        if ack.verdict is Verdict.ACCEPT:
            self._triage(event, ack, now, result)
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
                result: FlowResult) -> None:
        outcome = self.triage.triage(event, ack, now)
        result.tickets_created = [t.id for t in outcome.created]
        result.tickets_updated = [t.id for t in outcome.updated]
        result.teams = list(outcome.stakeholders)
        self.audit.append("event.triaged", "oasis:triage", event.key, {
            "owner": outcome.owner, "stakeholders": outcome.stakeholders,
            "created": result.tickets_created, "updated": result.tickets_updated})
        for ticket, change in [(t, "created") for t in outcome.created] + [
                (t, "updated") for t in outcome.updated]:
            self._notify_team(event, ticket, change)
        if self.remember is not None:
            try:
                self.remember(self.events.get(event.key), outcome)
            except Exception:  # memory is a convenience; triage must not fail on it
                log.exception("could not remember event %s", event.key)

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


class QueueFull(TooManyRequests, RuntimeError):
    """The event queue is full: try again shortly."""


class EventQueue:
    """Bounded, in order, one worker: back-pressure instead of dropped events."""

    def __init__(self, flow: TriageFlow, maxsize: int = 10_000) -> None:
        self.flow = flow
        self._queue: queue.Queue[OpsEvent | None] = queue.Queue(maxsize)
        self._worker = threading.Thread(target=self._work, name="oasis-triage", daemon=True)
        self._worker.start()

    def submit(self, events: list[OpsEvent], timeout: float = 2.0) -> None:
        for event in events:
            try:
                self._queue.put(event, timeout=timeout)
            except queue.Full:
                raise QueueFull("the triage queue is full; retry shortly") from None

    def pending(self) -> int:
        return self._queue.qsize()

    def join(self) -> None:
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(10)

    def _work(self) -> None:
        while True:
            event = self._queue.get()
            try:
                if event is None:
                    return
                self.flow.handle(event)
            except Exception:  # one bad event must not stop the queue
                log.exception("triage of %s failed", getattr(event, "key", "?"))
            finally:
                self._queue.task_done()
