"""Block Kit messages: incidents with Approve / Reject, events with Accept / Discharge,
tickets, and the one-line replies threaded under them.

Button values carry only ids (JSON); the click handler looks everything else up again,
so a message edited or forwarded in Slack cannot change what gets approved. Titles,
reasons and root causes come from monitored systems and event sources, so they are
escaped: a title reading `<!channel>` must not page a whole channel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

APPROVE, REJECT, ACCEPT, DISCHARGE = "approve", "reject", "accept", "discharge"
_SEVERITY_ICON = {"critical": ":red_circle:", "high": ":large_orange_circle:",
                  "medium": ":large_yellow_circle:", "low": ":white_circle:"}
_TEXT_LIMIT = 2900  # Slack refuses section text over 3000 characters


def escape(text: object) -> str:
    """Untrusted text as Slack shows it literally: no mentions, links or channel pings."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True, slots=True)
class ProposedAction:
    """A remediation awaiting a decision."""

    action_id: str
    description: str
    risk: str


@dataclass(frozen=True, slots=True)
class IncidentCard:
    """What the incident message shows."""

    incident_id: str
    title: str
    severity: str
    status: str
    root_cause: str | None = None
    suspected_change: str | None = None
    action: ProposedAction | None = None


@dataclass(frozen=True, slots=True)
class EventCard:
    """What the event message shows; Accept / Discharge only while it waits for a person."""

    event_key: str
    title: str
    decision: str
    reason: str = ""
    owner_team: str | None = None
    status: str = "open"
    awaiting_person: bool = False


@dataclass(frozen=True, slots=True)
class TicketCard:
    """What one team's ticket message shows."""

    ticket_id: str
    event_key: str
    title: str
    team: str
    role: str
    severity: int
    status: str


def _section(markdown: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": markdown[:_TEXT_LIMIT]}}


def _button(text: str, action_id: str, value: dict[str, str], style: str) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text},
            "action_id": action_id, "value": json.dumps(value), "style": style}


def incident_message(card: IncidentCard) -> dict[str, Any]:
    """`text` (the notification fallback) and `blocks` for chat.postMessage / chat.update."""
    icon = _SEVERITY_ICON.get(card.severity.lower(), ":white_circle:")
    headline = f"{icon} *{escape(card.title)}*  ({card.incident_id})"
    facts = [f"*Severity:* {card.severity}", f"*Status:* {card.status}",
             f"*Root cause:* {escape(card.root_cause or 'not yet known')}",
             f"*Suspected change:* {escape(card.suspected_change or 'none found')}"]
    blocks = [_section(headline), _section("\n".join(facts))]
    if card.action is not None:
        act = card.action
        blocks.append(_section(f"*Proposed action:* {escape(act.description)}\n"
                               f"*Risk:* {act.risk}"))
        value = {"incident_id": card.incident_id, "action_id": act.action_id}
        blocks.append({"type": "actions", "block_id": f"incident:{card.incident_id}",
                       "elements": [_button("Approve", APPROVE, value, "primary"),
                                    _button("Reject", REJECT, value, "danger")]})
    text = f"[{card.severity}] {escape(card.title)} ({card.incident_id}): {card.status}"
    return {"text": text, "blocks": blocks}


def event_message(card: EventCard) -> dict[str, Any]:
    """An operational event, with Accept / Discharge while it waits for a person."""
    facts = [f"*Decision:* {card.decision}", f"*Status:* {card.status}",
             f"*Owner team:* {escape(card.owner_team or 'unassigned')}"]
    if card.reason:
        facts.append(f"*Reason:* {escape(card.reason)}")
    blocks = [_section(f"*{escape(card.title)}*  ({escape(card.event_key)})"),
              _section("\n".join(facts))]
    if card.awaiting_person:
        value = {"event_key": card.event_key}
        blocks.append({"type": "actions", "block_id": f"event:{card.event_key}"[:255],
                       "elements": [_button("Accept", ACCEPT, value, "primary"),
                                    _button("Discharge", DISCHARGE, value, "danger")]})
    return {"text": f"{escape(card.title)} ({escape(card.event_key)}): {card.decision}",
            "blocks": blocks}


def ticket_message(card: TicketCard) -> dict[str, Any]:
    """A team's ticket for an accepted event."""
    role = "owner: your team does the work" if card.role == "owner" else \
        "informed: another team owns the work"
    facts = [f"*Team:* {escape(card.team)} ({role})", f"*Severity:* {card.severity} of 5",
             f"*Status:* {card.status}", f"*Event:* {escape(card.event_key)}"]
    return {"text": f"[sev {card.severity}] {escape(card.title)} ({card.ticket_id}): "
                    f"{card.status}",
            "blocks": [_section(f"*{escape(card.title)}*  ({card.ticket_id})"),
                       _section("\n".join(facts))]}


def status_update_text(incident_id: str, status: str, note: str = "") -> str:
    """The threaded reply posted when an incident moves on."""
    text = f"{incident_id} is now *{status}*"
    return f"{text}: {escape(note)}" if note else text
