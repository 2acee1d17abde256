"""Acknowledge decisions, policy rules, severity and stakeholders for the example org."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from oasis.triage.acknowledge import AcknowledgePolicy, Verdict, cost_impact
from oasis.triage.model import OpsEvent, Resource
from oasis.triage.org import Organisation, load_organisation
from oasis.triage.parse import parse_event
from oasis.triage.policy import PolicyError, PolicyRules
from oasis.triage.severity import assess, dates_in, severity
from oasis.triage.triage import stakeholders

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PROD, PROD2, NONPROD, UNKNOWN = "111122223333", "444333222111", "555566667777", "999988887777"


@pytest.fixture(scope="module")
def org() -> Organisation:
    return load_organisation(ROOT / "examples" / "organisation.yaml")


def event(**overrides: Any) -> OpsEvent:
    base: dict[str, Any] = dict(
        key="arn:aws:health:eu-west-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/x1",
        source="aws.health", category="issue", title="EC2 operational issue",
        description="Increased API error rates.", service="EC2",
        event_type="AWS_EC2_OPERATIONAL_ISSUE", region="eu-west-1", status="open",
        scope="ACCOUNT_SPECIFIC", severity_label=None, accounts=[PROD], resources=[],
        start_time=NOW - timedelta(hours=1), end_time=None, last_updated=NOW, raw={})
    base.update(overrides)
    return OpsEvent(**base)


def finding(label: str, account: str = NONPROD, **overrides: Any) -> OpsEvent:
    fields: dict[str, Any] = dict(
        key=f"arn:aws:securityhub:eu-west-1:{account}:finding/{label}",
        source="aws.securityhub", category="finding", title="S3 bucket is public",
        description="The bucket allows public read.", service="S3",
        event_type="Software and Configuration Checks", status="NEW", scope=None,
        severity_label=label, accounts=[account],
        resources=[Resource(id="arn:aws:s3:::bucket", type="AWS::S3::Bucket")])
    return event(**{**fields, **overrides})


# -- Acknowledge: the decision table -----------------------------------------------------
def test_no_account_is_discharged_or_asked(org: Organisation) -> None:
    quiet = event(accounts=[], scope="ACCOUNT_SPECIFIC", source="user", category="report")
    ack = AcknowledgePolicy(org).decide(quiet)
    assert (ack.verdict, ack.reason) == (Verdict.DISCHARGE, "no affected account named")
    asked = AcknowledgePolicy(org, allow_interaction=True).decide(quiet)
    assert asked.verdict is Verdict.ASK and "person" in asked.reason


def test_public_event_naming_no_account_is_discharged_even_with_interaction(
        org: Organisation) -> None:
    ack = AcknowledgePolicy(org, allow_interaction=True).decide(
        event(accounts=[], scope="PUBLIC"))
    assert ack.verdict is Verdict.DISCHARGE and "public" in ack.reason


def test_unknown_accounts_are_rejected_naming_them(org: Organisation) -> None:
    ack = AcknowledgePolicy(org).decide(event(accounts=[UNKNOWN]))
    assert ack.verdict is Verdict.REJECT and UNKNOWN in ack.reason


def test_production_is_accepted_non_production_discharged(org: Organisation) -> None:
    policy = AcknowledgePolicy(org)
    prod = policy.decide(event(accounts=[UNKNOWN, PROD]))
    assert prod.verdict is Verdict.ACCEPT and prod.significant and PROD in prod.reason
    dev = policy.decide(event(accounts=[NONPROD]))
    assert dev.verdict is Verdict.DISCHARGE and not dev.significant
    assert dev.reason == f"only non-production accounts affected: {NONPROD} (retail-web-dev)"


def test_accounts_named_only_by_resources_count(org: Organisation) -> None:
    ack = AcknowledgePolicy(org).decide(event(accounts=[], resources=[
        Resource(id="i-1", type="AWS::EC2::Instance", account=PROD)]))
    assert ack.verdict is Verdict.ACCEPT


def test_cost_impact_on_non_production_is_accepted_for_finops(org: Organisation) -> None:
    extended = event(accounts=[NONPROD], category="accountNotification", service="RDS",
                     title="RDS MySQL 5.7 end of standard support",
                     description="Clusters still on 5.7 move to RDS Extended Support, "
                                 "which incurs additional charges.")
    ack = AcknowledgePolicy(org).decide(extended)
    assert ack.verdict is Verdict.ACCEPT and ack.cost_impact and "FinOps" in ack.reason
    anomaly = event(source="aws.cost-anomaly", category="cost", accounts=[NONPROD],
                    description="Spend on EC2 rose", service="EC2")
    assert cost_impact(anomaly) and AcknowledgePolicy(org).decide(anomaly).verdict is \
        Verdict.ACCEPT
    assert cost_impact(event(service="BILLING")) and not cost_impact(event())


def test_high_finding_matters_outside_production(org: Organisation) -> None:
    policy = AcknowledgePolicy(org)
    high = policy.decide(finding("HIGH"))
    assert high.verdict is Verdict.ACCEPT and "security" in high.reason
    assert policy.decide(finding("MEDIUM")).verdict is Verdict.DISCHARGE


def test_readme_samples_are_accepted_for_their_production_accounts(org: Organisation) -> None:
    lifecycle = {
        "eventArn": "arn:aws:health:ap-southeast-2::event/EKS/AWS_EKS_PLANNED_LIFECYCLE_EVENT/"
                    "Example1",
        "service": "EKS", "eventTypeCode": "AWS_EKS_PLANNED_LIFECYCLE_EVENT",
        "eventTypeCategory": "plannedChange", "eventScopeCode": "ACCOUNT_SPECIFIC",
        "startTime": "Wed, 31 Jan 2024 02:00:00 GMT", "endTime": "",
        "lastUpdatedTime": "Wed, 29 Nov 2023 08:20:00 GMT", "statusCode": "upcoming",
        "eventRegion": "ap-southeast-2",
        "eventDescription": [{"language": "en_US",
                              "latestDescription": "Amazon EKS has deprecated Kubernetes "
                                                   "version 1.2x..."}],
        "affectedEntities": [{"entityValue": "arn:aws:eks:ap-southeast-2:111122223333:"
                                             "cluster/example1", "statusCode": "PENDING"}],
        "affectedAccount": PROD}
    [parsed] = parse_event(lifecycle, received_at=NOW)
    ack = AcknowledgePolicy(org).decide(parsed)
    assert ack.verdict is Verdict.ACCEPT and "retail-web-prod" in ack.reason


# -- policy rules --------------------------------------------------------------------------
RULES = """
- name: quiet-dev-maintenance
  match: {category: scheduledChange, service: EC2, tag: {environment: dev*}}
  action: ignore
- name: rds-everywhere
  match: {service: RDS, region: "eu-*"}
  action: accept
- name: prod-issues-to-leadership
  match: {category: issue, event_type: "*_OPERATIONAL_ISSUE", status: [open, upcoming]}
  action: escalate
"""


@pytest.fixture
def rules(tmp_path: Path) -> PolicyRules:
    path = tmp_path / "policy.yaml"
    path.write_text(RULES)
    return PolicyRules.load(path)


def test_ignore_rule_discharges_even_production(org: Organisation, rules: PolicyRules) -> None:
    maintenance = event(category="scheduledChange", status="upcoming", resources=[
        Resource(id="i-1", type="AWS::EC2::Instance", tags={"environment": "development"})])
    ack = AcknowledgePolicy(org, rules).decide(maintenance)
    assert (ack.verdict, ack.rule) == (Verdict.DISCHARGE, "quiet-dev-maintenance")
    assert "quiet-dev-maintenance" in ack.reason


def test_accept_rule_accepts_non_production(org: Organisation, rules: PolicyRules) -> None:
    rds = event(service="RDS", category="scheduledChange", accounts=[NONPROD])
    ack = AcknowledgePolicy(org, rules).decide(rds)
    assert (ack.verdict, ack.rule, ack.escalate) == (Verdict.ACCEPT, "rds-everywhere", False)
    assert AcknowledgePolicy(org).decide(rds).verdict is Verdict.DISCHARGE


def test_escalate_rule_accepts_and_escalates(org: Organisation, rules: PolicyRules) -> None:
    ack = AcknowledgePolicy(org, rules).decide(event(accounts=[NONPROD]))
    assert (ack.verdict, ack.escalate) == (Verdict.ACCEPT, True)
    closed = AcknowledgePolicy(org, rules).decide(event(accounts=[NONPROD], status="closed"))
    assert closed.rule is None and closed.verdict is Verdict.DISCHARGE


def test_rules_do_not_override_unknown_accounts(org: Organisation, rules: PolicyRules) -> None:
    ack = AcknowledgePolicy(org, rules).decide(event(service="RDS", accounts=[UNKNOWN]))
    assert ack.verdict is Verdict.REJECT


@pytest.mark.parametrize(("text", "expected"), [
    ("- name: x\n  match: {colour: red}\n  action: ignore", "rule 0 ('x'): match.colour"),
    ("- name: ok\n  match: {}\n  action: accept\n- name: y\n  match: {}\n  action: drop",
     "rule 1 ('y'): action"),
    ("- name: z\n  action: ignore", "rule 0 ('z'): match: Field required"),
    ("- just a string", "rule 0: expected a mapping"),
    ("name: not-a-list", "expected a list of rules"),
    ("- name: a\n  match: {}\n  action: accept\n- name: a\n  match: {}\n  action: ignore",
     "rule 1 ('a'): name already used by rule 0"),
    ("- name: [unclosed", "not valid YAML"),
])
def test_broken_rules_file_names_rule_and_field(tmp_path: Path, text: str,
                                                expected: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as err:
        PolicyRules.load(path)
    assert expected in str(err.value) and str(path) in str(err.value)


def test_missing_rules_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        PolicyRules.load(tmp_path / "nope.yaml")


def test_shipped_example_rules_load() -> None:
    rules = PolicyRules.load(ROOT / "examples" / "policy.yaml")
    assert len(rules) >= 1


# -- severity ------------------------------------------------------------------------------
def deprecation(**overrides: Any) -> OpsEvent:
    fields: dict[str, Any] = dict(
        category="scheduledChange", status="upcoming", service="EKS",
        title="EKS Kubernetes 1.27 end of standard support",
        description="Kubernetes 1.27 is deprecated.")
    return event(**{**fields, **overrides})


@pytest.mark.parametrize(("days", "level"), [(10, 4), (45, 3), (120, 2), (-3, 4)])
def test_deprecation_deadline_sets_severity(days: int, level: int) -> None:
    assert severity(deprecation(end_time=NOW + timedelta(days=days)), NOW) == level


def test_deadline_read_from_the_description() -> None:
    soon = deprecation(description="Upgrade before June 20, 2025 or clusters are upgraded "
                                   "automatically. Announced on 2024-11-01.")
    found = assess(soon, NOW)
    assert found.level == 4 and found.deadline == datetime(2025, 6, 20, tzinfo=UTC)
    later = deprecation(description="Support ends 15 October 2025.")
    assert severity(later, NOW) == 2  # 136 days away
    assert dates_in("on February 30, 2025 and 2025-13-01") == []


def test_severity_rules() -> None:
    assert severity(finding("CRITICAL"), NOW) == 5
    assert severity(finding("HIGH"), NOW) == 4
    assert severity(finding("MEDIUM"), NOW) == 3
    assert severity(finding("LOW"), NOW) == 2
    assert severity(finding("INFORMATIONAL"), NOW) == 1
    assert severity(finding("LOW", description="CVE actively exploited in the wild"), NOW) == 5
    assert severity(finding("MEDIUM", labels={"Compliance.Status": "FAILED"}), NOW) == 4
    assert severity(event(), NOW, production=True) == 5
    assert severity(event(), NOW, production=False) == 3
    assert severity(event(status="closed"), NOW, production=True) == 1
    alert = event(source="alertmanager", category="alarm", status="firing",
                  severity_label="critical", title="CheckoutDown", description="")
    assert severity(alert, NOW, production=True) == 5
    assert severity(alert.model_copy(update={"severity_label": "warning"}), NOW,
                    production=True) == 4
    assert severity(alert, NOW, production=False) == 3
    assert severity(alert.model_copy(update={"status": "resolved"}), NOW, production=True) == 1
    assert severity(event(category="scheduledChange", status="upcoming",
                          title="Scheduled instance maintenance",
                          description="Your instance will be rebooted."), NOW) == 3
    assert severity(event(category="accountNotification", status="open",
                          title="Your monthly report is ready", description="FYI."), NOW) == 1


# -- stakeholders ------------------------------------------------------------------------
def roles(org: Organisation, ev: OpsEvent, level: int | None = None,
          rules: PolicyRules | None = None) -> dict[str, str]:
    ack = AcknowledgePolicy(org, rules).decide(ev)
    lvl = level if level is not None else assess(ev, NOW, production=True).level
    return {s.team.id: s.role for s in stakeholders(org, ev, ack, lvl)}


def test_vpc_event_is_owned_by_networking(org: Organisation) -> None:
    vpc = event(service="VPC", category="scheduledChange", status="upcoming")
    assert roles(org, vpc) == {"inf01": "owner", "app01": "informed"}
    subnet = finding("MEDIUM", account=PROD, service="EC2", resources=[
        Resource(id="subnet-1", type="AWS::EC2::Subnet")])
    assert roles(org, subnet)["inf01"] == "owner"


def test_ec2_event_is_owned_by_the_default_owner(org: Organisation) -> None:
    assert roles(org, event(category="scheduledChange", status="upcoming")) == {
        "app01": "owner"}


def test_high_finding_informs_secops_but_owner_is_by_resource(org: Organisation) -> None:
    found = roles(org, finding("HIGH", resources=[
        Resource(id="sg-1", type="AWS::EC2::SecurityGroup")]))
    assert found == {"inf01": "owner", "sec01": "informed", "app01": "informed"}


def test_cost_event_informs_finops(org: Organisation) -> None:
    anomaly = event(source="aws.cost-anomaly", category="cost", service="EC2",
                    description="Spend rose", status=None)
    assert roles(org, anomaly) == {"app01": "owner", "fin01": "informed"}


def test_severity_5_informs_leadership(org: Organisation, rules: PolicyRules) -> None:
    outage = event()  # open issue on production
    assert roles(org, outage) == {"app01": "owner", "mgt01": "informed"}
    escalated = event(accounts=[NONPROD])
    assert roles(org, escalated, level=3, rules=rules)["mgt01"] == "informed"
