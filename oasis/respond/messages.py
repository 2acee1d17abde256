"""What each message about an incident says: the context its template is rendered with."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from oasis.approve.links import Decision, LinkSigner
from oasis.incidents.model import Incident, Status
from oasis.notify.links import incident_url
from oasis.respond.actions import ActionRecord, ActionStatus
from oasis.signals.model import utc_iso


def base_context(incident: Incident, actions: Sequence[ActionRecord],
                 public_url: str) -> dict[str, Any]:
    return {"incident": incident.to_dict(), "actions": [a.to_dict() for a in actions],
            "console_url": incident_url(public_url, incident.id)}


def approval_context(incident: Incident, actions: Sequence[ActionRecord], public_url: str,
                     signer: LinkSigner, expires_at: datetime) -> dict[str, Any]:
    """The approval request: one approve and one reject link per waiting action."""
    waiting = [a for a in actions if a.status is ActionStatus.PROPOSED]
    base = public_url.rstrip("/")
    links = {a.id: {d.value: f"{base}/approve/{signer.sign(incident.id, a.id, d, expires_at)}"
                    for d in Decision} for a in waiting}
    return {**base_context(incident, waiting, public_url), "links": links,
            "expires_at": utc_iso(expires_at)}


def report_context(incident: Incident, actions: Sequence[ActionRecord], public_url: str,
                   system_state: dict[str, str]) -> dict[str, Any]:
    """The final report: what was done, how long it took, where things stand, what next."""
    taken = [a for a in actions if a.status in (ActionStatus.SUCCEEDED, ActionStatus.FAILED)]
    # From the onset to the last symptom, both on the signals' clock.
    minutes = round((incident.last_seen_at - incident.started_at).total_seconds() / 60, 1)
    return {**base_context(incident, taken, public_url),
            "outcome": incident.status.value,
            "time_to_resolve_minutes": minutes if incident.status is Status.RESOLVED else None,
            "system_state": system_state, "next_steps": next_steps(incident, taken)}


def next_steps(incident: Incident, taken: Sequence[ActionRecord]) -> list[str]:
    steps = []
    change = incident.suspected_change
    if any(a.kind.value == "rollback" and a.status is ActionStatus.SUCCEEDED for a in taken):
        version = change["version"] if change else "the rolled-back version"
        steps.append(f"Find and fix the defect in {version} before deploying it again; "
                     "add a test that reproduces the errors in this report.")
    elif any(a.kind.value == "restart" and a.status is ActionStatus.SUCCEEDED for a in taken):
        steps.append("A restart treats the symptom: find why the service degraded "
                     "(pool sizing, leaks, a stuck dependency) before it recurs.")
    elif any(a.kind.value == "scale" and a.status is ActionStatus.SUCCEEDED for a in taken):
        steps.append("Review capacity and autoscaling limits for the new load level.")
    if not taken:
        steps.append("Symptoms cleared without an action: check whether a dependency or "
                     "traffic pattern caused it, and whether the alert was worth a page.")
    if incident.status is not Status.RESOLVED:
        steps.insert(0, "The incident is not resolved: a person needs to take over now.")
    steps.append("Write the post-incident review while the timeline is fresh.")
    return steps
