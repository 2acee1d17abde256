"""Audit settings: where `oasis audit export --s3` writes.

Set them under `audit:` in the YAML file or as `OASIS_AUDIT__...` variables. Credentials are
never settings: boto3 finds them the usual way (AWS_* variables, ~/.aws, an instance role),
so they are neither written to config files nor printed with the settings.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AuditSettings(BaseModel):
    """Off-site copies of the audit trail, to S3 or any S3-compatible store."""

    model_config = ConfigDict(extra="forbid")

    s3_bucket: str | None = Field(None, description=(
        "Bucket exports are uploaded to; unset disables S3 export. Use a bucket with Object "
        "Lock (write once) so an export cannot be rewritten either."))
    s3_prefix: str = Field("oasis-audit/", description="Key prefix of exported objects.")
    s3_endpoint_url: str | None = Field(None, description=(
        "Endpoint of an S3-compatible store such as MinIO, e.g. http://minio:9000; "
        "unset uses AWS."))
    s3_region: str | None = Field(None, description=(
        "Region of the bucket; unset uses the AWS configuration's region."))
