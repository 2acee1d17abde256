"""Payloads exactly as the sources send them, so the parsers are tested on the real shape.

EventBridge envelopes (AWS Health, Security Hub, CloudWatch, Cost Anomaly Detection) and
the bare AWS Health object the OHERO prototype's mock-ups use. Times are written the way
each source writes them: RFC 1123 for Health, ISO 8601 with Z elsewhere.
"""

from __future__ import annotations

import random
import zlib
from datetime import UTC, datetime
from typing import Any

from oasis.signals.model import utc_iso


def rfc1123(at: datetime) -> str:
    """AWS Health writes its times like "Wed, 31 Jan 2024 02:00:00 GMT"."""
    return at.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def envelope(rng: random.Random, source: str, detail_type: str, account: str | None,
             region: str, at: datetime, resources: list[str],
             detail: dict[str, Any]) -> dict[str, Any]:
    """An EventBridge event as a rule target receives it."""
    return {"version": "0", "id": uuid(rng), "detail-type": detail_type, "source": source,
            "account": account or "", "time": seconds(at), "region": region,
            "resources": resources, "detail": detail}


def health_detail(*, arn: str, service: str, type_code: str, category: str, scope: str,
                  status: str, region: str, start: datetime, end: datetime | None,
                  updated: datetime, text: str, account: str | None,
                  entities: list[str]) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "eventArn": arn, "service": service, "eventTypeCode": type_code,
        "eventTypeCategory": category, "eventScopeCode": scope,
        "communicationId": f"{zlib.crc32(arn.encode()):010x}{len(text):06d}-1",
        "startTime": rfc1123(start), "endTime": rfc1123(end) if end else "",
        "lastUpdatedTime": rfc1123(updated), "statusCode": status, "eventRegion": region,
        "eventDescription": [{"language": "en_US", "latestDescription": text}],
        "affectedEntities": [{"entityValue": e, "lastUpdatedTime": rfc1123(updated),
                              "statusCode": "PENDING"} for e in entities],
        "page": "1", "totalPages": "1"}
    if account is not None:
        detail["affectedAccount"] = account
    return detail


def asff_finding(*, finding_id: str, account: str, region: str, title: str, text: str,
                 types: list[str], label: str, resource_type: str, resource_id: str,
                 created: datetime, updated: datetime, generator: str,
                 product: str = "securityhub", compliance: str | None = "FAILED"
                 ) -> dict[str, Any]:
    """One ASFF finding; `compliance` None for findings that are not control checks."""
    normalized = {"CRITICAL": 90, "HIGH": 70, "MEDIUM": 40, "LOW": 1, "INFORMATIONAL": 0}
    names = {"securityhub": "Security Hub", "inspector": "Inspector"}
    finding: dict[str, Any] = {
        "SchemaVersion": "2018-10-08", "Id": finding_id,
        "ProductArn": f"arn:aws:securityhub:{region}::product/aws/{product}",
        "ProductName": names.get(product, product), "CompanyName": "AWS", "Region": region,
        "GeneratorId": generator, "AwsAccountId": account, "Types": types,
        "FirstObservedAt": seconds(created), "CreatedAt": seconds(created),
        "UpdatedAt": seconds(updated),
        "Severity": {"Label": label, "Normalized": normalized[label], "Original": label},
        "Title": title, "Description": text,
        "Remediation": {"Recommendation": {"Text": "See the control's remediation guide.",
                                           "Url": "https://docs.aws.amazon.com/securityhub/"}},
        "Resources": [{"Type": resource_type, "Id": resource_id, "Partition": "aws",
                       "Region": region}],
        "WorkflowState": "NEW", "Workflow": {"Status": "NEW"}, "RecordState": "ACTIVE"}
    if compliance is not None:
        finding["Compliance"] = {"Status": compliance}
    return finding


def uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def seconds(at: datetime) -> str:
    return utc_iso(at.replace(microsecond=0))
