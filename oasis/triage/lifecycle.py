"""An alert's own lifecycle: firing, resolved, firing again.

Alertmanager says `resolved`, a CloudWatch alarm goes back to `OK`, a PagerDuty event is
resolved: the source saw the trouble end before any person did, so its open tickets close
(`Triage.resolve`). The same alert firing again reopens what the resolve closed. A ticket
keeps the highest severity its event ever had: an alert that calmed down was still as
bad as it was, and a resolved update (severity 1 by the rules) must not hide that.
"""

from __future__ import annotations

from oasis.triage.model import OpsEvent

#: Status values with which an alarm-like source says the trouble is over.
RESOLVED_STATUSES = frozenset({"resolved", "ok"})


def is_resolution(event: OpsEvent) -> bool:
    """Whether `event` is an alert or alarm saying it is over (not a Health event closing:
    that asks the owner to check the workloads recovered, so its tickets stay open)."""
    return event.category == "alarm" and (event.status or "").lower() in RESOLVED_STATUSES


def was_resolved(event: OpsEvent | None) -> bool:
    return event is not None and is_resolution(event)
