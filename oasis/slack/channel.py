"""The Slack app as an outbox channel: incident and event messages are queued with every
other notification, retried with the same backoff, and shown as deliveries.

Incident notifications (summary, approval request, escalation, final report) become one
message per incident with Approve / Reject while an action waits, edited as the incident
moves, each step a reply in its thread. It goes to the channel of the team whose `owns`
names the incident's root-cause service, else to `slack.default_channel`.
Event and ticket messages arrive already decided by `SlackEventWatcher`: a `slack` entry
in the payload says which thread, what root and what reply.
"""

from __future__ import annotations

from typing import Any

from oasis.notify.channels import DeliveryError
from oasis.notify.message import Notification
from oasis.slack.messages import (
    IncidentCard,
    ProposedAction,
    incident_message,
    status_update_text,
)
from oasis.slack.notifier import Root, SlackNotifier, SlackSendError, incident_subject
from oasis.triage.org import Organisation, Team

CHANNEL_NAME = "slack"
_NOTES = {"incident_summary": "analysis complete", "approval_request": "approval requested",
          "escalation": "escalated to people", "final_report": "final report"}


def team_for_service(org: Organisation | None, service: str | None) -> Team | None:
    """The first team (org order) whose `owns` names `service`, ignoring case."""
    if org is None or not service:
        return None
    wanted = service.lower()
    return next((t for t in org.teams if any(o.lower() == wanted for o in t.owns)), None)


class SlackChannel:
    """Delivers notifications to Slack; failures say whether a retry can help."""

    name = CHANNEL_NAME

    def __init__(self, notifier: SlackNotifier, org: Organisation | None = None) -> None:
        self.notifier, self.org = notifier, org

    def send(self, n: Notification) -> None:
        try:
            if "slack" in n.payload:
                self._thread_op(n.payload["slack"])
            elif n.payload.get("incident"):
                self._incident(n.kind, n.payload)
            else:
                raise DeliveryError(f"{n.kind} notifications have no Slack form",
                                    retryable=False)
        except SlackSendError as exc:
            raise DeliveryError(str(exc), retryable=exc.retryable) from None

    def _thread_op(self, op: dict[str, Any]) -> None:
        subject = str(op["subject"])
        root = Root(**op["root"]) if op.get("root") else None
        # no channel: every channel the subject already has a thread in
        channels = [op["channel"]] if op.get("channel") else self.notifier.channels_of(subject)
        for channel in channels:
            self.notifier.into_thread(subject, channel, root, op.get("reply"))

    def _incident(self, kind: str, payload: dict[str, Any]) -> None:
        incident = payload["incident"]
        card = incident_card(incident, payload.get("actions") or [])
        subject = incident_subject(card.incident_id)
        known = self.notifier.threads.get(subject)
        team = team_for_service(self.org, incident.get("root_cause_service"))
        channel = known.channel if known else (team.channel if team else None)
        note = status_update_text(card.incident_id, card.status,
                                  _incident_note(card, kind, payload))
        self.notifier.into_thread(subject, channel, Root("incident", incident_message(card)),
                                  note)


def incident_card(incident: dict[str, Any], actions: list[dict[str, Any]]) -> IncidentCard:
    """The card for an incident notification's payload (`oasis.notify.message`)."""
    waiting = next((a for a in actions if a.get("status") == "proposed"
                    and a.get("kind") != "notify_only"), None)
    action = None
    if waiting is not None:
        params = " ".join(f"{k}={v}" for k, v in (waiting.get("params") or {}).items()
                          if v is not None)
        reason = f" ({waiting['reason']})" if waiting.get("reason") else ""
        action = ProposedAction(str(waiting["id"]), f"{waiting.get('kind')} {params}".strip()
                                + reason, str(waiting.get("risk", "unknown")))
    change = incident.get("suspected_change")
    if isinstance(change, dict):
        change = " ".join(str(change[k]) for k in ("service", "version") if change.get(k))
    return IncidentCard(
        incident_id=str(incident["id"]), title=str(incident.get("title", "")),
        severity=str(incident.get("severity", "unknown")),
        status=str(incident.get("status", "unknown")),
        root_cause=incident.get("root_cause_service"), suspected_change=change or None,
        action=action)


def _incident_note(card: IncidentCard, kind: str, payload: dict[str, Any]) -> str:
    note = _NOTES.get(kind, kind.replace("_", " "))
    if kind == "approval_request" and card.action is not None:
        note += f" for {card.action.description}"
    if payload.get("reason"):
        note += f": {payload['reason']}"
    if kind == "final_report" and payload.get("time_to_resolve_minutes") is not None:
        note += f", resolved in {payload['time_to_resolve_minutes']} min"
    return note
