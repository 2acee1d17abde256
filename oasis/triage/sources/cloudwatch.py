"""CloudWatch alarm state changes: the EventBridge event, or the SNS alarm notification.

The alarm ARN is the key, so every state change of one alarm is one event moving between
ALARM and OK. The EventBridge `detail` alone has no ARN (it is in the envelope's
`resources`), so a bare detail is refused rather than keyed by a guess.
"""

from __future__ import annotations

from typing import Any

from oasis.triage.model import EventFormatError, OpsEvent, Resource
from oasis.triage.sources.fields import Fields, is_account_id
from oasis.triage.sources.resources import parse_arn

#: Metric dimensions that name a resource, and its CloudFormation type.
_DIMENSION_TYPES = {
    "InstanceId": "AWS::EC2::Instance",
    "VolumeId": "AWS::EC2::Volume",
    "NatGatewayId": "AWS::EC2::NatGateway",
    "DBInstanceIdentifier": "AWS::RDS::DBInstance",
    "DBClusterIdentifier": "AWS::RDS::DBCluster",
    "LoadBalancer": "AWS::ElasticLoadBalancingV2::LoadBalancer",
    "TargetGroup": "AWS::ElasticLoadBalancingV2::TargetGroup",
    "FunctionName": "AWS::Lambda::Function",
    "QueueName": "AWS::SQS::Queue",
    "TableName": "AWS::DynamoDB::Table",
    "BucketName": "AWS::S3::Bucket",
    "ClusterName": "AWS::ECS::Cluster",
    "AutoScalingGroupName": "AWS::AutoScaling::AutoScalingGroup",
}

#: Metric namespaces whose AWS Health service code is spelled differently.
_NAMESPACE_SERVICES = {"APPLICATIONELB": "ELASTICLOADBALANCING",
                       "NETWORKELB": "ELASTICLOADBALANCING", "ELB": "ELASTICLOADBALANCING",
                       "DX": "DIRECTCONNECT", "NATGATEWAY": "VPC"}


def looks_like_alarm_notification(data: dict[str, Any]) -> bool:
    return "AlarmName" in data and "NewStateValue" in data


def looks_like_alarm_detail(data: dict[str, Any]) -> bool:
    return "alarmName" in data and "state" in data


def parse_alarm_event(envelope: Fields, detail: Fields, raw: dict[str, Any]) -> OpsEvent:
    """The EventBridge "CloudWatch Alarm State Change" event."""
    arns = envelope.strings("resources")
    if not arns:
        raise EventFormatError(f"{envelope.where('resources')}: required: the alarm ARN")
    name = detail.req("alarmName")
    state = detail.obj("state", required=True)
    value = state.req("value")
    metrics = [m.obj("metricStat").obj("metric") for m in
               detail.obj("configuration").objects("metrics")]
    namespace = next((m.text("namespace") for m in metrics if m.has("namespace")), None)
    dimensions: dict[str, str] = {}
    for metric in metrics:
        dimensions.update(metric.string_map("dimensions"))
    metric_name = next((m.text("name") for m in metrics if m.has("name")), None)
    account = envelope.text("account")
    region = envelope.text("region")
    previous = detail.obj("previousState").text("value")
    return _event(arns[0], name, value, detail.obj("configuration").text("description"),
                  state.text("reason"), state.time("timestamp", required=True), namespace,
                  metric_name, dimensions, account, region, previous, raw)


def parse_alarm_notification(message: Fields, raw: dict[str, Any]) -> OpsEvent:
    """The JSON CloudWatch publishes to an SNS topic when an alarm changes state."""
    arn = message.req("AlarmArn")
    parsed = parse_arn(arn)
    trigger = message.obj("Trigger")
    dimensions = {}
    for item in trigger.objects("Dimensions"):
        dimensions[item.req("name")] = item.scalar("value") or ""
    return _event(arn, message.req("AlarmName"), message.req("NewStateValue"),
                  message.text("AlarmDescription"), message.text("NewStateReason"),
                  message.time("StateChangeTime", required=True), trigger.text("Namespace"),
                  trigger.text("MetricName"), dimensions,
                  message.scalar("AWSAccountId") or (parsed[2] if parsed else None),
                  parsed[1] if parsed else None, message.text("OldStateValue"), raw)


def _event(arn: str, name: str, state: str, description: str | None, reason: str | None,
           changed: Any, namespace: str | None, metric: str | None,
           dimensions: dict[str, str], account: str | None, region: str | None,
           previous: str | None, raw: dict[str, Any]) -> OpsEvent:
    labels = {k: v for k, v in (("namespace", namespace), ("metric", metric),
                                ("previous_state", previous)) if v}
    labels.update({f"dimension.{k}": v for k, v in dimensions.items()})
    text = "\n\n".join(t for t in (description, reason) if t)
    return OpsEvent(
        key=arn, source="aws.cloudwatch", category="alarm", title=f"{name} is {state}",
        description=text, service=_service(namespace), event_type=name, region=region,
        status=state, scope=None, severity_label=None,
        accounts=[account] if account and is_account_id(account) else [],
        resources=[Resource(id=v, type=_DIMENSION_TYPES[k], account=account, region=region)
                   for k, v in dimensions.items() if k in _DIMENSION_TYPES],
        start_time=changed, end_time=None, last_updated=changed, labels=labels, raw=raw,
    )


def _service(namespace: str | None) -> str | None:
    """"AWS/EC2" -> "EC2"; custom namespaces name no AWS service."""
    if namespace and namespace.startswith("AWS/"):
        family = namespace[4:].upper()
        return _NAMESPACE_SERVICES.get(family, family)
    return None
