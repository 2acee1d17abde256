"""`POST /api/v1/signals`: NDJSON or a JSON array of log, metric and deployment records."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter

from oasis.api.body import BodyStream
from oasis.api.deps import AdmissionDep, IngestorDep, ServicesDep, SettingsDep
from oasis.api.schemas import IngestResponse, Problem
from oasis.ingest import Ingestor, IngestReport
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
        429: {"model": Problem, "description": "Every ingest slot is busy "
              "(`ingest.max_concurrent_requests`): retry after `Retry-After` seconds."},
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
    request: Request, ingestor: IngestorDep, settings: SettingsDep, services: ServicesDep,
    admission: AdmissionDep,
) -> Any:
    """Store signals. Good records are kept even when others in the batch are refused."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _ACCEPTED_TYPES:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"unsupported Content-Type {content_type!r}: send application/x-ndjson "
            "or application/json",
        )
    async with admission.admit():  # IngestBusy: 429 with Retry-After, before the body is read
        body = BodyStream(request, int(settings.ingest.max_body_mb * 1024 * 1024))
        try:
            report = await ingest_stream(body, ingestor)  # BodyError: 400
        finally:
            admission.note_held(body.max_held_bytes)
    services.metrics.records("signals", accepted=report.accepted, rejected=report.rejected,
                             duplicates=report.duplicates)
    payload = report.as_dict()
    if report.rejected and not (report.accepted or report.duplicates):
        return JSONResponse(payload, status_code=422)
    return payload


async def ingest_stream(body: BodyStream, ingestor: Ingestor) -> IngestReport:
    """Store NDJSON block by block as it arrives; a JSON array is read whole first.

    A request that fails part-way (413, broken gzip, the sender gone) may have stored the
    blocks before that point: records with an `id` are not stored twice when sent again.
    """
    blocks = body.line_blocks()
    block = await anext(blocks, b"")
    if block.lstrip()[:1] == b"[":
        whole = block + b"".join([rest async for rest in blocks])
        body.max_held_bytes = len(whole)
        return await run_in_threadpool(ingestor.ingest_body, whole)
    total = IngestReport()
    first_line = 1
    while block:
        report = await run_in_threadpool(
            partial(ingestor.ingest_ndjson, block, first_line=first_line))
        total.merge(report, max_errors=ingestor.max_errors)
        first_line += block.count(b"\n")
        block = await anext(blocks, b"")
    return total
