"""Triage: who must act on an accepted event, who must know, and their tickets.

Stakeholders, owner first:
- the owner remediates, most specific first: the team the alert's labels route it to
  (routing.py); the first team whose `owns` names the event's service or a prefix of an
  affected resource's type (org order); the team owning the affected account (`owner`
  or `tags.team`); else the `default_owner` team. Security findings too are owned by
  whoever owns the resource: SecOps is told, not handed the fix. Any other team whose
  `owns` matches is informed.
- informed: `stakeholder_for` severity_5 when the severity is 5 or a policy rule
  escalates; cost_impact when Acknowledge found a cost impact; security_high for HIGH
  and CRITICAL findings; no_action_needed always.

One ticket per stakeholder team, exactly one of them the owner's. The same event again
(same key) updates its tickets when it is newer than what they were built from, and
changes nothing when it is not; an update never lowers a ticket's severity (it keeps
its peak), and one firing again reopens what its resolve closed (lifecycle.py). Tickets
are mirrored to Jira when a tracker is given;
a Jira failure is written on the ticket's history and retried on the next update (or
by `mirror_pending`), never lost and never a reason to fail triage.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from oasis.signals.crashpoints import crash_point
from oasis.signals.model import utc_iso
from oasis.triage.acknowledge import Acknowledgement, named_accounts, security_high
from oasis.triage.lifecycle import is_resolution
from oasis.triage.model import OpsEvent
from oasis.triage.org import Organisation, Team
from oasis.triage.routing import LabelRouting, label_owner, label_production
from oasis.triage.severity import SeverityAssessment, assess, finding_payload
from oasis.triage.tickets import Ticket, TicketStatus, TicketStore, history_entry, new_ticket_id

if TYPE_CHECKING:
    from oasis.triage.jira import JiraTracker

log = logging.getLogger(__name__)

HEALTH_EVENT_URL = "https://health.aws.amazon.com/health/home#/account/event-log?eventID={arn}"
COST_ANOMALY_URL = "https://console.aws.amazon.com/cost-management/home#/anomaly-detection"
_EVENT_TEXT_LIMIT = 2000  # the source's own words, untrusted and sometimes very long


@dataclass(frozen=True)
class Stakeholder:
    team: Team
    role: Literal["owner", "informed"]
    why: str


class TriageOutcome(BaseModel):
    created: list[Ticket]
    updated: list[Ticket]
    unchanged: list[Ticket]
    stakeholders: list[str]
    owner: str
    reopened: list[str] = []  # ids among `updated` that were Resolved and are New again


def owning_teams(org: Organisation, event: OpsEvent) -> list[tuple[Team, str]]:
    """Teams whose `owns` matches the event, in org order, with what matched."""
    service = (event.service or "").upper()
    types = [r.type for r in event.resources if r.type]
    found = []
    for team in org.teams:
        for owned in team.owns:
            if "::" in owned:
                hit = next((t for t in types if t.lower().startswith(owned.lower())), None)
            else:
                hit = event.service if service and owned.upper() == service else None
            if hit:
                found.append((team, f"owns {owned}"))
                break
    return found


def account_owner(org: Organisation, event: OpsEvent) -> tuple[Team, str] | None:
    """The team owning the first named account that names one (`owner`, `tags.team`)."""
    for account_id in named_accounts(event):
        account = org.account(account_id)
        team = org.team(account.team) if account and account.team else None
        if team is not None:
            return team, f"owns account {account.id} ({account.name})"
    return None


def owner_of(org: Organisation, event: OpsEvent, routing: LabelRouting,
             owners: list[tuple[Team, str]]) -> tuple[Team, str]:
    """Who remediates, most specific first: the alert's labels, a team owning the service
    or resource type, the team owning the account, else the default owner."""
    chosen = label_owner(org, event, routing) or (owners[0] if owners else None) \
        or account_owner(org, event)
    if chosen is not None:
        return chosen
    return org.default_owner, "default owner: no team owns " + (
        event.service or "this kind of event")


def stakeholders(org: Organisation, event: OpsEvent, ack: Acknowledgement,
                 level: int, routing: LabelRouting | None = None) -> list[Stakeholder]:
    """The owner first, then every team to inform, each once, with why."""
    owners = owning_teams(org, event)
    owner, why = owner_of(org, event, routing or LabelRouting(), owners)
    chosen = [Stakeholder(owner, "owner", why)]
    for team, matched in owners:
        if team.id != owner.id:
            chosen.append(Stakeholder(team, "informed", f"{matched} (also affected)"))
    wants = {"no_action_needed": "kept informed of every accepted event"}
    if level >= 5 or ack.escalate:
        wants["severity_5"] = ("escalated by policy rule " + repr(ack.rule)) if ack.escalate \
            and level < 5 else "severity 5 event"
    if ack.cost_impact:
        wants["cost_impact"] = "the event has a cost impact"
    if security_high(event):
        wants["security_high"] = f"{(event.severity_label or '').upper()} security finding"
    for team in org.teams:
        reasons = [wants[k] for k in team.stakeholder_for if k in wants]
        if reasons and all(s.team.id != team.id for s in chosen):
            chosen.append(Stakeholder(team, "informed", "; ".join(reasons)))
    return chosen


class Triage:
    """Turn an accepted event into tickets, keep them current, mirror them to Jira."""

    def __init__(self, org: Organisation, store: TicketStore,
                 tracker: JiraTracker | None = None,
                 on_status: Callable[[Ticket, str], None] | None = None,
                 routing: LabelRouting | None = None) -> None:
        self.org, self.store, self.tracker = org, store, tracker
        self.on_status = on_status  # told (ticket, actor) after a status change
        self.routing = routing or LabelRouting()

    def triage(self, event: OpsEvent, ack: Acknowledgement, now: datetime) -> TriageOutcome:
        existing = self.store.for_event(event.key)
        level = self.severity_of(event, now)
        people = stakeholders(self.org, event, ack, level.level, self.routing)
        owner = next((t.team for t in existing if t.role == "owner"), people[0].team.id)
        created: list[Ticket] = []
        updated: list[Ticket] = []
        unchanged: list[Ticket] = []
        by_team = {t.team: t for t in existing}
        # Not newer, and every stakeholder has its ticket: nothing to do. A stakeholder
        # still without one means a process died half-way through creating them.
        if existing and event.last_updated <= max(t.event_last_updated for t in existing) \
                and all(p.team.id in by_team for p in people):
            return TriageOutcome(created=[], updated=[], unchanged=existing,
                                 stakeholders=[t.team for t in existing], owner=owner)
        reopened: list[str] = []
        if not is_resolution(event):  # firing again: what the last resolve closed opens
            for ticket in existing:
                if self.store.reopen(ticket.id, "oasis:triage", f"{event.title} is "
                                     f"{event.status or 'active'} again", now) is not None:
                    reopened.append(ticket.id)
        for ticket in existing:
            person = next((p for p in people if p.team.id == ticket.team), None)
            fresh = self._refresh(ticket, event, ack, level, person, now)
            (updated if fresh is not None else unchanged).append(fresh or ticket)
        for person in people:
            if person.team.id in by_team:
                continue
            if existing and person.role == "owner":  # the owner was chosen when first seen
                person = Stakeholder(person.team, "informed", person.why)
            ticket, fresh = self.store.add(self._ticket(event, ack, level, person, now))
            (created if fresh else unchanged).append(ticket)
            crash_point("triage.after_ticket")
        created = [self._mirror(t, now) for t in created]
        updated = [self._mirror(t, now) for t in updated]
        for ticket in updated:
            if ticket.id in reopened:
                self._transition_jira(ticket)
        teams = [t.team for t in created + updated + unchanged]
        return TriageOutcome(created=created, updated=updated, unchanged=unchanged,
                             stakeholders=list(dict.fromkeys([owner, *teams])), owner=owner,
                             reopened=reopened)

    def resolve(self, event: OpsEvent, now: datetime, actor: str) -> list[Ticket]:
        """Close the event's open tickets because its source says it is over; their
        severity stays what it was (the peak). Returns the tickets it closed."""
        reason = f"{event.title} ({event.source} status {event.status})"
        closed = []
        for ticket in self.store.for_event(event.key):
            done = self.store.resolve_by_source(ticket.id, actor, reason, event.last_updated,
                                                now)
            if done is not None:
                closed.append(self._transition_jira(done))
        return closed

    def severity_of(self, event: OpsEvent, now: datetime) -> SeverityAssessment:
        named = named_accounts(event)
        production = any(a.production for a in (self.org.account(i) for i in named) if a) \
            if named else label_production(event, self.routing)
        return assess(event, now, production=production)

    def set_status(self, ticket_id: str, status: str | TicketStatus, actor: str,
                   note: str = "") -> Ticket:
        """Move a ticket on (one step; see tickets.py) and move its Jira issue too."""
        ticket = self._transition_jira(self.store.set_status(ticket_id, status, actor, note))
        if self.on_status is not None:
            try:
                self.on_status(ticket, actor)
            except Exception:  # a chat message must not undo or fail the status change
                log.exception("could not tell about ticket %s", ticket_id)
        return ticket

    def _transition_jira(self, ticket: Ticket) -> Ticket:
        if self.tracker is None or not ticket.external_id:
            return ticket
        try:
            self.tracker.transition(ticket.external_id, ticket.status)
        except Exception as exc:  # the local status stands; Jira catches up by hand
            return self.store.note(ticket.id, "oasis:jira", f"Jira transition of "
                                   f"{ticket.external_id} failed: {exc}")
        return ticket

    def mirror_pending(self, limit: int = 100) -> list[Ticket]:
        """Retry Jira for tickets that have no Jira key yet (after an outage)."""
        if self.tracker is None:
            return []
        pending = [t for t in self.store.list(limit=limit) if not t.external_id]
        return [self._mirror(t, datetime.now(UTC)) for t in pending]

    # -- tickets ---------------------------------------------------------------------------
    def _ticket(self, event: OpsEvent, ack: Acknowledgement, level: SeverityAssessment,
                person: Stakeholder, now: datetime) -> Ticket:
        title, description, actions = self._content(event, ack, level, person)
        return Ticket(
            id=new_ticket_id(now), event_key=event.key, team=person.team.id, role=person.role,
            title=title, description=description, recommended_actions=actions,
            event_last_updated=event.last_updated, accounts=named_accounts(event),
            resources=[r.id for r in event.resources], severity=level.level,
            status=TicketStatus.NEW, created_at=now, updated_at=now,
            history=[history_entry(now, "oasis:triage", f"created for {person.team.name} "
                                   f"({person.role}: {person.why})")])

    def _refresh(self, ticket: Ticket, event: OpsEvent, ack: Acknowledgement,
                 level: SeverityAssessment, person: Stakeholder | None,
                 now: datetime) -> Ticket | None:
        team = self.org.team(ticket.team)
        person = person or Stakeholder(
            team or self.org.default_owner, ticket.role, "involved when the event was first seen")
        person = Stakeholder(person.team, ticket.role, person.why)
        if ticket.severity > level.level:  # a ticket keeps the peak its event reached
            level = SeverityAssessment(ticket.severity, f"{level.reason}; kept at its peak "
                                       f"{ticket.severity}", level.deadline)
        title, description, actions = self._content(event, ack, level, person)

        applied: list[bool] = []

        def apply(current: Ticket) -> Ticket | None:
            applied.clear()  # a retried attempt decides afresh
            if current.event_last_updated >= event.last_updated:  # another process was first
                return None
            applied.append(True)
            change = f"event updated (last updated {utc_iso(event.last_updated)})"
            peak = max(current.severity, level.level)
            if current.severity != peak:
                change += f"; severity {current.severity} → {peak}"
            current.title, current.description = title, description
            current.recommended_actions, current.severity = actions, peak
            current.event_last_updated = event.last_updated
            current.accounts = named_accounts(event)
            current.resources = [r.id for r in event.resources]
            current.updated_at = now
            current.history.append(history_entry(now, "oasis:triage", change))
            return current

        fresh = self.store.change(ticket.id, apply)
        return fresh if applied else None

    def _content(self, event: OpsEvent, ack: Acknowledgement, level: SeverityAssessment,
                 person: Stakeholder) -> tuple[str, str, list[dict[str, str]]]:
        return (ticket_title(event, self.org, level),
                ticket_description(event, self.org, ack, level, person),
                recommended_actions(event, level, person))

    def _mirror(self, ticket: Ticket, now: datetime) -> Ticket:
        if self.tracker is None:
            return ticket
        try:
            key = self.tracker.upsert(ticket)
        except Exception as exc:  # Jira down or refusing: keep the ticket, say so on it
            log.warning("could not mirror ticket %s to Jira: %s", ticket.id, exc)
            return self.store.note(ticket.id, "oasis:jira", f"Jira sync failed: {exc}; "
                                   "retried on the next update", now)
        if key == ticket.external_id:
            return ticket

        def link(current: Ticket) -> Ticket:
            current.external_id = key
            current.history.append(history_entry(now, "oasis:jira", f"mirrored to Jira as {key}"))
            return current

        return self.store.change(ticket.id, link)


def ticket_title(event: OpsEvent, org: Organisation, level: SeverityAssessment) -> str:
    """The impact in one line: what, where, how bad."""
    accounts = [org.account(i) for i in named_accounts(event)]
    where = ", ".join(f"{a.name}{' (production)' if a.production else ''}"
                      for a in accounts if a)
    impact = f"sev {level.level}"
    if event.resources:
        impact += f", {len(event.resources)} resource{'s' if len(event.resources) > 1 else ''}"
    if where:
        impact += f" in {where}"
    if level.deadline is not None:
        impact += f", by {level.deadline:%Y-%m-%d}"
    title = " ".join(f"{event.title} — {impact}".split())
    return title if len(title) <= 250 else title[:249] + "…"


def what_to_do(event: OpsEvent, level: SeverityAssessment) -> str:
    status = (event.status or "").lower()
    if event.category == "finding":
        return "Remediate the security finding on the affected resources."
    if level.deadline is not None:
        return (f"Upgrade, migrate or otherwise prepare the affected resources before "
                f"{level.deadline:%Y-%m-%d}.")
    if event.category == "scheduledChange":
        return "Review the scheduled change and prepare the affected resources for it."
    if event.category == "issue":
        if status == "closed":
            return "Confirm the affected workloads recovered after the service issue."
        return "Check the affected workloads for impact; fail over or mitigate until resolved."
    if event.category == "alarm":
        return "Investigate the alarm and bring the metric back to normal."
    if event.category == "cost":
        return "Find the cause of the cost anomaly and stop unintended spend."
    if event.category == "accountNotification":
        return "Read the notification and act on it where it applies."
    return "Investigate the reported problem and fix it or hand it on."


def ticket_description(event: OpsEvent, org: Organisation, ack: Acknowledgement,
                       level: SeverityAssessment, person: Stakeholder) -> str:
    """What needs doing, why this team, and the facts a person needs to start."""
    todo = what_to_do(event, level)
    if person.role == "owner":
        lines = [f"{person.team.name} owns the remediation ({person.why}).",
                 f"What needs doing: {todo}"]
    else:
        lines = [f"{person.team.name} is informed: {person.why}. The owner team does the "
                 f"work ({todo.rstrip('.')}); act only if it concerns you."]
    lines.append(f"Severity {level.level}: {level.reason}.")
    accounts = []
    for account_id in named_accounts(event):
        account = org.account(account_id)
        if account is None:
            accounts.append(f"{account_id} (not in the organisation)")
            continue
        env = "production" if account.production else "non-production"
        accounts.append(f"{account_id} ({account.name}, {env})")
    if accounts:
        lines.append("Accounts: " + "; ".join(accounts))
    if event.resources:
        shown = [r.id for r in event.resources[:20]]
        more = len(event.resources) - len(shown)
        lines.append("Resources: " + ", ".join(shown) + (f" and {more} more" if more else ""))
    facts = [f"source {event.source}", f"category {event.category}"]
    facts += [f"{name} {value}" for name, value in (
        ("service", event.service), ("type", event.event_type), ("region", event.region),
        ("status", event.status)) if value]
    lines.append("Event: " + ", ".join(facts) + f"; last updated {utc_iso(event.last_updated)}.")
    lines.append(f"Accepted because: {ack.reason}.")
    text = event.description.strip()
    if text:
        if len(text) > _EVENT_TEXT_LIMIT:
            text = text[:_EVENT_TEXT_LIMIT] + " […]"
        lines.append(f"\nAs the source describes it:\n{text}")
    return "\n".join(lines)


def recommended_actions(event: OpsEvent, level: SeverityAssessment,
                        person: Stakeholder) -> list[dict[str, str]]:
    """Concrete next steps, each with a reference link when there is one."""
    actions: list[dict[str, str]] = []
    if person.role == "owner":
        actions.append({"text": what_to_do(event, level)})
    else:
        actions.append({"text": "Follow the owner team's ticket; no action is needed from "
                                "your team unless it concerns you."})
    if event.source == "aws.health":
        actions.append({"text": "Read the event and its affected resources in the AWS "
                                "Health dashboard",
                        "url": HEALTH_EVENT_URL.format(arn=event.key)})
    finding = finding_payload(event) or {}
    remediation = finding.get("Remediation") if isinstance(finding, dict) else None
    recommendation = remediation.get("Recommendation") if isinstance(remediation, dict) else None
    recommendation = recommendation if isinstance(recommendation, dict) else {}
    url = recommendation.get("Url") or event.labels.get("RecommendationUrl")
    if event.category == "finding" and (url or recommendation.get("Text")):
        action = {"text": str(recommendation.get("Text") or "Follow the finding's "
                                                                "remediation guidance")}
        if isinstance(url, str) and url:
            action["url"] = url
        actions.append(action)
    if event.category == "cost" or event.source == "aws.cost-anomaly":
        actions.append({"text": "Review the anomaly and its root causes in Cost Anomaly "
                                "Detection", "url": COST_ANOMALY_URL})
    return actions
