"""What the triage flow tells Slack: an event waiting for a person goes to its owning
team's channel with Accept / Discharge; each team's ticket goes to that team's channel;
later changes (event updates, the decision, ticket status) are replies in those threads.

Nothing is sent from here: every message is queued in the outbox for the `slack` channel
(`oasis.slack.channel`), so Slack being down delays messages but never loses them or
slows triage. The thread to use is looked up when the message is sent, since the first
message may still be waiting in the outbox when the next one is queued.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from oasis.notify import Outbox
from oasis.notify.message import Notification
from oasis.slack.channel import CHANNEL_NAME
from oasis.slack.messages import EventCard, TicketCard, escape, event_message, ticket_message
from oasis.slack.notifier import event_subject
from oasis.triage.model import OpsEvent
from oasis.triage.org import Organisation, Team
from oasis.triage.settings import LabelRouting
from oasis.triage.tickets import Ticket
from oasis.triage.triage import owner_of, owning_teams

log = logging.getLogger(__name__)
ASK = "ask"
_DONE = {"accept": "accepted", "discharge": "discharged", "reject": "rejected"}


class SlackEventWatcher:
    """Queues Slack messages as events are decided and their tickets change."""

    def __init__(self, outbox: Outbox, org: Organisation,
                 default_channel: str | None = None) -> None:
        self.outbox, self.org, self.default_channel = outbox, org, default_channel

    def decided(self, event: OpsEvent, verdict: str, reason: str, actor: str,
                previous: str | None) -> None:
        """Acknowledge (the policy or a person) decided `event`; `previous` was its verdict
        before (None when it is new)."""
        owner = self._owner(event)
        subject = event_subject(event.key)
        if verdict == ASK:
            card = _event_card(event, "waiting for a person", reason, owner, awaiting=True)
            reply = "the event was updated; it still waits for a person" \
                if previous == ASK else None
            self._queue(subject, self._channel(owner), card, reply, "ask")
        elif previous is not None and previous != verdict:
            # The decision changed (most often: a person settled what the policy asked
            # about): say so in every thread of the event, and take the buttons away.
            word = _DONE.get(verdict, verdict)
            outcome = reason if actor != "policy" else f"{word} by the policy: {reason}"
            card = _event_card(event, word, reason, owner, awaiting=False)
            self._queue(subject, None, card, f":ballot_box_with_check: {escape(outcome)}",
                        "ask", everywhere=True)
        # a first accept is told by the tickets it opens; discharging a new event, by nobody

    def ticket_changed(self, ticket: Ticket, change: str, actor: str) -> None:
        """A ticket was created, updated with the event, or moved on (`change`: created,
        updated or status)."""
        team = self.org.team(ticket.team)
        name = team.name if team else ticket.team
        card = {"label": f"ticket:{ticket.id}", "message": ticket_message(TicketCard(
            ticket.id, ticket.event_key, ticket.title, name, ticket.role, ticket.severity,
            ticket.status.value))}
        if change == "created":
            reply = (f"Ticket {ticket.id} opened for {escape(name)} ({ticket.role}), "
                     f"severity {ticket.severity}: {escape(ticket.title)}")
        elif change == "status":
            moved = next((h["change"] for h in reversed(ticket.history)
                          if str(h.get("change", "")).startswith("status")),
                         f"status → {ticket.status.value}")
            reply = f"Ticket {ticket.id}: {escape(moved)} (by {escape(actor)})"
        elif change in ("resolved", "reopened"):
            what = "its alert resolved" if change == "resolved" else "its alert fired again"
            reply = f"Ticket {ticket.id} {change}: {what} (severity {ticket.severity})"
        else:
            reply = (f"Ticket {ticket.id} updated: the event changed "
                     f"(severity {ticket.severity})")
        self._enqueue(event_subject(ticket.event_key), self._channel(team), card, reply,
                      f"ticket {ticket.id} {change}")

    # -- helpers ---------------------------------------------------------------------------
    def _owner(self, event: OpsEvent) -> Team:
        # The same choice triage makes (labels, service, account owner, default owner).
        return owner_of(self.org, event, LabelRouting(), owning_teams(self.org, event))[0]

    def _channel(self, team: Team | None) -> str | None:
        return (team.channel if team else None) or self.default_channel

    def _queue(self, subject: str, channel: str | None, card: EventCard, reply: str | None,
               label: str, everywhere: bool = False) -> None:
        root = {"label": label, "message": event_message(card)}
        self._enqueue(subject, channel, root, reply, f"event {card.decision}", everywhere)

    def _enqueue(self, subject: str, channel: str | None, root: dict[str, Any],
                 reply: str | None, what: str, everywhere: bool = False) -> None:
        """Queue one Slack step; `everywhere`: in every thread the subject has (channel
        None), else in `channel`'s."""
        if channel is None and not everywhere:
            log.warning("no Slack channel for %s: the team has none and no "
                        "slack.default_channel is set", subject)
            return
        op = {"subject": subject, "channel": channel, "root": root, "reply": reply}
        note = Notification(id=uuid.uuid4().hex, kind="slack_event", incident_id=None,
                            subject=f"Slack: {what} ({subject})"[:300],
                            text=reply or root["message"]["text"], html="",
                            recipients=[channel or "every thread of the event"],
                            payload={"slack": op})
        self.outbox.enqueue(note, [CHANNEL_NAME])


def _event_card(event: OpsEvent, decision: str, reason: str, owner: Team,
                awaiting: bool) -> EventCard:
    return EventCard(event_key=event.key, title=event.title, decision=decision, reason=reason,
                     owner_team=owner.name, status=event.status or "open",
                     awaiting_person=awaiting)
