"""AWS Cost Anomaly Detection: the EventBridge "Anomaly Detected" event, or the JSON the
service publishes to an SNS subscription. Both carry the same anomaly object.

An anomaly grows while it lasts: its end date moves on and its impact rises. The end date
is therefore `last_updated`, so a later notice of the same anomaly is an update.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from oasis.triage.model import OpsEvent
from oasis.triage.sources.fields import Fields, is_account_id

#: Cost Explorer's service names -> AWS Health service codes, for the common ones.
_SERVICE_CODES = {
    "Amazon Elastic Compute Cloud - Compute": "EC2", "EC2 - Other": "EC2",
    "Amazon Relational Database Service": "RDS", "Amazon Simple Storage Service": "S3",
    "Amazon Elastic Kubernetes Service": "EKS", "AWS Lambda": "LAMBDA",
    "Amazon DynamoDB": "DYNAMODB", "Amazon CloudFront": "CLOUDFRONT",
    "Amazon Virtual Private Cloud": "VPC", "Elastic Load Balancing": "ELASTICLOADBALANCING",
    "Amazon Elastic Container Service": "ECS", "Amazon Route 53": "ROUTE53",
    "AWS Direct Connect": "DIRECTCONNECT", "Amazon CloudWatch": "CLOUDWATCH",
    "Amazon SageMaker": "SAGEMAKER", "Amazon Bedrock": "BEDROCK",
}


def looks_like_anomaly(data: dict[str, Any]) -> bool:
    return "anomalyId" in data and ("impact" in data or "monitorArn" in data)


def parse_anomaly(anomaly: Fields, raw: dict[str, Any], *, received_at: datetime) -> OpsEvent:
    key = anomaly.req("anomalyId")
    impact = anomaly.obj("impact")
    amount = impact.number("totalImpact")
    if amount is None:
        amount = impact.number("maxImpact")
    causes = anomaly.objects("rootCauses")
    service_name = next((c.text("service") for c in causes if c.has("service")), None)
    region = next((c.text("region") for c in causes if c.has("region")), None)
    accounts = []
    for cause in causes:
        linked = cause.scalar("linkedAccount")
        if linked and is_account_id(linked) and linked not in accounts:
            accounts.append(linked)
    payer = anomaly.scalar("accountId")
    if not accounts and payer and is_account_id(payer):
        accounts.append(payer)
    start = anomaly.time("anomalyStartDate")
    end = anomaly.time("anomalyEndDate")
    dimension = anomaly.text("dimensionalValue") or anomaly.text("dimensionValue")
    where = dimension or service_name or "spend"
    amount_text = f"${amount:,.2f}" if amount is not None else "unknown amount"
    return OpsEvent(
        key=key, source="aws.cost-anomaly", category="cost",
        title=f"Cost anomaly: {amount_text} above expected on {where}",
        description=_description(anomaly, impact, causes, amount_text),
        service=_SERVICE_CODES.get(service_name or "", service_name), event_type="cost_anomaly",
        region=region, status=None, scope=None, severity_label=None, accounts=accounts,
        resources=[], start_time=start, end_time=end,
        last_updated=end or start or received_at, cost_amount=amount,
        labels=_labels(anomaly), raw=raw,
    )


def _description(anomaly: Fields, impact: Fields, causes: list[Fields], amount: str) -> str:
    monitor = anomaly.text("monitorName") or anomaly.text("monitorArn") or "?"
    lines = [f"Cost Anomaly Detection monitor {monitor} found spend {amount} above expected."]
    actual, expected = impact.number("totalActualSpend"), impact.number("totalExpectedSpend")
    if actual is not None and expected is not None:
        lines.append(f"Actual ${actual:,.2f} against expected ${expected:,.2f}.")
    for cause in causes:
        parts = [f"{name}={cause.scalar(name)}" for name in
                 ("service", "region", "linkedAccount", "linkedAccountName", "usageType")
                 if cause.scalar(name)]
        if parts:
            lines.append("Root cause: " + ", ".join(parts))
    return "\n".join(lines)


def _labels(anomaly: Fields) -> dict[str, str]:
    labels = {}
    for name in ("monitorName", "monitorArn", "monitorType", "anomalyDetailsLink",
                 "subscriptionName"):
        value = anomaly.text(name)
        if value:
            labels[name] = value
    score = anomaly.obj("anomalyScore").number("maxScore")
    if score is not None:
        labels["maxScore"] = f"{score:g}"
    return labels
