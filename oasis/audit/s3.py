"""Uploading an export to S3 or an S3-compatible store (MinIO, Ceph, ...).

boto3 is the optional `s3` extra, imported only here and only when an upload is asked for.
Credentials come from boto3's own chain; nothing here reads, stores or prints them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oasis.audit.chain import AuditError
from oasis.audit.settings import AuditSettings

CONTENT_TYPE = "application/x-ndjson"


def object_key(prefix: str, first_seq: int, last_seq: int, at: datetime) -> str:
    """`<prefix>/audit-<first>-<last>-<UTC time>.jsonl`: sorted by time within a prefix."""
    stamp = at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = prefix.strip("/")
    return f"{folder + '/' if folder else ''}audit-{first_seq}-{last_seq}-{stamp}.jsonl"


def upload(settings: AuditSettings, path: Path, key: str, metadata: dict[str, str]) -> str:
    """Put the file at `path` under `key` in the configured bucket; returns its s3:// URI."""
    if not settings.s3_bucket:
        raise AuditError("S3 export is not configured: set audit.s3_bucket "
                         "(OASIS_AUDIT__S3_BUCKET)")
    client = _client(settings)
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.upload_file(str(path), settings.s3_bucket, key,
                           ExtraArgs={"ContentType": CONTENT_TYPE, "Metadata": metadata})
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise AuditError(f"S3 refused the upload to bucket {settings.s3_bucket!r}: "
                         f"{error.get('Code', '?')} {error.get('Message', '')}".rstrip()) from None
    except (BotoCoreError, Boto3Error) as exc:  # no credentials, unreachable, refused
        raise AuditError(f"S3 upload to bucket {settings.s3_bucket!r} failed: {exc}") from None
    return f"s3://{settings.s3_bucket}/{key}"


def _client(settings: AuditSettings) -> Any:
    try:
        import boto3
    except ImportError:
        raise AuditError("S3 export needs boto3: pip install 'oasis[s3]'") from None
    from botocore.exceptions import BotoCoreError

    try:
        return boto3.client("s3", endpoint_url=settings.s3_endpoint_url,
                            region_name=settings.s3_region)
    except (BotoCoreError, ValueError) as exc:  # e.g. a malformed endpoint URL
        raise AuditError(f"cannot create an S3 client: {exc}") from None
