"""S3 or an S3-compatible store (MinIO, Ceph, ...): uploading exports, writing and reading
anchors.

boto3 is the optional `s3` extra, imported only here and only when S3 is used. Credentials
come from boto3's own chain; nothing here reads, stores or prints them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
    with _errors(settings.s3_bucket, "the upload to"):
        client.upload_file(str(path), settings.s3_bucket, key,
                           ExtraArgs={"ContentType": CONTENT_TYPE, "Metadata": metadata})
    return f"s3://{settings.s3_bucket}/{key}"


def put_text(settings: AuditSettings, bucket: str, key: str, text: str) -> str:
    """Write one new object (an anchor); returns its s3:// URI. Endpoint and region come
    from `settings`, the bucket from the anchors URI."""
    client = _client(settings)
    with _errors(bucket, "writing to"):
        client.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"),
                          ContentType="application/json")
    return f"s3://{bucket}/{key}"


def read_texts(settings: AuditSettings, bucket: str, prefix: str) -> list[tuple[str, str]]:
    """(key, text) of every object under `prefix`, sorted by key."""
    client = _client(settings)
    found: list[tuple[str, str]] = []
    with _errors(bucket, "reading from"):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                      Prefix=prefix):
            for item in page.get("Contents", []):
                body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                found.append((item["Key"], body.decode("utf-8", errors="replace")))
    return sorted(found)


@contextmanager
def _errors(bucket: str, doing: str) -> Iterator[None]:
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise AuditError(f"S3 refused {doing} bucket {bucket!r}: "
                         f"{error.get('Code', '?')} {error.get('Message', '')}".rstrip()) from None
    except (BotoCoreError, Boto3Error) as exc:  # no credentials, unreachable, refused
        raise AuditError(f"S3: {doing} bucket {bucket!r} failed: {exc}") from None


def _client(settings: AuditSettings) -> Any:
    try:
        import boto3
    except ImportError:
        raise AuditError("S3 needs boto3: pip install 'oasis[s3]'") from None
    from botocore.exceptions import BotoCoreError

    try:
        return boto3.client("s3", endpoint_url=settings.s3_endpoint_url,
                            region_name=settings.s3_region)
    except (BotoCoreError, ValueError) as exc:  # e.g. a malformed endpoint URL
        raise AuditError(f"cannot create an S3 client: {exc}") from None
