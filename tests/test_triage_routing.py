"""Who owns an event: an alert's labels (alerts from outside AWS are first-class), a team
owning the service, the account's owner in the organisation file, else the default owner;
and policy rules that match labels."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from oasis.api import create_app
from oasis.config import Settings
from oasis.triage.acknowledge import AcknowledgePolicy
from oasis.triage.org import Organisation, OrganisationError, load_organisation
from oasis.triage.parse import parse_event
from oasis.triage.policy import PolicyRules
from oasis.triage.settings import LabelRouting
from oasis.triage.tickets import TicketStore
from oasis.triage.triage import Triage

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
NETWORK_ACCOUNT = "123456789012"  # tags.team: inf01 in examples/organisation.yaml


def org_data() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "examples" / "organisation.yaml").read_text())
    for team in data["teams"]:
        if team["id"] == "app01":
            team["labels"] = {"namespace": ["shop-*", "checkout"]}
        if team["id"] == "inf01":
            team["labels"] = {"cluster": "edge-*"}
    return data


@pytest.fixture
def org() -> Organisation:
    return Organisation.model_validate(org_data())


def alert(labels: dict[str, str], status: str = "firing") -> dict[str, Any]:
    return {"version": "4", "status": status, "receiver": "oasis", "groupKey": "{}:{}",
            "alerts": [{"status": status, "labels": {"alertname": "PodCrashLooping", **labels},
                        "annotations": {"summary": "pod restarting"},
                        "startsAt": "2024-03-01T11:50:00Z",
                        "endsAt": "0001-01-01T00:00:00Z"}]}


def decide(org: Organisation, payload: dict[str, Any], rules: PolicyRules | None = None,
           routing: LabelRouting | None = None, tmp: Path | None = None):
    event = parse_event(payload, received_at=NOW)[0]
    ack = AcknowledgePolicy(org, rules, routing=routing).decide(event)
    if tmp is None or ack.verdict.value != "accept":
        return ack, None
    store = TicketStore(f"sqlite:///{tmp / 'tickets.db'}")
    try:
        return ack, Triage(org, store, routing=routing).triage(event, ack, NOW)
    finally:
        store.close()


def test_a_billing_event_in_the_network_account_goes_to_the_network_team(
        org: Organisation, tmp_path: Path) -> None:
    billing = {"eventArn": "arn:aws:health:global::event/BILLING/AWS_BILLING_NOTIFICATION/x1",
               "service": "BILLING", "eventTypeCode": "AWS_BILLING_NOTIFICATION",
               "eventTypeCategory": "accountNotification", "statusCode": "open",
               "affectedAccount": NETWORK_ACCOUNT, "eventScopeCode": "ACCOUNT_SPECIFIC",
               "lastUpdatedTime": "2024-03-01T10:00:00Z",
               "eventDescription": [{"language": "en_US",
                                     "latestDescription": "Your invoice is available."}]}
    ack, outcome = decide(org, billing, tmp=tmp_path)
    assert ack.verdict.value == "accept"
    assert outcome.owner == "inf01"  # the account's team, not the default owner
    owner = next(t for t in outcome.created if t.role == "owner")
    assert "owns account 123456789012" in owner.description


def test_the_account_owner_field_wins_over_tags_team(tmp_path: Path) -> None:
    data = org_data()
    data["accounts"][2]["owner"] = "fin01"
    org = Organisation.model_validate(data)
    assert org.account(NETWORK_ACCOUNT).team == "fin01"
    data["accounts"][2]["owner"] = "ghost"
    path = tmp_path / "org.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(OrganisationError, match=r"accounts\[2\]\.owner: no team has id 'ghost'"):
        load_organisation(path)


def test_a_service_owning_team_still_comes_before_the_account_owner(org: Organisation,
                                                                    tmp_path: Path) -> None:
    vpc = {"eventArn": "arn:aws:health:eu-west-1::event/VPC/AWS_VPC_OPERATIONAL_ISSUE/x2",
           "service": "VPC", "eventTypeCode": "AWS_VPC_OPERATIONAL_ISSUE",
           "eventTypeCategory": "issue", "statusCode": "open",
           "affectedAccount": "111122223333", "lastUpdatedTime": "2024-03-01T10:00:00Z"}
    _, outcome = decide(org, vpc, tmp=tmp_path)
    assert outcome.owner == "inf01"  # owns VPC, though the account is app01's


@pytest.mark.parametrize(("labels", "owner", "why"), [
    ({"team": "inf01"}, "inf01", "label team=inf01 names the team"),
    ({"team": "Networking"}, "inf01", "label team=Networking names the team"),
    ({"namespace": "shop-frontend"}, "app01", "label namespace=shop-frontend (team labels)"),
    ({"cluster": "edge-eu-1", "namespace": "kube-system"}, "inf01", "label cluster=edge-eu-1"),
])
def test_an_alert_without_an_account_is_routed_by_its_labels(
        org: Organisation, tmp_path: Path, labels: dict[str, str], owner: str,
        why: str) -> None:
    ack, outcome = decide(org, alert({**labels, "severity": "critical"}), tmp=tmp_path)
    assert ack.verdict.value == "accept", ack.reason
    assert "no environment label: taken as production" in ack.reason
    assert outcome.owner == owner
    ticket = next(t for t in outcome.created if t.role == "owner")
    assert why in ticket.description
    assert ticket.severity == 5  # critical, firing, production by default


def test_environment_labels_and_unrouted_alerts(org: Organisation) -> None:
    staging, _ = decide(org, alert({"team": "inf01", "environment": "staging"}))
    assert staging.verdict.value == "discharge" and "non-production" in staging.reason
    prod, _ = decide(org, alert({"team": "inf01", "env": "prod"}))
    assert prod.verdict.value == "accept" and "production by its environment label" in prod.reason
    nowhere, _ = decide(org, alert({"job": "node"}))
    assert nowhere.verdict.value == "discharge" and nowhere.reason == "no affected account named"
    cautious = LabelRouting(default_environment="non-production")
    unlabelled, _ = decide(org, alert({"team": "inf01"}), routing=cautious)
    assert unlabelled.verdict.value == "discharge"


def test_routing_labels_are_configurable(org: Organisation, tmp_path: Path) -> None:
    squad = LabelRouting(labels=["squad"])
    assert decide(org, alert({"team": "inf01"}), routing=squad)[0].verdict.value == "discharge"
    ack, outcome = decide(org, alert({"squad": "FinOps"}), routing=squad, tmp=tmp_path)
    assert ack.verdict.value == "accept" and outcome.owner == "fin01"


def test_policy_rules_match_labels_of_routed_alerts(org: Organisation) -> None:
    rules = PolicyRules.parse([
        {"name": "quiet-canaries", "match": {"label": {"namespace": "*-canary"}},
         "action": "ignore"},
        {"name": "edge-to-leadership", "match": {"label": {"cluster": "edge-*"}},
         "action": "escalate"}])
    quiet, _ = decide(org, alert({"namespace": "shop-canary"}), rules)
    assert (quiet.verdict.value, quiet.rule) == ("discharge", "quiet-canaries")
    loud, _ = decide(org, alert({"cluster": "edge-1", "environment": "dev"}), rules)
    assert (loud.verdict.value, loud.escalate) == ("accept", True)
    # Rules never make an unrouted, account-less alert ours.
    stranger, _ = decide(org, alert({"cluster": "elsewhere", "namespace": "x-canary"}), rules)
    assert stranger.reason == "no affected account named"


def test_label_routing_over_http_with_settings(tmp_path: Path) -> None:
    path = tmp_path / "org.yaml"
    path.write_text(yaml.safe_dump(org_data()))
    settings = Settings(data_dir=tmp_path / "data", notify={"email_enabled": False},
                        triage={"organisation_file": path,
                                "routing": {"labels": ["owner_team", "namespace"]}})
    with TestClient(create_app(settings)) as client:
        result = client.post("/api/v1/events", params={"wait": True}, content=json.dumps(
            alert({"owner_team": "sec01", "namespace": "shop-x"}))).json()["results"][0]
        assert result["verdict"] == "accept" and result["teams"][0] == "sec01"
