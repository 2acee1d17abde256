"""The kinds of audit record OASIS writes, so every writer spells them the same way.

`AuditLog.append` takes any kind string; these are the ones OASIS itself uses.
"""

from __future__ import annotations

from enum import StrEnum


class AuditKind(StrEnum):
    INCIDENT_DETECTED = "incident.detected"
    INCIDENT_RECOVERED = "incident.recovered"
    ANALYSIS_CONCLUDED = "analysis.concluded"
    NOTIFICATION_SENT = "notification.sent"
    NOTIFICATION_FAILED = "notification.failed"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_GRANTED = "approval.granted"
    APPROVAL_DENIED = "approval.denied"
    ACTION_EXECUTED = "action.executed"
    ACTION_FAILED = "action.failed"
    LOGIN_FAILED = "auth.login_failed"
    LOGIN_LOCKED = "auth.login_locked"
