"""A notification: rendered once, then delivered over each channel from the outbox.

Rendering happens before anything is queued, so a retry hours later sends exactly what the
incident looked like when the message was written, and a broken template fails the caller
at once instead of in the delivery loop.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from oasis.notify.render import render
from oasis.signals.model import utc_iso

# Incident keys a webhook receiver can act on; evidence and timeline stay in the console.
_INCIDENT_KEYS = (
    "id",
    "status",
    "severity",
    "title",
    "root_cause_service",
    "services",
    "started_at",
    "detected_at",
    "last_seen_at",
    "recovered_at",
    "suspected_change",
)
_ACTION_KEYS = ("id", "kind", "params", "risk", "reason", "status", "approved_by", "dry_run")
_EXTRA_KEYS = (
    "links",
    "expires_at",
    "outcome",
    "time_to_resolve_minutes",
    "system_state",
    "next_steps",
    "reason",
)


@dataclass(slots=True)
class Notification:
    """One message to stakeholders; `payload` is what webhook channels receive."""

    id: str
    kind: str
    incident_id: str | None
    subject: str
    text: str
    html: str
    recipients: list[str]
    payload: dict[str, Any]
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def thread(self) -> str | None:
        """What this message is about (`incident-<id>`, `ticket-<id>`): mail about the same
        thing is threaded together by its In-Reply-To / References."""
        named = self.payload.get("thread")
        if isinstance(named, str) and named:
            return named
        return f"incident-{self.incident_id}" if self.incident_id else None


def build_notification(
    kind: str, context: dict[str, Any], recipients: Sequence[str], incident_id: str | None = None
) -> Notification:
    """Render `kind` from `context` into a Notification (RenderError / ValueError if it
    cannot be). `incident_id` defaults to the context's incident."""
    rendered = render(kind, context)
    if incident_id is None and isinstance(context.get("incident"), dict):
        incident_id = context["incident"].get("id")
    n = Notification(
        id=uuid.uuid4().hex,
        kind=kind,
        incident_id=incident_id,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        recipients=list(recipients),
        payload={},
    )
    n.payload = _payload(n, context)
    n.payload["thread"] = _thread(incident_id, context)
    return n


def _thread(incident_id: str | None, context: dict[str, Any]) -> str | None:
    if incident_id:
        return f"incident-{incident_id}"
    ticket = context.get("ticket")
    if isinstance(ticket, dict) and ticket.get("id"):
        return f"ticket-{ticket['id']}"
    return None


def _payload(n: Notification, context: dict[str, Any]) -> dict[str, Any]:
    incident = context.get("incident") or {}
    payload: dict[str, Any] = {
        "notification_id": n.id,
        "kind": n.kind,
        "incident_id": n.incident_id,
        "created_at": utc_iso(n.created_at),
        "subject": n.subject,
        "text": n.text,
        "console_url": context.get("console_url"),
        "incident": {k: incident.get(k) for k in _INCIDENT_KEYS if k in incident},
        "actions": [
            {k: a.get(k) for k in _ACTION_KEYS if k in a}
            for a in context.get("actions") or []
            if isinstance(a, dict)
        ],
    }
    payload.update({k: context[k] for k in _EXTRA_KEYS if k in context})
    # Whatever the caller put in the context, the stored payload must be plain JSON.
    return json.loads(json.dumps(payload, default=str))
