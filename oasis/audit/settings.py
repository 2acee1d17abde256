"""Audit settings: the key that signs the chain, where anchors go, where S3 exports go.

Set them under `audit:` in the YAML file or as `OASIS_AUDIT__...` variables. Cloud credentials
are never settings: boto3 finds them the usual way (AWS_* variables, ~/.aws, an instance
role), so they are neither written to config files nor printed with the settings. The audit
key is a secret: it is never shown with the settings and never stored in the database.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

KEY_FILE_NAME = "audit.keys"
ANCHORS_FILE_NAME = "audit-anchors.jsonl"


class AuditSettings(BaseModel):
    """The audit key, anchors, and off-site copies to S3 or any S3-compatible store."""

    model_config = ConfigDict(extra="forbid")

    key: SecretStr | None = Field(None, description=(
        "The current audit key itself (OASIS_AUDIT__KEY), e.g. from a secret store; at least "
        "32 characters (`openssl rand -hex 32`). Unset: the newest key in key_file. Retired "
        "keys are still read from key_file."))
    key_file: Path | None = Field(None, description=(
        "Keyring file: one `id: key` line per key, newest first, mode 0600; created on first "
        "use [default: DATA_DIR/audit.keys]. Keep it off the database host if you can."))
    anchors: str | None = Field(None, description=(
        "Where `oasis audit anchor` appends signed heads and `oasis audit verify` reads them: "
        "a file path or s3://bucket/prefix/ [default: DATA_DIR/audit-anchors.jsonl]. Point it "
        "at storage the database's users cannot rewrite."))
    anchor_interval_seconds: float = Field(0.0, ge=0, description=(
        "How often the server anchors the head; 0 turns periodic anchoring off."))
    s3_bucket: str | None = Field(None, description=(
        "Bucket exports are uploaded to; unset disables S3 export. Use a bucket with Object "
        "Lock (write once) so an export cannot be rewritten either."))
    s3_prefix: str = Field("oasis-audit/", description="Key prefix of exported objects.")
    s3_endpoint_url: str | None = Field(None, description=(
        "Endpoint of an S3-compatible store such as MinIO, e.g. http://minio:9000; "
        "unset uses AWS."))
    s3_region: str | None = Field(None, description=(
        "Region of the bucket; unset uses the AWS configuration's region."))

    def key_path(self, data_dir: Path) -> Path:
        """The keyring file: `key_file`, or `audit.keys` in the data dir."""
        return self.key_file or data_dir / KEY_FILE_NAME

    def anchors_target(self, data_dir: Path) -> str:
        """Where anchors go: `anchors`, or `audit-anchors.jsonl` in the data dir."""
        return self.anchors or str(data_dir / ANCHORS_FILE_NAME)
