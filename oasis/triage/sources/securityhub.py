"""Security Hub findings in the AWS Security Finding Format (ASFF).

One finding alone, a `{"findings": [...]}` batch, or the EventBridge "Security Hub
Findings - Imported" event whose detail is such a batch: one OpsEvent per finding, keyed by
the finding Id, so a re-import with a newer UpdatedAt is an update of the same event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oasis.triage.model import EventFormatError, OpsEvent, Resource
from oasis.triage.sources.fields import Fields, each_kept
from oasis.triage.sources.resources import asff_type, parse_arn, resource_from_id, service_family

#: Security control prefixes whose AWS Health service code is spelled differently.
_CONTROL_SERVICES = {"ELB": "ELASTICLOADBALANCING", "ELBV2": "ELASTICLOADBALANCING"}


def looks_like_finding(data: dict[str, Any]) -> bool:
    return "SchemaVersion" in data or ("ProductArn" in data and "AwsAccountId" in data)


def parse_findings(detail: Fields, raw: dict[str, Any], *,
                   wrap: Callable[[int], dict[str, Any]] | None = None,
                   rejected: list[str] | None = None) -> list[OpsEvent]:
    """Every finding of a `{"findings": [...]}` object; `wrap(i)` gives each one's raw."""
    findings = detail.objects("findings", required=True)
    if not findings:
        raise EventFormatError(f"{detail.where('findings')}: the list is empty; "
                               "expected at least one finding")
    return each_kept(findings, lambda i, f: [parse_finding(f, wrap(i) if wrap else raw)],
                     rejected, label=lambda i: detail.where(f"findings[{i}]"))


def parse_finding(finding: Fields, raw: dict[str, Any]) -> OpsEvent:
    key = finding.req("Id")
    account = finding.req("AwsAccountId")
    title = finding.req("Title")
    types = finding.strings("Types")
    resources = [_resource(r, account) for r in finding.objects("Resources")]
    region = finding.text("Region") or next((r.region for r in resources if r.region), None)
    return OpsEvent(
        key=key, source="aws.securityhub", category="finding",
        title=" ".join(title.split()), description=finding.text("Description") or "",
        service=_service(finding, resources), event_type=types[0] if types else None,
        region=region or _product_region(finding), status=_status(finding), scope=None,
        severity_label=_severity(finding), accounts=[account], resources=resources,
        start_time=finding.time("FirstObservedAt") or finding.time("CreatedAt"),
        end_time=None, last_updated=finding.time("UpdatedAt", required=True),
        labels=_labels(finding), raw=raw,
    )


def _resource(item: Fields, account: str) -> Resource:
    kind = item.text("Type")
    return resource_from_id(item.req("Id"), account=account, region=item.text("Region"),
                            tags=item.string_map("Tags"), kind=asff_type(kind) if kind else None)


def _status(finding: Fields) -> str | None:
    """ARCHIVED wins: an archived finding is over whatever its workflow said."""
    record = finding.text("RecordState")
    if record == "ARCHIVED":
        return record
    return finding.obj("Workflow").text("Status") or finding.text("WorkflowState") or record


def _severity(finding: Fields) -> str | None:
    severity = finding.obj("Severity")
    label = severity.text("Label")
    if label:
        return label.upper()
    normalized = severity.number("Normalized")
    if normalized is None:
        return None
    # The ASFF mapping from Normalized to Label.
    for floor, name in ((90, "CRITICAL"), (70, "HIGH"), (40, "MEDIUM"), (1, "LOW")):
        if normalized >= floor:
            return name
    return "INFORMATIONAL"


def _service(finding: Fields, resources: list[Resource]) -> str | None:
    """The control's service ("S3.8" -> S3), else the first resource's, else the product."""
    product = finding.obj("ProductFields")
    control = (finding.obj("Compliance").text("SecurityControlId")
               or product.scalar("ControlId"))
    if control and "." in control:
        prefix = control.split(".", 1)[0].upper()
        return _CONTROL_SERVICES.get(prefix, prefix)
    for resource in resources:
        family = service_family(resource.type)
        if family:
            return family
    return finding.text("ProductName")


def _product_region(finding: Fields) -> str | None:
    arn = finding.text("ProductArn")
    parsed = parse_arn(arn) if arn else None
    return parsed[1] if parsed else None


def _labels(finding: Fields) -> dict[str, str]:
    labels: dict[str, str] = {}
    for name in ("GeneratorId", "ProductName", "CompanyName", "ProductArn"):
        value = finding.text(name)
        if value:
            labels[name] = value
    compliance = finding.obj("Compliance").text("Status")
    if compliance:
        labels["Compliance.Status"] = compliance
    control = finding.obj("ProductFields").scalar("ControlId")
    if control:
        labels["ControlId"] = control
    url = finding.obj("Remediation").obj("Recommendation").text("Url")
    if url:
        labels["RecommendationUrl"] = url
    return labels
