"""`POST /api/v1/signals`: NDJSON or a JSON array of log, metric and deployment records."""

from __future__ import annotations

import zlib
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter

from oasis.api.deps import IngestorDep, ServicesDep, SettingsDep
from oasis.api.schemas import IngestResponse, Problem
from oasis.signals import DeploymentRecord, LogRecord, MetricRecord

router = APIRouter(prefix="/api/v1", tags=["signals"])

_ACCEPTED_TYPES = ("application/x-ndjson", "application/ndjson", "application/json",
                   "application/jsonl", "text/plain", "")


def _record_schema() -> dict[str, Any]:
    """The JSON schema of one record, with its `$defs` inlined so it stands alone in OpenAPI."""
    schema = TypeAdapter(LogRecord | MetricRecord | DeploymentRecord).json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return inline(schema)


@router.post(
    "/signals",
    response_model=IngestResponse,
    responses={
        400: {"model": Problem, "description": "The body cannot be read as records at all."},
        413: {"model": Problem, "description": "The body is larger than `ingest.max_body_mb`."},
        415: {"model": Problem, "description": "Unsupported Content-Type or Content-Encoding."},
        422: {"model": IngestResponse, "description": "Every record in the body was rejected."},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "One record per line (NDJSON), or a JSON array of records. "
            "Gzip with `Content-Encoding: gzip`. See docs/signals.md.",
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "array", "items": _record_schema()}},
            },
        }
    },
)
async def post_signals(
    request: Request, ingestor: IngestorDep, settings: SettingsDep, services: ServicesDep
) -> Any:
    """Store signals. Good records are kept even when others in the batch are refused."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _ACCEPTED_TYPES:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"unsupported Content-Type {content_type!r}: send application/x-ndjson "
            "or application/json",
        )
    limit = int(settings.ingest.max_body_mb * 1024 * 1024)
    body = await read_body(request, limit)
    report = await run_in_threadpool(ingestor.ingest_body, body)  # BodyError: 400
    services.metrics.records("signals", accepted=report.accepted, rejected=report.rejected,
                             duplicates=report.duplicates)
    payload = report.as_dict()
    if report.rejected and not (report.accepted or report.duplicates):
        return JSONResponse(payload, status_code=422)
    return payload


async def read_body(request: Request, limit: int) -> bytes:
    too_large = HTTPException(
        413, f"body is larger than {limit} bytes"
    )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("identity", ""):
        return body
    if encoding != "gzip":
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"unsupported Content-Encoding {encoding!r}: use gzip or none",
        )
    # Decompress with a cap, so a small gzip bomb cannot exhaust memory.
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"body is not valid gzip: {exc}") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise too_large
    return data


