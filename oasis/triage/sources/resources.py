"""Resource ids and types from ARNs and Security Hub types, in one vocabulary.

Teams own resources by CloudFormation type prefix ("AWS::EC2::VPC"), whatever source
named the resource: a Health entity ARN (arn:aws:ec2:...:vpc/vpc-1) and a finding's
"AwsEc2Vpc" must both come out as AWS::EC2::VPC, or ownership would depend on the source.
"""

from __future__ import annotations

import re

from oasis.triage.model import Resource

#: ARN / ASFF service spelling -> CloudFormation namespace, where plain upper-casing is wrong.
_NAMESPACES = {
    "elasticloadbalancing": "ElasticLoadBalancingV2", "elbv2": "ElasticLoadBalancingV2",
    "elb": "ElasticLoadBalancing", "lambda": "Lambda", "dynamodb": "DynamoDB",
    "cloudtrail": "CloudTrail", "cloudfront": "CloudFront", "apigateway": "ApiGateway",
    "apigatewayv2": "ApiGatewayV2", "cloudwatch": "CloudWatch", "autoscaling": "AutoScaling",
    "secretsmanager": "SecretsManager", "sagemaker": "SageMaker", "route53": "Route53",
    "directconnect": "DirectConnect", "elasticache": "ElastiCache", "opensearch": "OpenSearch",
    "es": "Elasticsearch", "elasticsearch": "Elasticsearch", "kinesis": "Kinesis",
    "redshift": "Redshift", "backup": "Backup", "events": "Events", "logs": "Logs",
    "states": "StepFunctions", "stepfunctions": "StepFunctions", "codebuild": "CodeBuild",
    "networkfirewall": "NetworkFirewall", "guardduty": "GuardDuty", "wafv2": "WAFv2",
    "acm": "CertificateManager", "certificatemanager": "CertificateManager",
}
#: Resource spelling -> CloudFormation name, where capitalising each word is wrong.
_RESOURCE_NAMES = {
    "vpc": "VPC", "db": "DBInstance", "dbinstance": "DBInstance", "cluster": "Cluster",
    "dbcluster": "DBCluster", "loadbalancer": "LoadBalancer", "natgateway": "NatGateway",
    "security-group": "SecurityGroup", "securitygroup": "SecurityGroup",
    "network-interface": "NetworkInterface", "networkinterface": "NetworkInterface",
    "vpn-connection": "VPNConnection", "transit-gateway": "TransitGateway",
    "hostedzone": "HostedZone", "dxcon": "Connection", "dxvif": "VirtualInterface",
    "eip": "EIP", "eipallocation": "EIP", "rdsdbinstance": "DBInstance",
}
#: Where an ARN has no resource-type part, the service's only kind of resource.
_SINGLE_TYPE_SERVICES = {"s3": "Bucket", "sns": "Topic", "sqs": "Queue"}
#: ASFF service words spelled over several camel-case words, longest first.
_ASFF_SERVICES = sorted(
    ["ApiGatewayV2", "ApiGateway", "AutoScaling", "CertificateManager", "CloudFront",
     "CloudTrail", "CloudWatch", "CodeBuild", "DynamoDb", "ElastiCache", "ElasticBeanstalk",
     "Elasticsearch", "Elbv2", "Elb", "Ec2", "Ecr", "Ecs", "Efs", "Eks", "EventBridge", "Iam",
     "Kinesis", "Kms", "Lambda", "NetworkFirewall", "OpenSearch", "Rds", "Redshift", "Route53",
     "S3", "SageMaker", "SecretsManager", "Sns", "Sqs", "Ssm", "StepFunction", "WafV2",
     "WafRegional", "Waf", "Backup", "GuardDuty", "Msk", "Neptune", "DocumentDb"],
    key=len, reverse=True)
#: Namespaces whose AWS Health service code differs from the upper-cased namespace.
_HEALTH_SERVICE_CODES = {"ELASTICLOADBALANCINGV2": "ELASTICLOADBALANCING",
                         "CERTIFICATEMANAGER": "ACM", "STEPFUNCTIONS": "STATES"}
_CAMEL_WORD = re.compile(r"[A-Z][a-z0-9]*")
_ARN = re.compile(r"^arn:[\w-]+:([\w-]+):([\w-]*):(\d{12})?:(.+)$")


def _namespace(service: str) -> str:
    return _NAMESPACES.get(service.lower(), service.upper())


def _resource_name(word: str) -> str:
    mapped = _RESOURCE_NAMES.get(word.lower())
    if mapped:
        return mapped
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", word) if part)


def parse_arn(arn: str) -> tuple[str, str | None, str | None, str | None] | None:
    """(service, region, account, resource type) of an ARN, or None if it is not one."""
    match = _ARN.match(arn)
    if not match:
        return None
    service, region, account, rest = match.groups()
    kind = re.split(r"[/:]", rest, maxsplit=1)[0] if re.search(r"[/:]", rest) else None
    if kind is None:
        kind = _SINGLE_TYPE_SERVICES.get(service)
    resource_type = f"AWS::{_namespace(service)}::{_resource_name(kind)}" if kind else None
    return service, region or None, account, resource_type


def asff_type(kind: str) -> str:
    """Security Hub "AwsEc2SecurityGroup" -> "AWS::EC2::SecurityGroup"; others unchanged."""
    if not kind.startswith("Aws") or len(kind) <= 3:
        return kind  # "Container", "Other": no CloudFormation equivalent
    rest = kind[3:]
    service = next((s for s in _ASFF_SERVICES if rest.startswith(s)), None)
    if service is None:
        words = _CAMEL_WORD.findall(rest)
        if not words:
            return kind
        service = words[0]
    resource = rest[len(service):]
    if not resource:
        return f"AWS::{_namespace(service)}"
    return f"AWS::{_namespace(service)}::{_resource_name(resource)}"


def resource_from_id(value: str, *, account: str | None = None, region: str | None = None,
                     tags: dict[str, str] | None = None, kind: str | None = None) -> Resource:
    """A Resource for an id that may be an ARN; the ARN's own account and region win."""
    parsed = parse_arn(value)
    if parsed is not None:
        _, arn_region, arn_account, arn_type = parsed
        account = arn_account or account
        region = arn_region or region
        kind = kind or arn_type
    return Resource(id=value, type=kind, account=account, region=region, tags=tags or {})


def service_family(resource_type: str | None) -> str | None:
    """"AWS::EC2::VPC" -> "EC2": the service a resource type belongs to."""
    if not resource_type or not resource_type.startswith("AWS::"):
        return None
    family = resource_type.split("::")[1].upper()
    return _HEALTH_SERVICE_CODES.get(family, family) or None
