"""What the generated events are made of: services, event types, texts, findings, alarms.

Texts are written so the policy's answer is plain: a cost-free deprecation names no
price, extended support or billing; informational notices ask for nothing.
"""

from __future__ import annotations

#: (service, event type, resource ARN pattern, text without cost, text with cost or None)
DEPRECATIONS = (
    ("EKS", "AWS_EKS_PLANNED_LIFECYCLE_EVENT", "arn:aws:eks:{region}:{account}:cluster/{name}",
     "Amazon EKS ends support for Kubernetes version 1.{minor} on {date}. Upgrade the "
     "clusters listed to a newer Kubernetes version before that date.",
     "Standard support for Kubernetes version 1.{minor} in Amazon EKS ends on {date}. "
     "Clusters still on 1.{minor} after that date enter extended support, billed at an "
     "additional $0.60 per cluster per hour."),
    ("RDS", "AWS_RDS_PLANNED_LIFECYCLE_EVENT", "arn:aws:rds:{region}:{account}:db:{name}",
     "Amazon RDS deprecates minor version 8.0.{minor} of RDS for MySQL on {date}. Instances "
     "still on it are upgraded to the default minor version in their maintenance window.",
     "RDS for PostgreSQL 1{minor} reaches the end of standard support on {date}. Instances "
     "still running it are enrolled in RDS Extended Support, charged per vCPU-hour."),
    ("LAMBDA", "AWS_LAMBDA_PLANNED_LIFECYCLE_EVENT",
     "arn:aws:lambda:{region}:{account}:function:{name}",
     "AWS Lambda ends support for the python3.{minor} runtime on {date}. Functions using "
     "it no longer receive security patches; update them to a supported runtime.", None),
)
#: (service, event type, resource ARN pattern)
ISSUES = (
    ("EC2", "AWS_EC2_OPERATIONAL_ISSUE", "arn:aws:ec2:{region}:{account}:instance/i-{hex}"),
    ("RDS", "AWS_RDS_OPERATIONAL_ISSUE", "arn:aws:rds:{region}:{account}:db:{name}"),
    ("LAMBDA", "AWS_LAMBDA_OPERATIONAL_ISSUE",
     "arn:aws:lambda:{region}:{account}:function:{name}"),
    ("ELASTICLOADBALANCING", "AWS_ELASTICLOADBALANCING_OPERATIONAL_ISSUE",
     "arn:aws:elasticloadbalancing:{region}:{account}:loadbalancer/app/{name}/{hex}"),
    ("VPC", "AWS_VPC_OPERATIONAL_ISSUE", "arn:aws:ec2:{region}:{account}:vpc/vpc-{hex}"),
    ("DIRECTCONNECT", "AWS_DIRECTCONNECT_OPERATIONAL_ISSUE",
     "arn:aws:directconnect:{region}:{account}:dxcon/dxcon-{hex}"),
)
MAINTENANCE = (
    ("EC2", "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED",
     "arn:aws:ec2:{region}:{account}:instance/i-{hex}"),
    ("RDS", "AWS_RDS_MAINTENANCE_SCHEDULED", "arn:aws:rds:{region}:{account}:db:{name}"),
    ("DIRECTCONNECT", "AWS_DIRECTCONNECT_MAINTENANCE_SCHEDULED",
     "arn:aws:directconnect:{region}:{account}:dxcon/dxcon-{hex}"),
)
NOTIFICATIONS = (
    ("IAM", "AWS_IAM_OPERATIONAL_NOTIFICATION",
     "This is a reminder that IAM Access Analyzer now reports unused access for roles. No "
     "action is required."),
    ("S3", "AWS_S3_OPERATIONAL_NOTIFICATION",
     "Amazon S3 now shows bucket-level request metrics in the console. No action is "
     "required."),
    ("CLOUDFRONT", "AWS_CLOUDFRONT_OPERATIONAL_NOTIFICATION",
     "CloudFront access logs can now be delivered to additional destinations. This notice "
     "is for your information."),
)
BILLING = (
    ("BILLING", "AWS_BILLING_NOTIFICATION",
     "Starting {date}, AWS charges $0.005 per hour for each public IPv4 address, whether "
     "attached to a service or not. Review your public IPv4 usage to estimate the charge."),
    ("BILLING", "AWS_BILLING_PRICING_CHANGE",
     "The price of Amazon EC2 On-Demand Capacity Reservations in {region} changes on "
     "{date}; your bill will reflect the new pricing from then on."),
)
#: (control, title, ASFF resource type, resource id pattern, finding type)
FINDINGS = (
    ("S3.8", "S3 general purpose buckets should block public access", "AwsS3Bucket",
     "arn:aws:s3:::{name}-{hex}",
     "Software and Configuration Checks/AWS Security Best Practices/Effects-Data Exposure"),
    ("EC2.19", "Security groups should not allow unrestricted access to ports with high risk",
     "AwsEc2SecurityGroup", "arn:aws:ec2:{region}:{account}:security-group/sg-{hex}",
     "Software and Configuration Checks/AWS Security Best Practices"),
    ("EC2.6", "VPC flow logging should be enabled in all VPCs", "AwsEc2Vpc",
     "arn:aws:ec2:{region}:{account}:vpc/vpc-{hex}",
     "Software and Configuration Checks/AWS Security Best Practices"),
    ("IAM.4", "IAM root user access key should not exist", "AwsAccount", "AWS::::Account:{account}",
     "Software and Configuration Checks/AWS Security Best Practices"),
    ("RDS.3", "RDS DB instances should have encryption at-rest enabled", "AwsRdsDbInstance",
     "arn:aws:rds:{region}:{account}:db:{name}",
     "Software and Configuration Checks/AWS Security Best Practices"),
)
#: Security control checks fail with one of these labels (weights); INFORMATIONAL is for
#: passed checks, so only other products' findings use it.
CONTROL_LABELS = (("CRITICAL", 1), ("HIGH", 3), ("MEDIUM", 4), ("LOW", 2))
VULNERABILITY_LABELS = (("CRITICAL", 1), ("HIGH", 3), ("MEDIUM", 3), ("LOW", 2),
                        ("INFORMATIONAL", 1))
#: (CVE, package, description); the last sentence of some says it is exploited.
VULNERABILITIES = (
    ("CVE-2024-6387", "openssh", "A signal handler race condition in OpenSSH's server "
     "(sshd) may allow unauthenticated remote code execution as root."),
    ("CVE-2023-44487", "nghttp2", "The HTTP/2 protocol allows a denial of service (server "
     "resource consumption) because request cancellation can reset many streams quickly."),
    ("CVE-2024-3094", "xz-utils", "Malicious code was discovered in the upstream tarballs of "
     "xz, starting with version 5.6.0."),
    ("CVE-2023-4911", "glibc", "A buffer overflow was discovered in the GNU C Library's "
     "dynamic loader ld.so while processing the GLIBC_TUNABLES environment variable."),
)
EXPLOITED_NOTE = " This vulnerability is known to be actively exploited in the wild."
#: (alarm name, namespace, metric, dimension name, dimension value pattern)
ALARMS = (
    ("{name}-cpu-high", "AWS/EC2", "CPUUtilization", "InstanceId", "i-{hex}"),
    ("{name}-db-connections", "AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", "{name}"),
    ("{name}-errors", "AWS/Lambda", "Errors", "FunctionName", "{name}"),
)
NAMES = ("checkout", "orders", "payments", "catalog", "search", "ledger", "identity", "media")
COST_SERVICES = ("Amazon Elastic Compute Cloud - Compute", "Amazon Relational Database Service",
                 "AWS Lambda", "Amazon Simple Storage Service", "Amazon CloudWatch")
#: CloudFormation type of each resource pattern above, for ownership by type prefix.
RESOURCE_TYPES = {
    "arn:aws:eks:{region}:{account}:cluster/{name}": "AWS::EKS::Cluster",
    "arn:aws:rds:{region}:{account}:db:{name}": "AWS::RDS::DBInstance",
    "arn:aws:lambda:{region}:{account}:function:{name}": "AWS::Lambda::Function",
    "arn:aws:ec2:{region}:{account}:instance/i-{hex}": "AWS::EC2::Instance",
    "arn:aws:elasticloadbalancing:{region}:{account}:loadbalancer/app/{name}/{hex}":
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
    "arn:aws:ec2:{region}:{account}:vpc/vpc-{hex}": "AWS::EC2::VPC",
    "arn:aws:directconnect:{region}:{account}:dxcon/dxcon-{hex}": "AWS::DirectConnect::Connection",
    "arn:aws:ec2:{region}:{account}:security-group/sg-{hex}": "AWS::EC2::SecurityGroup",
    "arn:aws:s3:::{name}-{hex}": "AWS::S3::Bucket",
    "AWS::::Account:{account}": "AWS::Account",
}
