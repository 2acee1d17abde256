"""The incident at a glance: what, where, since when, the suspected change and the proposed
action, one short line each, for the top of the incident page.

Built from the incident's fields rather than by splitting its stored summary text, so the
lines read the same for every detector and analyst. The wording helpers are the ones the
notification emails use, so the page and the mail say the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oasis.incidents import Incident
from oasis.notify.render import describe, one_line, symptoms

OPEN = ("proposed",)


@dataclass(frozen=True, slots=True)
class Point:
    label: str
    text: str


def at_a_glance(incident: Incident, actions: Sequence[Any], now: datetime) -> list[Point]:
    """Five short lines; every one is there, saying 'none' or 'not yet' when empty."""
    facts = incident.to_dict(timeline=False)
    strongest = symptoms(facts, limit=1)
    what = strongest[0] if strongest else one_line(incident.title, 160)
    root = incident.root_cause_service
    others = [s for s in incident.services if s != root]
    where = (f"{root} (likely cause)" if root else "no cause identified yet") + (
        f"; also {', '.join(others[:4])}" + (" …" if len(others) > 4 else "") if others else ""
    )
    return [
        Point("What", what),
        Point("Where", where),
        Point("Since", _since(incident, now)),
        Point("Suspected change", _change(incident.suspected_change)),
        Point("Proposed action", _action(actions)),
    ]


def _since(incident: Incident, now: datetime) -> str:
    onset = incident.started_at
    text = f"{onset:%Y-%m-%d %H:%M}Z"
    if incident.recovered_at is not None:
        return f"{text}, recovered {incident.recovered_at:%H:%M}Z"
    minutes = max(0, round((now - onset).total_seconds() / 60))
    return f"{text} ({_ago(minutes)}), detected {incident.detected_at:%H:%M}Z"


def _ago(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes} min ago"
    return f"{minutes // 60} h {minutes % 60} min ago" if minutes % 60 else f"{minutes // 60} h ago"


def _change(change: dict[str, Any] | None) -> str:
    if not change:
        return "none found"
    text = (
        f"{change.get('service', '?')} {change.get('previous_version') or '?'} → "
        f"{change.get('version', '?')}"
    )
    before = change.get("minutes_before_onset")
    return text + (f", deployed {before:g} min before the onset" if before is not None else "")


def _action(actions: Sequence[Any]) -> str:
    waiting = [a for a in actions if a.status.value in OPEN]
    chosen = waiting[0] if waiting else (actions[-1] if actions else None)
    if chosen is None:
        return "none yet"
    state = "waits for approval" if waiting else chosen.status.value.replace("_", " ")
    return f"{describe(chosen.to_dict())} (risk {chosen.risk.value}, {state})"
