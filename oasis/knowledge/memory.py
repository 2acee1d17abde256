"""Memory: past incidents and tickets as text the knowledge base can search.

What a team did last time ("EKS 1.27 extended support: app01 upgraded in 3 days") is
often the best answer to this time's question. These helpers take plain dicts (an
incident's or ticket's `to_dict()`, or anything shaped like it), so the knowledge base
depends on no other package's classes; unknown or missing fields are simply left out.
"""

from __future__ import annotations

import re
from typing import Any

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


def incident_memory(incident: dict[str, Any], actions: list[dict[str, Any]] | None = None
                    ) -> tuple[str, str, dict[str, Any]]:
    """(id, text, metadata) for an incident and what was done about it."""
    incident_id = _required(incident, "id", "incident")
    title = str(incident.get("title") or incident_id)
    lines = [f"Incident {incident_id}: {title}"]
    lines += _fields(incident, [("summary", "Summary"), ("severity", "Severity"),
                                ("status", "Status"), ("root_cause_service", "Root cause"),
                                ("services", "Services affected"),
                                ("started_at", "Started"), ("recovered_at", "Recovered")])
    change = incident.get("suspected_change")
    if isinstance(change, dict) and change:
        lines.append("Suspected change: " + ", ".join(f"{k} {v}" for k, v in change.items()
                                                      if v not in (None, "", [])))
    for action in actions or []:
        lines.append("Action: " + _action_line(action))
    for event in incident.get("timeline") or []:
        if isinstance(event, dict) and event.get("kind") in {"resolved", "note", "resolution"}:
            lines.append(f"Resolution: {event.get('message', '')}")
    if resolution := incident.get("resolution"):
        lines.append(f"Resolution: {resolution}")
    metadata = {k: incident[k] for k in ("title", "status", "severity", "services",
                                         "root_cause_service", "detected_at", "recovered_at")
                if incident.get(k) not in (None, "", [])}
    metadata["title"] = title
    return incident_id, "\n".join(lines), metadata


def ticket_memory(ticket: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(id, text, metadata) for a triage ticket: the event, the team, how it ended."""
    ticket_id = _required(ticket, "id", "ticket")
    title = str(ticket.get("title") or ticket_id)
    lines = [f"Ticket {ticket_id}: {title}"]
    lines += _fields(ticket, [("description", "Description"), ("team", "Team"),
                              ("role", "Role"), ("status", "Status"),
                              ("severity", "Severity"), ("event_key", "Event"),
                              ("accounts", "Accounts"), ("resources", "Resources"),
                              ("resolution", "Resolution")])
    for action in ticket.get("recommended_actions") or []:
        if isinstance(action, dict) and action.get("text"):
            lines.append(f"Recommended: {action['text']}")
    for entry in ticket.get("history") or []:
        if isinstance(entry, dict) and entry.get("change"):
            who = f" by {entry['actor']}" if entry.get("actor") else ""
            when = f" at {entry['at']}" if entry.get("at") else ""
            lines.append(f"History{when}{who}: {entry['change']}")
    metadata = {k: ticket[k] for k in ("title", "team", "status", "severity", "event_key",
                                       "created_at", "updated_at", "external_id")
                if ticket.get(k) not in (None, "", [])}
    metadata["title"] = title
    return ticket_id, "\n".join(lines), metadata


def check_memory(kind: str, id_: str, text: str) -> None:
    if not isinstance(kind, str) or not KIND_PATTERN.match(kind):
        raise ValueError(f"memory kind {kind!r} must be a lower-case word such as incident, "
                         "ticket or event")
    if not isinstance(id_, str) or not id_.strip() or len(id_) > 400:
        raise ValueError("memory id must be a non-empty string of at most 400 characters")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"memory {kind}/{id_} has no text to remember")


def _required(record: dict[str, Any], key: str, what: str) -> str:
    if not isinstance(record, dict):
        raise ValueError(f"{what} must be a dict, not {type(record).__name__}")
    value = record.get(key)
    if value in (None, ""):
        raise ValueError(f"{what} has no {key!r}")
    return str(value)


def _fields(record: dict[str, Any], names: list[tuple[str, str]]) -> list[str]:
    lines = []
    for key, label in names:
        value = record.get(key)
        if value in (None, "", [], {}):
            continue
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        lines.append(f"{label}: {value}")
    return lines


def _action_line(action: dict[str, Any]) -> str:
    if not isinstance(action, dict):
        return str(action)
    if action.get("text"):
        return str(action["text"])
    parts = [str(action.get("kind") or "action")]
    params = action.get("params")
    if isinstance(params, dict) and params:
        parts.append(" ".join(f"{k}={v}" for k, v in params.items()))
    if action.get("status"):
        parts.append(f"({action['status']})")
    if action.get("reason"):
        parts.append(f"because {action['reason']}")
    if action.get("decided_by"):
        parts.append(f"approved by {action['decided_by']}")
    return " ".join(parts)
