"""OHERO event parsing and the organisation file: every accepted shape, the OHERO README
samples exactly as printed, and bad input refused with the field named."""

from __future__ import annotations

import contextlib
import copy
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from oasis.triage import (
    EventFormatError,
    OpsEvent,
    OrganisationError,
    load_organisation,
    parse_event,
    parse_events,
)

RECEIVED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
EXAMPLE_ORG = Path(__file__).resolve().parents[1] / "examples" / "organisation.yaml"

# -- the two samples of the OHERO README, verbatim ------------------------------------------
README_SAMPLE_1 = """{
    "eventArn": "arn:aws:health:ap-southeast-2::event/EKS/AWS_EKS_PLANNED_LIFECYCLE_EVENT/Example1",
    "service": "EKS",
    "eventTypeCode": "AWS_EKS_PLANNED_LIFECYCLE_EVENT",
    "eventTypeCategory": "plannedChange",
    "eventScopeCode": "ACCOUNT_SPECIFIC",
    "communicationId": "1234567890abcdef023456789-1",
    "startTime": "Wed, 31 Jan 2024 02:00:00 GMT",
    "endTime": "",
    "lastUpdatedTime": "Wed, 29 Nov 2023 08:20:00 GMT",
    "statusCode": "upcoming",
    "eventRegion": "ap-southeast-2",
    "eventDescription": [
        {
            "language": "en_US",
            "latestDescription": "Amazon EKS has deprecated Kubernetes version 1.2x..."
        }
    ],
    "eventMetadata": {
        "deprecated_versions": "Kubernetes 1.2x in EKS"
    },
    "affectedEntities": [
        {
            "entityValue": "arn:aws:eks:ap-southeast-2:111122223333:cluster/example1",
            "lastupdatedTime": "Wed, 29 Nov 2023 08:20:00 GMT",
            "statusCode": "RESOLVED"
        },
        {
            "entityValue": "arn:aws:eks:ap-southeast-2:111122223333:cluster/example3",
            "lastupdatedTime": "Wed, 29 Nov 2023 08:20:31 GMT",
            "statusCode": "PENDING"
        }
    ],
    "affectedAccount": "111122223333",
    "page": "1",
    "totalPages": "1"
}"""

README_SAMPLE_2 = """{
    "eventArn": "arn:aws:health:global::event/IAM/AWS_IAM_OPERATIONAL_ISSUE/AWS_FAKE_OPERATIONAL_ISSUE_12345_ABCDEFGHIJK",
        "service": "FAKE",
        "eventTypeCode": "AWS_FAKE_OPERATIONAL_ISSUE",
        "eventTypeCategory": "issue",
        "eventScopeCode": "PUBLIC",
        "communicationId": "a76afee0829c473703943fe5e2edd04cb91c6051-1",
        "startTime": "Thu, 22 Feb 2024 01:49:40 GMT",
        "endTime": "Thu, 22 Feb 2024 03:11:08 GMT",
        "lastUpdatedTime": "Thu, 22 Feb 2024 19:39:38 GMT",
        "statusCode": "closed",
        "eventRegion": "global",
        "eventDescription": [
            {
                "language": "en_US",
                "latestDescription": "A test operational issue that is happening to your account."
            }
        ],
        "affectedAccount": "444333222111",
        "page": "1",
        "totalPages": "1"
}"""  # noqa: E501 (verbatim from the README)


def eventbridge(detail_type: str, source: str, detail: dict[str, Any], *,
                resources: list[str] | None = None, account: str = "123456789012",
                region: str = "us-east-1") -> dict[str, Any]:
    return {"version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602",
            "detail-type": detail_type, "source": source, "account": account,
            "time": "2024-03-01T11:59:58Z", "region": region, "resources": resources or [],
            "detail": detail}


def health_issue() -> dict[str, Any]:
    """An AWS Health issue with ISO times, as the newer EventBridge schema writes them."""
    return {
        "eventArn": "arn:aws:health:us-east-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/"
                    "AWS_EC2_OPERATIONAL_ISSUE_7f35c8ae",
        "service": "EC2", "eventTypeCode": "AWS_EC2_OPERATIONAL_ISSUE",
        "eventTypeCategory": "issue", "eventScopeCode": "ACCOUNT_SPECIFIC",
        "communicationId": "01b0993207d81a09dcd552ebd1e633e36cf1f09a-1",
        "startTime": "2023-11-10T08:41:00Z", "lastUpdatedTime": "Fri, 10 Nov 2023 09:01:00 GMT",
        "statusCode": "open", "eventRegion": "us-east-1",
        "eventDescription": [
            {"language": "ja_JP", "latestDescription": "インスタンスの接続性の問題"},
            {"language": "en_US",
             "latestDescription": "We are investigating increased network connectivity "
                                  "errors for instances in USE1-AZ2."}],
        "affectedEntities": [
            {"entityValue": "i-0abcd1234efgh5678",
             "tags": {"team": "app01", "stage": "prod"}},
            {"entityValue": "arn:aws:ec2:us-east-1:111122223333:vpc/vpc-0a1b2c3d"}],
        "affectedAccount": "111122223333",
    }


def finding(number: int = 1, updated: str = "2025-03-14T09:50:47.255Z") -> dict[str, Any]:
    """A Security Hub control finding in ASFF (shaped like OHERO's mockup-sec-finding)."""
    control = "S3.8" if number == 1 else "EC2.19"
    resource = ({"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::retail-assets-prod",
                 "Partition": "aws", "Region": "ap-southeast-2",
                 "Tags": {"team": "app01"}} if number == 1 else
                {"Type": "AwsEc2SecurityGroup",
                 "Id": "arn:aws:ec2:ap-southeast-2:111122223333:security-group/sg-0f1e2d3c",
                 "Partition": "aws", "Region": "ap-southeast-2"})
    return {
        "SchemaVersion": "2018-10-08",
        "Id": f"arn:aws:securityhub:ap-southeast-2:111122223333:security-control/{control}/"
              f"finding/50abb155-ddbd-49dd-a3af-86c0eee27e4{number}",
        "ProductArn": "arn:aws:securityhub:ap-southeast-2::product/aws/securityhub",
        "ProductName": "Security Hub", "CompanyName": "AWS",
        "GeneratorId": f"security-control/{control}", "AwsAccountId": "111122223333",
        "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
        "FirstObservedAt": "2025-01-30T07:24:10.548Z", "CreatedAt": "2025-01-30T07:24:10.548Z",
        "UpdatedAt": updated,
        "Severity": {"Label": "HIGH", "Normalized": 70, "Original": "HIGH"} if number == 1
        else {"Normalized": 90},
        "Title": (f"{control} S3 general purpose buckets should block public access"
                  if number == 1 else f"{control} Security groups should not allow "
                                      "unrestricted access to ports with high risk"),
        "Description": "This control checks whether the resource is publicly reachable.",
        "Remediation": {"Recommendation": {
            "Text": "See the Security Hub controls documentation.",
            "Url": f"https://docs.aws.amazon.com/console/securityhub/{control}/remediation"}},
        "ProductFields": {"ControlId": control},
        "Compliance": {"Status": "FAILED", "SecurityControlId": control},
        "Resources": [resource], "Workflow": {"Status": "NEW"}, "WorkflowState": "NEW",
        "RecordState": "ACTIVE", "Region": "ap-southeast-2",
    }


def alarm_event() -> dict[str, Any]:
    return eventbridge(
        "CloudWatch Alarm State Change", "aws.cloudwatch",
        {"alarmName": "checkout-db-cpu-high",
         "state": {"value": "ALARM",
                   "reason": "Threshold Crossed: 3 out of the last 3 datapoints were greater "
                             "than the threshold (85.0).",
                   "timestamp": "2024-03-01T11:59:57.312+0000"},
         "previousState": {"value": "OK", "reason": "Threshold Crossed: ...",
                           "timestamp": "2024-03-01T09:12:00.000+0000"},
         "configuration": {
             "description": "Checkout database CPU above 85% for 15 minutes",
             "metrics": [{"id": "m1", "returnData": True, "metricStat": {
                 "metric": {"namespace": "AWS/RDS", "name": "CPUUtilization",
                            "dimensions": {"DBInstanceIdentifier": "checkout-db-1"}},
                 "period": 300, "stat": "Average"}}]}},
        resources=["arn:aws:cloudwatch:eu-west-1:111122223333:alarm:checkout-db-cpu-high"],
        account="111122223333", region="eu-west-1")


def alertmanager_webhook() -> dict[str, Any]:
    def alert(instance: str, status: str, fingerprint: str, ends: str) -> dict[str, Any]:
        return {"status": status,
                "labels": {"alertname": "HighErrorRate", "service": "checkout",
                           "severity": "critical", "instance": instance,
                           "account_id": "111122223333", "region": "eu-west-1"},
                "annotations": {"summary": f"checkout 5xx above 5% on {instance}",
                                "description": "Error ratio 0.12 for 10 minutes.",
                                "runbook_url": "https://runbooks.example.com/high-errors"},
                "startsAt": "2024-03-01T11:50:00.000Z", "endsAt": ends,
                "generatorURL": "http://prometheus:9090/graph?g0.expr=errors",
                "fingerprint": fingerprint}
    return {"version": "4", "groupKey": '{}:{alertname="HighErrorRate"}',
            "truncatedAlerts": 0, "status": "firing", "receiver": "oasis",
            "groupLabels": {"alertname": "HighErrorRate"},
            "commonLabels": {"alertname": "HighErrorRate", "service": "checkout"},
            "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
            "alerts": [alert("10.0.1.15:8080", "firing", "c0ffee0001", "0001-01-01T00:00:00Z"),
                       alert("10.0.1.16:8080", "resolved", "c0ffee0002",
                             "2024-03-01T11:58:30.000Z")]}


def anomaly() -> dict[str, Any]:
    """The anomaly object Cost Anomaly Detection sends (EventBridge detail / SNS message)."""
    return {
        "accountId": "123456789012",
        "anomalyDetailsLink": "https://console.aws.amazon.com/cost-management/home#/"
                              "anomaly-detection/monitors/abcdef12/anomalies/12345678",
        "anomalyEndDate": "2024-02-29T00:00:00Z", "anomalyStartDate": "2024-02-27T00:00:00Z",
        "anomalyId": "12345678-abcd-ef12-3456-987654321a12",
        "anomalyScore": {"currentScore": 0.47, "maxScore": 0.61},
        "dimensionalValue": "Amazon Elastic Compute Cloud - Compute",
        "impact": {"maxImpact": 151, "totalActualSpend": 1301.5, "totalExpectedSpend": 300,
                   "totalImpact": 1001.5, "totalImpactPercentage": 333.83},
        "monitorArn": "arn:aws:ce::123456789012:anomalymonitor/abcdef12",
        "monitorName": "services-monitor", "monitorType": "DIMENSIONAL",
        "rootCauses": [{"linkedAccount": "111122223333", "linkedAccountName": "retail-web-prod",
                        "region": "us-east-1", "service": "Amazon Elastic Compute Cloud - Compute",
                        "usageType": "BoxUsage:p4d.24xlarge"}],
    }


def report() -> dict[str, Any]:
    return {"type": "report", "reporter": "maria@example.com",
            "text": "Checkout pages time out for customers in Ireland since 11:40.\n"
                    "Support has 30 tickets so far.",
            "accounts": ["111122223333"], "service": "ELASTICLOADBALANCING",
            "region": "eu-west-1"}


def one(payload: dict[str, Any]) -> OpsEvent:
    events = parse_event(payload, received_at=RECEIVED)
    assert len(events) == 1
    return events[0]


def same_but_raw(a: OpsEvent, b: OpsEvent) -> None:
    assert a.model_dump(exclude={"raw"}) == b.model_dump(exclude={"raw"})


# -- AWS Health -----------------------------------------------------------------------------
def test_readme_lifecycle_sample_parses_as_printed() -> None:
    payload = json.loads(README_SAMPLE_1)
    event = one(payload)
    assert event.key == ("arn:aws:health:ap-southeast-2::event/EKS/"
                         "AWS_EKS_PLANNED_LIFECYCLE_EVENT/Example1")
    assert (event.source, event.category) == ("aws.health", "scheduledChange")
    assert (event.service, event.event_type) == ("EKS", "AWS_EKS_PLANNED_LIFECYCLE_EVENT")
    assert (event.region, event.status, event.scope) == ("ap-southeast-2", "upcoming",
                                                          "ACCOUNT_SPECIFIC")
    assert event.accounts == ["111122223333"]
    assert event.start_time == datetime(2024, 1, 31, 2, 0, tzinfo=UTC)
    assert event.end_time is None  # "" means not ended
    assert event.last_updated == datetime(2023, 11, 29, 8, 20, tzinfo=UTC)
    assert event.description == "Amazon EKS has deprecated Kubernetes version 1.2x..."
    assert event.title == "EKS planned lifecycle event (ap-southeast-2, upcoming)"
    assert [(r.id.rsplit("/", 1)[1], r.type, r.account, r.region) for r in event.resources] == [
        ("example1", "AWS::EKS::Cluster", "111122223333", "ap-southeast-2"),
        ("example3", "AWS::EKS::Cluster", "111122223333", "ap-southeast-2")]
    assert event.labels["metadata.deprecated_versions"] == "Kubernetes 1.2x in EKS"
    assert event.raw == payload
    assert event.severity_label is None and event.cost_amount is None


def test_readme_operational_issue_sample_parses_as_printed() -> None:
    event = one(json.loads(README_SAMPLE_2))
    assert event.key.endswith("AWS_FAKE_OPERATIONAL_ISSUE_12345_ABCDEFGHIJK")
    assert (event.category, event.service, event.event_type) == (
        "issue", "FAKE", "AWS_FAKE_OPERATIONAL_ISSUE")
    assert (event.status, event.scope, event.region) == ("closed", "PUBLIC", "global")
    assert event.accounts == ["444333222111"]
    assert event.resources == []
    assert event.start_time == datetime(2024, 2, 22, 1, 49, 40, tzinfo=UTC)
    assert event.end_time == datetime(2024, 2, 22, 3, 11, 8, tzinfo=UTC)
    assert event.last_updated == datetime(2024, 2, 22, 19, 39, 38, tzinfo=UTC)
    assert event.description == "A test operational issue that is happening to your account."


@pytest.mark.parametrize("sample", [README_SAMPLE_1, README_SAMPLE_2])
def test_readme_samples_wrapped_by_eventbridge_give_the_same_event(sample: str) -> None:
    raw = json.loads(sample)
    wrapped = eventbridge("AWS Health Event", "aws.health", raw)
    entry = {"Source": "aws.health", "DetailType": "AWS Health Event", "Detail": sample}
    bare = one(raw)
    same_but_raw(bare, one(wrapped))
    same_but_raw(bare, one(entry))  # `aws events put-events --entries` file form
    assert one(wrapped).raw == wrapped


def test_health_iso_and_rfc1123_times_entities_and_english_description() -> None:
    event = one(health_issue())
    assert event.start_time == datetime(2023, 11, 10, 8, 41, tzinfo=UTC)
    assert event.last_updated == datetime(2023, 11, 10, 9, 1, tzinfo=UTC)
    assert event.last_updated.tzinfo is UTC
    assert event.description.startswith("We are investigating")
    instance, vpc = event.resources
    assert (instance.id, instance.type, instance.account, instance.tags) == (
        "i-0abcd1234efgh5678", None, "111122223333", {"team": "app01", "stage": "prod"})
    assert (vpc.type, vpc.region) == ("AWS::EC2::VPC", "us-east-1")


def test_health_update_keeps_the_key_and_is_newer() -> None:
    first = one(json.loads(README_SAMPLE_1))
    newer = json.loads(README_SAMPLE_1)
    newer["lastUpdatedTime"] = "Tue, 16 Jan 2024 10:00:00 GMT"
    newer["statusCode"] = "open"
    update = one(newer)
    assert update.key == first.key
    assert update.last_updated > first.last_updated
    assert update.status == "open"


def test_event_without_affected_account_takes_the_envelope_account_unless_public() -> None:
    detail = health_issue()
    del detail["affectedAccount"]
    detail["affectedEntities"] = []
    assert one(eventbridge("AWS Health Event", "aws.health", detail,
                           account="999988887777")).accounts == ["999988887777"]
    detail["eventScopeCode"] = "PUBLIC"
    assert one(eventbridge("AWS Health Event", "aws.health", detail,
                           account="999988887777")).accounts == []


# -- Security Hub ---------------------------------------------------------------------------
def test_asff_finding_raw() -> None:
    event = one(finding(1))
    assert event.key.endswith("security-control/S3.8/finding/50abb155-ddbd-49dd-a3af-86c0eee27e41")
    assert (event.source, event.category, event.service) == ("aws.securityhub", "finding", "S3")
    assert event.severity_label == "HIGH" and event.status == "NEW"
    assert event.event_type == "Software and Configuration Checks/Industry and Regulatory Standards"
    assert event.accounts == ["111122223333"] and event.region == "ap-southeast-2"
    assert event.title == "S3.8 S3 general purpose buckets should block public access"
    assert event.last_updated == datetime(2025, 3, 14, 9, 50, 47, 255000, tzinfo=UTC)
    assert event.start_time == datetime(2025, 1, 30, 7, 24, 10, 548000, tzinfo=UTC)
    (bucket,) = event.resources
    assert (bucket.type, bucket.account, bucket.tags) == ("AWS::S3::Bucket", "111122223333",
                                                          {"team": "app01"})
    assert event.labels["RecommendationUrl"].endswith("/S3.8/remediation")
    assert event.labels["Compliance.Status"] == "FAILED"


def test_securityhub_envelope_with_two_findings_gives_two_events_like_the_raw_ones() -> None:
    envelope = eventbridge("Security Hub Findings - Imported", "aws.securityhub",
                           {"findings": [finding(1), finding(2)]})
    first, second = parse_event(envelope, received_at=RECEIVED)
    same_but_raw(first, one(finding(1)))
    same_but_raw(second, one(finding(2)))
    # Each event keeps the envelope, narrowed to its own finding.
    assert second.raw["detail-type"] == "Security Hub Findings - Imported"
    assert second.raw["detail"]["findings"] == [finding(2)]
    assert len(envelope["detail"]["findings"]) == 2  # the caller's payload is untouched
    # The second finding has no label: it comes from Normalized 90, and its security group
    # is in the networking vocabulary teams own by.
    assert second.severity_label == "CRITICAL"
    assert second.service == "EC2"
    assert second.resources[0].type == "AWS::EC2::SecurityGroup"


def test_finding_reimported_later_is_an_update_of_the_same_event() -> None:
    first = one(finding(1))
    later = finding(1, updated="2025-03-20T00:00:00Z")
    later["Workflow"] = {"Status": "RESOLVED"}
    update = one(later)
    assert update.key == first.key and update.last_updated > first.last_updated
    assert update.status == "RESOLVED"
    later["RecordState"] = "ARCHIVED"
    assert one(later).status == "ARCHIVED"


# -- CloudWatch, Alertmanager, cost, reports -----------------------------------------------
def test_cloudwatch_alarm_state_change() -> None:
    event = one(alarm_event())
    assert event.key == "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:checkout-db-cpu-high"
    assert (event.source, event.category, event.status) == ("aws.cloudwatch", "alarm", "ALARM")
    assert (event.service, event.event_type, event.region) == ("RDS", "checkout-db-cpu-high",
                                                               "eu-west-1")
    assert event.title == "checkout-db-cpu-high is ALARM"
    assert "Threshold Crossed" in event.description and "85%" in event.description
    assert event.accounts == ["111122223333"]
    assert event.last_updated == datetime(2024, 3, 1, 11, 59, 57, 312000, tzinfo=UTC)
    assert [(r.id, r.type) for r in event.resources] == [("checkout-db-1", "AWS::RDS::DBInstance")]
    assert event.labels["previous_state"] == "OK"


def test_cloudwatch_sns_notification_gives_the_same_event() -> None:
    notification = {
        "AlarmName": "checkout-db-cpu-high",
        "AlarmDescription": "Checkout database CPU above 85% for 15 minutes",
        "AWSAccountId": "111122223333", "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed: 3 out of the last 3 datapoints were greater "
                          "than the threshold (85.0).",
        "StateChangeTime": "2024-03-01T11:59:57.312+0000", "Region": "EU (Ireland)",
        "AlarmArn": "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:checkout-db-cpu-high",
        "OldStateValue": "OK",
        "Trigger": {"MetricName": "CPUUtilization", "Namespace": "AWS/RDS",
                    "Dimensions": [{"value": "checkout-db-1", "name": "DBInstanceIdentifier"}]}}
    sns = {"Type": "Notification", "MessageId": "b2f6...", "TopicArn": "arn:aws:sns:x",
           "Message": json.dumps(notification)}
    same_but_raw(one(sns), one(alarm_event()))
    assert one(sns).raw == sns


def test_alertmanager_webhook_gives_one_event_per_alert() -> None:
    firing, resolved = parse_event(alertmanager_webhook(), received_at=RECEIVED)
    assert (firing.key, resolved.key) == ("alertmanager:c0ffee0001", "alertmanager:c0ffee0002")
    assert (firing.status, resolved.status) == ("firing", "resolved")
    assert firing.source == "alertmanager" and firing.category == "alarm"
    assert (firing.event_type, firing.service, firing.severity_label) == (
        "HighErrorRate", "checkout", "critical")
    assert firing.title == "checkout 5xx above 5% on 10.0.1.15:8080"
    assert firing.description == "Error ratio 0.12 for 10 minutes."
    assert firing.accounts == ["111122223333"] and firing.region == "eu-west-1"
    assert firing.end_time is None  # Alertmanager's year-1 "not ended"
    assert firing.last_updated == datetime(2024, 3, 1, 11, 50, tzinfo=UTC)
    assert resolved.last_updated == resolved.end_time == datetime(2024, 3, 1, 11, 58, 30,
                                                                  tzinfo=UTC)
    assert firing.resources[0].id == "10.0.1.15:8080"
    assert firing.labels["annotation.runbook_url"] == "https://runbooks.example.com/high-errors"


def test_alert_without_fingerprint_is_keyed_by_its_labels() -> None:
    webhook = alertmanager_webhook()
    for alert in webhook["alerts"]:
        del alert["fingerprint"]
    a, b = parse_event(webhook, received_at=RECEIVED)
    again, _ = parse_event(copy.deepcopy(webhook), received_at=RECEIVED)
    assert a.key != b.key and a.key == again.key and a.key.startswith("alertmanager:")


def test_cost_anomaly_eventbridge_and_sns_give_the_same_event() -> None:
    wrapped = eventbridge("Anomaly Detected", "aws.ce", anomaly())
    event = one(wrapped)
    assert event.key == "12345678-abcd-ef12-3456-987654321a12"
    assert (event.source, event.category, event.event_type) == ("aws.cost-anomaly", "cost",
                                                                "cost_anomaly")
    assert event.cost_amount == pytest.approx(1001.5)
    assert (event.service, event.region, event.accounts) == ("EC2", "us-east-1",
                                                             ["111122223333"])
    assert event.title == ("Cost anomaly: $1,001.50 above expected on "
                           "Amazon Elastic Compute Cloud - Compute")
    assert "BoxUsage:p4d.24xlarge" in event.description
    assert event.last_updated == event.end_time == datetime(2024, 2, 29, tzinfo=UTC)
    sns = {"Type": "Notification", "Message": json.dumps(anomaly())}
    same_but_raw(event, one(sns))
    same_but_raw(event, one(anomaly()))


def test_user_report() -> None:
    event = one(report())
    assert event.key.startswith("report:") and len(event.key) == len("report:") + 36
    assert (event.source, event.category, event.status) == ("user", "report", "open")
    assert event.title == "Checkout pages time out for customers in Ireland since 11:40."
    assert event.description.endswith("30 tickets so far.")
    assert event.labels == {"reporter": "maria@example.com"}
    assert (event.accounts, event.service) == (["111122223333"], "ELASTICLOADBALANCING")
    assert event.last_updated == RECEIVED
    assert one(report()).key != event.key  # each report is its own event
    given = {**report(), "id": "5b4a4a8e-1d0e-4a8c-9a53-3d8f0b1d7c10"}
    assert one(given).key == "report:5b4a4a8e-1d0e-4a8c-9a53-3d8f0b1d7c10"


def test_event_files_list_and_put_events_request() -> None:
    entries = [{"Source": "aws.health", "DetailType": "AWS Health Event",
                "Detail": README_SAMPLE_2},
               {"Source": "ohero.securityhub", "DetailType": "Security Hub Findings - Imported",
                "Detail": json.dumps({"findings": [finding(1), finding(2)]})}]
    assert len(parse_events(entries, received_at=RECEIVED)) == 3
    assert len(parse_events({"Entries": entries}, received_at=RECEIVED)) == 3
    with pytest.raises(EventFormatError, match=r"^item 1: Detail: not valid JSON"):
        parse_events([entries[0], {**entries[1], "Detail": "{oops"}], received_at=RECEIVED)


def test_json_wire_form_has_utc_z_times() -> None:
    wire = json.loads(one(json.loads(README_SAMPLE_1)).model_dump_json())
    assert wire["last_updated"] == "2023-11-29T08:20:00.000Z"
    assert wire["end_time"] is None
    assert OpsEvent.model_validate(wire) == one(json.loads(README_SAMPLE_1))


# -- bad input ------------------------------------------------------------------------------
def _health_with(**changes: Any) -> dict[str, Any]:
    payload = json.loads(README_SAMPLE_1)
    for name, value in changes.items():
        if value is ...:
            del payload[name]
        else:
            payload[name] = value
    return payload


@pytest.mark.parametrize(("payload", "message"), [
    ({"hello": "world"}, r"^payload: not a recognised event .*keys seen: hello"),
    ({}, r"^payload: not a recognised event"),
    ({"type": "complaint", "text": "x"}, r"^type: 'complaint' is not known"),
    (_health_with(affectedAccount=111122223333),
     r"^affectedAccount: expected a string, got a number$"),
    (_health_with(affectedAccount="1111"), r"^affectedAccount: '1111' is not a 12-digit"),
    (_health_with(eventArn=...), r"^eventArn: required field is missing$"),
    (_health_with(lastUpdatedTime=...), r"^lastUpdatedTime: required field is missing$"),
    (_health_with(lastUpdatedTime="yesterday"), r"^lastUpdatedTime: 'yesterday' is not a time"),
    (_health_with(lastUpdatedTime="2023-11-29T08:20:00"), r"^lastUpdatedTime: .* no timezone"),
    (_health_with(startTime="0001-01-01T00:00:00+01:00"), r"^startTime: .* is outside 1970-2200"),
    (_health_with(eventTypeCategory="bogus"), r"^eventTypeCategory: unknown category 'bogus'"),
    (_health_with(affectedEntities={"entityValue": "x"}),
     r"^affectedEntities: expected a list, got an object$"),
    (_health_with(affectedEntities=[{"statusCode": "PENDING"}]),
     r"^affectedEntities\[0\]\.entityValue: required field is missing$"),
    (eventbridge("AWS Health Event", "aws.health", _health_with(service=...)),
     r"^detail\.service: required field is missing$"),
    (eventbridge("AWS Health Event", "aws.health", "not an object"),  # type: ignore[arg-type]
     r"^detail: expected an object, got a string$"),
    (eventbridge("EC2 Instance State-change Notification", "aws.ec2", {}),
     r"^detail-type: 'EC2 Instance State-change Notification' is not an event type"),
    (eventbridge("Security Hub Findings - Imported", "aws.securityhub", {"findings": []}),
     r"^detail\.findings: the list is empty"),
    (eventbridge("Security Hub Findings - Imported", "aws.securityhub", {}),
     r"^detail\.findings: required field is missing$"),
    (eventbridge("Security Hub Findings - Imported", "aws.securityhub",
                 {"findings": [finding(1), {**finding(2), "Resources": "arn:aws:s3:::b"}]}),
     r"^detail\.findings\[1\]\.Resources: expected a list, got a string$"),
    ({**finding(1), "UpdatedAt": None}, r"^UpdatedAt: required field is missing$"),
    ({**alarm_event(), "resources": []}, r"^resources: required: the alarm ARN$"),
    (alarm_event()["detail"], r"alarm detail without its EventBridge envelope"),
    ({**alertmanager_webhook(), "version": "3"}, r"^version: .*'3' is not supported"),
    ({**alertmanager_webhook(), "alerts": []}, r"^alerts: the list is empty"),
    ({**alertmanager_webhook(), "commonLabels": {},
      "alerts": [{"status": "firing", "labels": {"job": "api"}}]},
     r"^alerts\[0\]\.labels\.alertname: required field is missing$"),
    ({**anomaly(), "impact": {"totalImpact": "lots"}},
     r"^impact\.totalImpact: expected a number, got a string$"),
    ({**report(), "text": ""}, r"^text: must not be empty$"),
    ({**report(), "accounts": "111122223333"}, r"^accounts: expected a list, got a string$"),
    ({**report(), "id": "42"}, r"^id: '42' is not a UUID$"),
    ({"Type": "Notification", "Message": "plain words"}, r"^Message: not valid JSON"),
])
def test_bad_input_is_refused_naming_the_field(payload: dict[str, Any], message: str) -> None:
    with pytest.raises(EventFormatError, match=message):
        parse_event(payload, received_at=RECEIVED)


@pytest.mark.parametrize("payload", [[], "text", 42, None])
def test_a_payload_that_is_not_an_object_is_refused(payload: Any) -> None:
    with pytest.raises(EventFormatError, match=r"^payload: expected a JSON object"):
        parse_event(payload, received_at=RECEIVED)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    value = copy.deepcopy(value)
    holder = value
    for part in path[:-1]:
        holder = holder[part]
    holder[path[-1]] = new
    return value


@pytest.mark.parametrize("make", [lambda: json.loads(README_SAMPLE_1), health_issue,
                                  lambda: eventbridge("Security Hub Findings - Imported",
                                                      "aws.securityhub",
                                                      {"findings": [finding(1), finding(2)]}),
                                  alarm_event, alertmanager_webhook, anomaly, report])
def test_any_field_of_the_wrong_type_is_a_format_error_never_a_crash(make: Any) -> None:
    payload = make()
    rng = random.Random(7)
    for path in _paths(payload):
        for wrong in (None, 42, "", "x", [], {}, [1], {"a": [1]}, True, -1e308,
                      "0001-01-01T00:00:00+01:00", "2023-13-45T00:00:00Z",
                      "Fri, 10 Nov 2023 09:01:00 GMT"):
            broken = _replace(payload, path, wrong)
            try:
                parse_event(broken, received_at=RECEIVED)
            except EventFormatError as exc:
                assert str(exc)  # a message a person can act on
        if rng.random() < 0.3:  # and a field dropped altogether
            broken = copy.deepcopy(payload)
            holder = broken
            for part in path[:-1]:
                holder = holder[part]
            if isinstance(holder, dict):
                del holder[path[-1]]
            with contextlib.suppress(EventFormatError):
                parse_event(broken, received_at=RECEIVED)


# -- organisation ---------------------------------------------------------------------------
def test_example_organisation_loads() -> None:
    org = load_organisation(EXAMPLE_ORG)
    assert {t.id for t in org.teams} == {"mgt01", "fin01", "sec01", "inf01", "app01"}
    assert org.default_owner.id == "app01"
    assert org.team("mgt01").stakeholder_for == ["severity_5"]
    assert org.team("fin01").stakeholder_for == ["cost_impact"]
    assert org.team("sec01").stakeholder_for == ["security_high"]
    assert "no_action_needed" in org.team("app01").stakeholder_for
    assert {"VPC", "DIRECTCONNECT", "ROUTE53", "ELASTICLOADBALANCING", "AWS::EC2::VPC",
            "AWS::EC2::Subnet", "AWS::EC2::SecurityGroup"} <= set(org.team("inf01").owns)
    for readme_account in ("111122223333", "444333222111"):
        account = org.account(readme_account)
        assert account is not None and account.production
    assert any(not a.production for a in org.accounts)
    assert org.account("000000000000") is None and org.team("nobody") is None


def _org_file(tmp_path: Path, data: Any, name: str = "org.yaml") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data) if name.endswith(".json") else _yaml(data))
    return path


def _yaml(data: Any) -> str:
    import yaml
    return yaml.safe_dump(data)


def _good() -> dict[str, Any]:
    import yaml
    return yaml.safe_load(EXAMPLE_ORG.read_text())


def test_organisation_as_json_loads(tmp_path: Path) -> None:
    org = load_organisation(_org_file(tmp_path, _good(), "org.json"))
    assert org.account("444333222111").tags["team"] == "app01"


def _without_default_owner() -> dict[str, Any]:
    data = _good()
    for team in data["teams"]:
        team["default_owner"] = False
    return data


def _two_default_owners() -> dict[str, Any]:
    data = _good()
    data["teams"][0]["default_owner"] = True
    return data


def _duplicate_team() -> dict[str, Any]:
    data = _good()
    data["teams"].append(dict(data["teams"][1]))
    return data


def _duplicate_account() -> dict[str, Any]:
    data = _good()
    data["accounts"].append(dict(data["accounts"][0]))
    return data


def _changed(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    return _replace(_good(), path, value)


@pytest.mark.parametrize(("data", "message"), [
    (_without_default_owner(), r"teams: exactly one team must have default_owner: true; found 0"),
    (_two_default_owners(), r"exactly one team .* found 2 \(mgt01, app01\)"),
    (_duplicate_team(), r"teams: ids must be unique; repeated: fin01"),
    (_duplicate_account(), r"accounts: ids must be unique; repeated: 111122223333"),
    (_changed(("accounts", 1, "tags", "team"), "ghost01"),
     r"accounts\[1\]\.tags\.team: no team has id 'ghost01'"),
    (_changed(("accounts", 0, "id"), "1234"), r"accounts\[0\]\.id: String should match"),
    (_changed(("accounts", 0, "status"), "GONE"), r"accounts\[0\]\.status: Input should be"),
    (_changed(("accounts", 2, "tags", "environment"), "prod"),
     r"accounts\[2\]: tags\.environment must be one of production, non-production"),
    (_changed(("teams", 1, "stakeholder_for"), ["everything"]),
     r"teams\[1\]\.stakeholder_for\[0\]: Input should be"),
    (_changed(("teams", 2, "owns"), "VPC"), r"teams\[2\]\.owns: Input should be a valid list"),
    (_changed(("teams", 0, "colour"), "blue"), r"teams\[0\]\.colour: Extra inputs"),
    ({"accounts": []}, r"^.*org\.yaml: teams: required field is missing$"),
    (["not", "a", "mapping"], r"expected a mapping with 'accounts' and 'teams'"),
])
def test_broken_organisation_is_refused_naming_the_field(tmp_path: Path, data: Any,
                                                          message: str) -> None:
    path = _org_file(tmp_path, data)
    with pytest.raises(OrganisationError, match=message) as caught:
        load_organisation(path)
    assert str(caught.value).startswith(str(path))


def test_organisation_file_missing_or_unreadable(tmp_path: Path) -> None:
    with pytest.raises(OrganisationError, match=r"nope\.yaml: cannot read"):
        load_organisation(tmp_path / "nope.yaml")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("teams: [\n  - id: a\n    name: [unclosed\n")
    with pytest.raises(OrganisationError, match=r"bad\.yaml: not valid YAML at line \d"):
        load_organisation(bad_yaml)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{,}")
    with pytest.raises(OrganisationError, match=r"bad\.json: not valid JSON"):
        load_organisation(bad_json)
