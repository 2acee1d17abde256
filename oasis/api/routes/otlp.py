"""`POST /v1/logs`, `/v1/metrics`, `/v1/traces`: the OTLP/HTTP receiver (docs/otlp.md).

Protobuf (`application/x-protobuf`, the SDKs' default) or JSON (`application/json`),
optionally gzip. 200 with an Export*ServiceResponse in the request's encoding (its
partial success counting what could not be used), 400 for a body that does not decode,
413 past `ingest.max_body_mb`, 415 for another content type or encoding, 429 with
Retry-After when every ingest slot is busy (`oasis.api.admission`); errors carry a
google.rpc.Status, as the specification asks.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from oasis.api.admission import IngestAdmission, IngestBusy
from oasis.api.body import BodyStream
from oasis.api.deps import AdmissionDep, SettingsDep
from oasis.ingest.otlp.receiver import OtlpReceiver
from oasis.ingest.otlp.wire import (
    CONTENT_TYPES,
    INVALID_ARGUMENT,
    JSON,
    PROTOBUF,
    Kind,
    WireError,
    decode,
    encode_response,
    encode_status,
    media_type,
)

router = APIRouter(tags=["otlp"])

# google.rpc.Code of a Status body for each HTTP status the receiver answers with.
_RPC_CODES = {400: INVALID_ARGUMENT, 413: 8, 415: INVALID_ARGUMENT,
              429: 8}  # 8: RESOURCE_EXHAUSTED


def get_receiver(request: Request) -> OtlpReceiver:
    return request.app.state.otlp


ReceiverDep = Annotated[OtlpReceiver, Depends(get_receiver)]


def _doc(kind: str, rejected: str) -> dict[str, Any]:
    body = {PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
            JSON: {"schema": {"type": "object"}}}
    return {
        "summary": f"OTLP/HTTP {kind} export",
        "responses": {
            200: {"description": f"Stored; `partialSuccess.{rejected}` counts what was "
                                 "not.", "content": body},
            400: {"description": "The body is not a valid export request."},
            413: {"description": "The body is larger than `ingest.max_body_mb`."},
            415: {"description": "Unsupported Content-Type or Content-Encoding."},
            429: {"description": "Every ingest slot is busy: retry after `Retry-After` "
                                 "seconds."},
        },
        "openapi_extra": {"requestBody": {"required": True, "content": body}},
        "response_class": Response,
    }


@router.post("/v1/logs", **_doc("logs", "rejectedLogRecords"))
async def export_logs(request: Request, receiver: ReceiverDep,
                      settings: SettingsDep, admission: AdmissionDep) -> Response:
    """OpenTelemetry log records as log lines of their resource's service."""
    return await _export("logs", request, receiver, settings.ingest.max_body_mb,
                         admission)


@router.post("/v1/metrics", **_doc("metrics", "rejectedDataPoints"))
async def export_metrics(request: Request, receiver: ReceiverDep,
                         settings: SettingsDep, admission: AdmissionDep) -> Response:
    """OpenTelemetry metrics as per-minute series the detectors read."""
    return await _export("metrics", request, receiver, settings.ingest.max_body_mb,
                         admission)


@router.post("/v1/traces", **_doc("traces", "rejectedSpans"))
async def export_traces(request: Request, receiver: ReceiverDep,
                        settings: SettingsDep, admission: AdmissionDep) -> Response:
    """Spans as request and error counts per service and minute, and call-graph edges."""
    return await _export("traces", request, receiver, settings.ingest.max_body_mb,
                         admission)


async def _export(kind: Kind, request: Request, receiver: OtlpReceiver,
                  max_body_mb: float, admission: IngestAdmission) -> Response:
    content_type = media_type(request.headers.get("content-type"))
    if content_type not in CONTENT_TYPES:
        return _status_response(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"unsupported Content-Type {content_type!r}: send {PROTOBUF} or {JSON}", JSON)
    try:
        async with admission.admit():
            return await _store(kind, request, receiver, max_body_mb, content_type)
    except IngestBusy as exc:
        return _status_response(exc.status, exc.message, content_type,
                                {"Retry-After": str(exc.retry_after_seconds)})


async def _store(kind: Kind, request: Request, receiver: OtlpReceiver, max_body_mb: float,
                 content_type: str) -> Response:
    try:
        body = await BodyStream(request, int(max_body_mb * 1024 * 1024)).read()
        message = await run_in_threadpool(decode, kind, body, content_type)
    except HTTPException as exc:
        return _status_response(exc.status_code, str(exc.detail), content_type)
    except WireError as exc:
        return _status_response(status.HTTP_400_BAD_REQUEST, str(exc), content_type)
    del body  # the decoded message is all that is needed from here on
    outcome = await run_in_threadpool(receiver.export, kind, message)
    metrics = request.app.state.services.metrics
    metrics.otlp_requests.labels(kind).inc()
    metrics.rejected.labels(f"otlp_{kind}").inc(outcome.rejected)
    return Response(encode_response(kind, outcome.rejected, outcome.message, content_type),
                    media_type=content_type)


def _status_response(code: int, message: str, content_type: str,
                     headers: dict[str, str] | None = None) -> Response:
    return Response(encode_status(_RPC_CODES.get(code, INVALID_ARGUMENT), message,
                                  content_type), status_code=code, media_type=content_type,
                    headers=headers)
