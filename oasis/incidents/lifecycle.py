"""Which status may follow which, and who may move an incident there.

The happy path is detect → analyse → ask → approve → act → verify → resolve:

    initial_detection → analysis_complete → pending_approval → approved → mitigating
                      → mitigated → resolved

Side exits: a person rejects (`rejected`), nobody answers in time (`expired`), the action or
its verification fails (`failed`), and anything people must look at goes to `escalated`.
From those an incident can be asked about again (`pending_approval`) or closed (`resolved`).
`resolved` is final: a recurrence opens a new incident.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from oasis.incidents.model import Incident, Status, TimelineEvent
from oasis.signals.errors import Conflict

S = Status
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.INITIAL_DETECTION: frozenset({S.ANALYSIS_COMPLETE, S.RESOLVED, S.ESCALATED}),
    S.ANALYSIS_COMPLETE: frozenset({S.PENDING_APPROVAL, S.APPROVED, S.RESOLVED, S.ESCALATED}),
    S.PENDING_APPROVAL: frozenset({S.APPROVED, S.REJECTED, S.EXPIRED, S.RESOLVED,
                                   S.ESCALATED}),
    S.APPROVED: frozenset({S.MITIGATING, S.FAILED}),
    S.MITIGATING: frozenset({S.MITIGATED, S.FAILED}),
    S.MITIGATED: frozenset({S.RESOLVED, S.FAILED}),
    S.REJECTED: frozenset({S.PENDING_APPROVAL, S.APPROVED, S.RESOLVED, S.ESCALATED}),
    S.EXPIRED: frozenset({S.PENDING_APPROVAL, S.APPROVED, S.RESOLVED, S.ESCALATED}),
    S.FAILED: frozenset({S.ESCALATED, S.PENDING_APPROVAL, S.RESOLVED}),
    S.ESCALATED: frozenset({S.PENDING_APPROVAL, S.APPROVED, S.RESOLVED}),
    S.RESOLVED: frozenset(),
}

# While OASIS is acting, only OASIS moves the incident on: a person resolving it mid-rollback
# would leave the action's outcome unrecorded.
ACTING = frozenset({S.APPROVED, S.MITIGATING})
FINAL = frozenset({S.RESOLVED})


class IllegalTransition(Conflict, ValueError):
    """The incident cannot go to that status from where it is."""


def allowed(current: Status) -> frozenset[Status]:
    return TRANSITIONS[current]


def check_transition(current: Status, to: Status) -> None:
    if to not in TRANSITIONS[current]:
        nexts = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none (final)"
        raise IllegalTransition(
            f"cannot move an incident from {current.value} to {to.value}; from "
            f"{current.value} it can go to: {nexts}")


def apply_transition(incident: Incident, to: Status, *, actor: str, at: datetime,
                     message: str = "", data: dict[str, Any] | None = None) -> TimelineEvent:
    """Move `incident` to `to` in memory and return the timeline event that records it."""
    check_transition(incident.status, to)
    before = incident.status
    incident.status = to
    text = message or f"{before.value} → {to.value}"
    return TimelineEvent(at, f"status:{to.value}", text, actor,
                         {"from": before.value, "to": to.value, **(data or {})})
