"""Block Kit messages: incidents with Approve / Reject, events with Accept / Discharge.

Button values carry only ids (JSON); the click handler looks everything else up again,
so a message edited or forwarded in Slack cannot change what gets approved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

APPROVE, REJECT, ACCEPT, DISCHARGE = "approve", "reject", "accept", "discharge"
_SEVERITY_ICON = {"critical": ":red_circle:", "high": ":large_orange_circle:",
                  "medium": ":large_yellow_circle:", "low": ":white_circle:"}
_TEXT_LIMIT = 2900  # Slack refuses section text over 3000 characters


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
    """What the event / ticket message shows."""

    event_key: str
    title: str
    decision: str
    reason: str = ""
    owner_team: str | None = None
    status: str = "open"


def _section(markdown: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": markdown[:_TEXT_LIMIT]}}


def _button(text: str, action_id: str, value: dict[str, str], style: str) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text},
            "action_id": action_id, "value": json.dumps(value), "style": style}


def incident_message(card: IncidentCard) -> dict[str, Any]:
    """`text` (the notification fallback) and `blocks` for chat.postMessage / chat.update."""
    icon = _SEVERITY_ICON.get(card.severity.lower(), ":white_circle:")
    headline = f"{icon} *{card.title}*  ({card.incident_id})"
    facts = [f"*Severity:* {card.severity}", f"*Status:* {card.status}",
             f"*Root cause:* {card.root_cause or 'not yet known'}",
             f"*Suspected change:* {card.suspected_change or 'none found'}"]
    blocks = [_section(headline), _section("\n".join(facts))]
    if card.action is not None:
        act = card.action
        blocks.append(_section(f"*Proposed action:* {act.description}\n*Risk:* {act.risk}"))
        value = {"incident_id": card.incident_id, "action_id": act.action_id}
        blocks.append({"type": "actions", "block_id": f"incident:{card.incident_id}",
                       "elements": [_button("Approve", APPROVE, value, "primary"),
                                    _button("Reject", REJECT, value, "danger")]})
    text = f"[{card.severity}] {card.title} ({card.incident_id}): {card.status}"
    return {"text": text, "blocks": blocks}


def event_message(card: EventCard) -> dict[str, Any]:
    """An operational event or ticket with Accept / Discharge buttons."""
    facts = [f"*Decision:* {card.decision}", f"*Status:* {card.status}",
             f"*Owner team:* {card.owner_team or 'unassigned'}"]
    if card.reason:
        facts.append(f"*Reason:* {card.reason}")
    value = {"event_key": card.event_key}
    blocks = [_section(f"*{card.title}*  ({card.event_key})"), _section("\n".join(facts)),
              {"type": "actions", "block_id": f"event:{card.event_key}",
               "elements": [_button("Accept", ACCEPT, value, "primary"),
                            _button("Discharge", DISCHARGE, value, "danger")]}]
    return {"text": f"{card.title} ({card.event_key}): {card.decision}", "blocks": blocks}


def status_update_text(incident_id: str, status: str, note: str = "") -> str:
    """The threaded reply posted when an incident moves on."""
    text = f"{incident_id} is now *{status}*"
    return f"{text}: {note}" if note else text
