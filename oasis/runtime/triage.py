"""Build the triage side from settings, for the service and the CLI alike. Moved here from
`oasis.triage.wiring`: the flow package does not know Slack."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from oasis.audit import AuditLog
from oasis.config import Settings
from oasis.incidents import IncidentStore
from oasis.knowledge import KnowledgeBase
from oasis.notify import Outbox, channels_from
from oasis.runtime.slack import slack_watcher
from oasis.triage.acknowledge import AcknowledgePolicy
from oasis.triage.cost_judge import CostJudge
from oasis.triage.events import EventStore
from oasis.triage.flow import TriageFlow
from oasis.triage.org import Organisation, OrganisationError, Team, load_organisation
from oasis.triage.pagerduty import PagerDutyIntake
from oasis.triage.policy import PolicyRules
from oasis.triage.queue import EventQueue
from oasis.triage.sns import SnsGate
from oasis.triage.tickets import TicketStore
from oasis.triage.triage import Triage

# Without triage.organisation_file: one team that owns and hears about everything, and no
# accounts, so events naming an account are rejected as unknown until a file says whose it
# is (docs/triage-events.md, "The built-in organisation").
BUILTIN_ORGANISATION = Organisation(accounts=[], teams=[Team(
    id="ops", name="Operations", default_owner=True,
    responsibilities="Everything: the built-in team, until an organisation file names "
                     "the accounts and the teams that own them.",
    stakeholder_for=["severity_5", "cost_impact", "security_high"])])


@dataclass
class TriageKit:
    org: Organisation
    flow: TriageFlow
    events: EventStore
    tickets: TicketStore
    queue: EventQueue | None = None
    pagerduty: PagerDutyIntake | None = None
    sns: SnsGate | None = None

    def close(self) -> None:
        if self.queue is not None:
            self.queue.close()


#: The lease under which one replica at a time works the triage queue.
TRIAGE_LEASE = "triage"


def build_triage(settings: Settings, incidents: IncidentStore, audit: AuditLog,
                 outbox: Outbox | None, *, with_queue: bool = False,
                 knowledge: KnowledgeBase | None = None,
                 under_lease: Callable[[Callable[[bool], object]], bool] | None = None,
                 lease_poll_seconds: float | None = None) -> TriageKit:
    """The triage side; with `with_queue`, its durable queue's worker too, working only
    while `under_lease(step)` runs the step (it holds `TRIAGE_LEASE`), asking again every
    `lease_poll_seconds` at most."""
    cfg = settings.triage
    org = (load_organisation(cfg.organisation_file) if cfg.organisation_file is not None
           else BUILTIN_ORGANISATION)
    for integration in cfg.pagerduty:
        if integration.team is not None and org.team(integration.team) is None:
            raise OrganisationError(f"triage.pagerduty ({integration.name}): team "
                                    f"{integration.team!r} is not in the organisation")
    rules = PolicyRules.load(cfg.policy_file) if cfg.policy_file else None
    policy = AcknowledgePolicy(org, rules, allow_interaction=cfg.allow_interaction,
                               routing=cfg.routing)
    tickets = TicketStore(settings.incident_db_url)
    tracker = None
    if cfg.jira is not None:
        from oasis.triage.jira import JiraTracker

        tracker = JiraTracker(cfg.jira.base_url, cfg.jira.email, cfg.jira.api_token,
                              cfg.jira.project_key, issue_type=cfg.jira.issue_type)
    events = EventStore(incidents.engine)
    channels = list(channels_from(settings.notify)) if outbox is not None else []
    watcher = slack_watcher(settings, outbox, org)
    on_status = (lambda ticket, actor: watcher.ticket_changed(ticket, "status", actor)) \
        if watcher is not None else None
    triage = Triage(org, tickets, tracker, on_status, cfg.routing)
    flow = TriageFlow(org, policy, triage, events, audit, outbox, channels,
                      settings.approve.public_url,
                      remember=_rememberer(knowledge) if knowledge is not None else None,
                      cost_judge=CostJudge(settings.model)
                      if settings.model.provider != "none" else None, watcher=watcher)
    queue = EventQueue(flow, incidents.engine, cfg.queue_size,
                       claim_seconds=cfg.queue_claim_seconds,
                       under_lease=under_lease,
                       lease_poll_seconds=lease_poll_seconds) if with_queue else None
    return TriageKit(org, flow, events, tickets, queue, PagerDutyIntake(flow, cfg.pagerduty),
                     SnsGate(cfg.sns))


def _rememberer(knowledge: KnowledgeBase):
    """Accepted events' tickets go into the knowledge base's memory, so a later question
    ("have we seen this EKS deprecation before?") finds them and who handled them."""
    def remember(record, outcome) -> None:
        for ticket in list(outcome.created) + list(outcome.updated):
            knowledge.remember_ticket(ticket.model_dump(mode="json"))
    return remember
