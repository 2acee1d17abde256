"""Triage tickets: creation per stakeholder, updates, no-ops, no duplicates (SQLite and
PostgreSQL), the status order, and mirroring to a (fake, real HTTP) Jira."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from oasis.triage.acknowledge import AcknowledgePolicy
from oasis.triage.jira import JiraTracker, event_label
from oasis.triage.model import OpsEvent, Resource
from oasis.triage.org import Organisation, load_organisation
from oasis.triage.tickets import (
    IllegalTicketTransition,
    TicketStatus,
    TicketStore,
)
from oasis.triage.triage import Triage
from tests.fakes.jira import FakeJira
from tests.servers import serving

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PROD = "111122223333"
ARN = "arn:aws:health:eu-west-1::event/EKS/AWS_EKS_PLANNED_LIFECYCLE_EVENT/abc"


@pytest.fixture(scope="module")
def org() -> Organisation:
    return load_organisation(ROOT / "examples" / "organisation.yaml")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TicketStore]:
    s = TicketStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.close()


def lifecycle(updated: datetime = NOW, days_left: int = 60, **overrides: Any) -> OpsEvent:
    fields: dict[str, Any] = dict(
        key=ARN, source="aws.health", category="scheduledChange",
        title="EKS Kubernetes 1.27 end of standard support", service="EKS",
        description="Kubernetes 1.27 is deprecated; upgrade your clusters.",
        event_type="AWS_EKS_PLANNED_LIFECYCLE_EVENT", region="eu-west-1", status="upcoming",
        scope="ACCOUNT_SPECIFIC", severity_label=None, accounts=[PROD],
        resources=[Resource(id=f"arn:aws:eks:eu-west-1:{PROD}:cluster/shop",
                            type="AWS::EKS::Cluster", account=PROD)],
        start_time=None, end_time=NOW + timedelta(days=days_left), last_updated=updated,
        raw={})
    return OpsEvent(**{**fields, **overrides})


def run(triage: Triage, org: Organisation, event: OpsEvent, now: datetime = NOW) -> Any:
    return triage.triage(event, AcknowledgePolicy(org).decide(event), now)


def test_one_ticket_per_stakeholder_with_one_owner(org: Organisation,
                                                   store: TicketStore) -> None:
    outcome = run(Triage(org, store), org, lifecycle())
    assert outcome.owner == "app01" and outcome.stakeholders == ["app01"]
    [ticket] = outcome.created
    assert (ticket.team, ticket.role, ticket.status, ticket.severity) == (
        "app01", "owner", TicketStatus.NEW, 3)
    assert "EKS" in ticket.title and "retail-web-prod (production)" in ticket.title
    assert "\n" not in ticket.title and "before 2025-07-31" in ticket.description
    assert {"text": "Read the event and its affected resources in the AWS Health dashboard",
            "url": f"https://health.aws.amazon.com/health/home#/account/event-log?eventID={ARN}"
            } in ticket.recommended_actions
    assert store.for_event(ARN)[0].model_dump(mode="json")["created_at"] == \
        "2025-06-01T12:00:00.000Z"


def test_finding_tickets_link_the_remediation_and_inform_secops(
        org: Organisation, store: TicketStore) -> None:
    url = "https://docs.aws.amazon.com/securityhub/latest/userguide/ec2-controls.html#ec2-2"
    raw = {"SchemaVersion": "2018-10-08", "Id": "finding-1",
           "Remediation": {"Recommendation": {"Text": "Restrict the default security group",
                                              "Url": url}}}
    event = OpsEvent(
        key="finding-1", source="aws.securityhub", category="finding",
        title="EC2.2 default security group allows traffic", description="...",
        service="EC2", event_type="Software and Configuration Checks", region="eu-west-1",
        status="NEW", scope=None, severity_label="CRITICAL", accounts=[PROD],
        resources=[Resource(id="sg-123", type="AWS::EC2::SecurityGroup", account=PROD)],
        start_time=None, end_time=None, last_updated=NOW, raw=raw)
    outcome = run(Triage(org, store), org, event)
    roles = {t.team: t.role for t in outcome.created}
    assert roles == {"inf01": "owner", "mgt01": "informed", "sec01": "informed",
                     "app01": "informed"}
    owner = next(t for t in outcome.created if t.role == "owner")
    assert {"text": "Restrict the default security group", "url": url} in \
        owner.recommended_actions and owner.severity == 5
    secops = next(t for t in outcome.created if t.team == "sec01")
    assert "CRITICAL security finding" in secops.description


def test_newer_event_updates_its_tickets_and_older_changes_nothing(
        org: Organisation, store: TicketStore) -> None:
    triage = Triage(org, store)
    [first] = run(triage, org, lifecycle()).created
    same = run(triage, org, lifecycle(title="changed but not newer"))
    older = run(triage, org, lifecycle(updated=NOW - timedelta(days=1)))
    assert same.created == same.updated == older.created == older.updated == []
    assert store.get(first.id) == first
    later = NOW + timedelta(days=40)
    newer = run(triage, org, lifecycle(updated=later, days_left=60), now=later)
    [ticket] = newer.updated
    assert ticket.id == first.id and ticket.severity == 4  # 20 days left now
    assert ticket.event_last_updated == later
    assert ticket.history[-1]["change"] == (
        "event updated (last updated 2025-07-11T12:00:00.000Z); severity 3 → 4")


def test_an_update_that_raises_severity_to_5_brings_leadership_in(
        org: Organisation, store: TicketStore) -> None:
    triage = Triage(org, store)
    issue = lifecycle(category="issue", status="open", end_time=None,
                      title="EKS API errors", description="Elevated errors.")
    quiet = issue.model_copy(update={"accounts": ["555566667777"], "resources": []})
    run(triage, org, quiet.model_copy(update={"accounts": [PROD]}), NOW)
    # same event, now on production and open: severity 5 → mgt01 informed, owner unchanged
    assert {t.team for t in store.for_event(ARN)} == {"app01", "mgt01"}
    outcome = run(triage, org, issue.model_copy(
        update={"last_updated": NOW + timedelta(hours=1), "status": "closed"}))
    assert [t.team for t in outcome.updated] == ["app01", "mgt01"]
    assert [t.role for t in store.for_event(ARN)] == ["owner", "informed"]


def test_status_moves_only_forward_one_step(org: Organisation, store: TicketStore) -> None:
    [ticket] = run(Triage(org, store), org, lifecycle()).created
    with pytest.raises(IllegalTicketTransition, match="New; it can move to Acknowledged"):
        store.set_status(ticket.id, "In progress", "alice")
    store.set_status(ticket.id, TicketStatus.ACKNOWLEDGED, "alice")
    store.set_status(ticket.id, "in_progress", "alice", note="upgrading to 1.29")
    done = store.set_status(ticket.id, "Resolved", "alice")
    assert done.status is TicketStatus.RESOLVED
    assert [h["change"] for h in done.history[1:]] == [
        "status → Acknowledged", "status → In progress: upgrading to 1.29",
        "status → Resolved"]
    with pytest.raises(IllegalTicketTransition, match="closed"):
        store.set_status(ticket.id, "Acknowledged", "alice")
    with pytest.raises(ValueError, match="unknown ticket status 'Done'"):
        store.list(status="Done")
    assert [t.id for t in store.list(team="app01", status="resolved")] == [ticket.id]


def test_the_database_refuses_a_second_ticket_for_the_same_event_and_team(
        org: Organisation, store: TicketStore) -> None:
    [ticket] = run(Triage(org, store), org, lifecycle()).created
    twin = ticket.model_copy(update={"id": "tkt-other", "title": "twin"})
    kept, created = store.add(twin)
    assert not created and kept.id == ticket.id and store.get("tkt-other") is None


def race(org: Organisation, url: str, workers: int = 4) -> list[TicketStore]:
    """Several stores (separate engines, as separate processes have) triage one event."""
    stores = [TicketStore(url) for _ in range(workers)]
    event = lifecycle(category="issue", status="open", end_time=None)  # 2 stakeholders
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work(s: TicketStore) -> None:
        try:
            barrier.wait()
            run(Triage(org, s), org, event)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    return stores


def test_concurrent_triage_never_duplicates_on_sqlite(org: Organisation,
                                                      tmp_path: Path) -> None:
    stores = race(org, f"sqlite:///{tmp_path / 'race.db'}")
    assert sorted(t.team for t in stores[0].for_event(ARN)) == ["app01", "mgt01"]
    for s in stores:
        s.close()


@pytest.mark.postgres
def test_concurrent_triage_never_duplicates_on_postgres(org: Organisation,
                                                        postgres_url: str) -> None:
    stores = race(org, postgres_url)
    tickets = stores[0].for_event(ARN)
    assert sorted(t.team for t in tickets) == ["app01", "mgt01"]
    assert [t.role for t in tickets] == ["owner", "informed"]
    moved = stores[1].set_status(tickets[0].id, "Acknowledged", "bob")
    assert stores[2].get(tickets[0].id) == moved
    for s in stores:
        s.close()


# -- Jira ----------------------------------------------------------------------------------
@pytest.fixture
def jira() -> Iterator[tuple[FakeJira, str]]:
    fake = FakeJira()
    with serving(fake.app()) as url:
        yield fake, url


def tracker(url: str, token: str = "jira-token") -> JiraTracker:
    return JiraTracker(url, "oasis@example.com", token, "OPS", timeout=5, retries=3,
                       backoff=0.01)


def test_tickets_are_created_and_updated_in_jira(org: Organisation, store: TicketStore,
                                                 jira: tuple[FakeJira, str]) -> None:
    fake, url = jira
    triage = Triage(org, store, tracker(url))
    [ticket] = run(triage, org, lifecycle()).created
    assert ticket.external_id == "OPS-1" and store.get(ticket.id).external_id == "OPS-1"
    issue = fake.issues["OPS-1"]["fields"]
    assert issue["summary"] == ticket.title and issue["priority"] == {"name": "Medium"}
    assert event_label(ARN) in issue["labels"] and "oasis-team-app01" in issue["labels"]
    assert "health.aws.amazon.com" in issue["description"]
    later = NOW + timedelta(days=40)
    [updated] = run(triage, org, lifecycle(updated=later, title="EKS 1.27 support ends soon"),
                    now=later).updated
    assert updated.external_id == "OPS-1" and list(fake.issues) == ["OPS-1"]
    assert fake.issues["OPS-1"]["fields"]["summary"].startswith("EKS 1.27 support ends soon")
    assert fake.issues["OPS-1"]["fields"]["priority"] == {"name": "High"}
    triage.set_status(ticket.id, "Acknowledged", "alice")
    triage.set_status(ticket.id, "In progress", "alice")
    assert fake.issues["OPS-1"]["fields"]["status"] == {"name": "In Progress"}


def test_jira_outage_is_retried_then_recorded_and_caught_up(
        org: Organisation, store: TicketStore, jira: tuple[FakeJira, str]) -> None:
    fake, url = jira
    triage = Triage(org, store, tracker(url))
    fake.fail_next = 2  # two 503s: the third attempt succeeds
    [ticket] = run(triage, org, lifecycle()).created
    assert ticket.external_id == "OPS-1"
    fake.down = True
    later = NOW + timedelta(days=1)
    [kept] = run(triage, org, lifecycle(updated=later), now=later).updated
    assert kept.external_id == "OPS-1" and "Jira sync failed" in kept.history[-1]["change"]
    assert "HTTP 503" in kept.history[-1]["change"]
    fake.down = False
    caught_up = triage.mirror_pending()
    assert caught_up == []  # it has its key; the next update carries the change


def test_ticket_created_while_jira_is_down_is_mirrored_later_once(
        org: Organisation, store: TicketStore, jira: tuple[FakeJira, str]) -> None:
    fake, url = jira
    triage = Triage(org, store, tracker(url))
    fake.down = True
    [ticket] = run(triage, org, lifecycle()).created
    assert ticket.external_id is None and store.get(ticket.id).status is TicketStatus.NEW
    assert "Jira sync failed" in ticket.history[-1]["change"]
    assert len(fake.calls) == 3  # retried, then given up
    fake.down = False
    [mirrored] = triage.mirror_pending()
    assert mirrored.external_id == "OPS-1" and "mirrored to Jira as OPS-1" in \
        mirrored.history[-1]["change"]
    # a copy of the ticket that lost its key finds the issue by its labels: no duplicate
    lost = mirrored.model_copy(update={"external_id": None})
    assert tracker(url).upsert(lost) == "OPS-1" and list(fake.issues) == ["OPS-1"]


def test_jira_refusing_credentials_is_not_retried_and_is_recorded(
        org: Organisation, store: TicketStore, jira: tuple[FakeJira, str]) -> None:
    fake, url = jira
    [ticket] = run(Triage(org, store, tracker(url, token="wrong")), org, lifecycle()).created
    assert ticket.external_id is None and len(fake.calls) == 1
    assert "HTTP 401 not authenticated" in ticket.history[-1]["change"]
    assert fake.issues == {}
