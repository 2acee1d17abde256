"""The PagerDuty Events API v2, so any tool with a PagerDuty integration can send to OASIS.

    POST /v2/enqueue          alert events: trigger, acknowledge, resolve (by dedup_key)
    POST /v2/change/enqueue   change events: recorded as deployments for incident analysis

Answers are PagerDuty's: 202 `{"status": "success", "message": "Event processed",
"dedup_key": ...}`, 400 `{"status": "invalid event", "message": "Event object is invalid",
"errors": [...]}`. Credentials as for `/api/v1/events` (the responder role); the routing
key must also be a configured integration (`triage.pagerduty`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from oasis.api.deps import IngestorDep
from oasis.api.routes.actions import Responder
from oasis.api.routes.events import _body, _kit
from oasis.triage.pagerduty import INVALID

router = APIRouter(prefix="/v2", tags=["PagerDuty Events API v2"])
RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "Processed (PagerDuty's success body)"},
    400: {"description": "Invalid event: `errors` lists every problem"},
    413: {"description": "Body too large"},
    503: {"description": "Triage not configured"},
}
ALERT_EXAMPLE = {
    "routing_key": "0123456789abcdef0123456789abcdef",
    "event_action": "trigger",
    "dedup_key": "checkout-5xx",
    "payload": {
        "summary": "checkout 5xx above 5%",
        "source": "checkout-7f9c",
        "severity": "critical",
        "component": "checkout",
        "group": "shop",
        "class": "http-errors",
        "custom_details": {"environment": "production"},
    },
    "links": [{"href": "https://grafana.example.com/d/x", "text": "Dashboard"}],
}
CHANGE_EXAMPLE = {
    "routing_key": "0123456789abcdef0123456789abcdef",
    "payload": {
        "summary": "checkout 2.4.1 deployed",
        "source": "ci",
        "timestamp": "2024-03-01T11:40:00Z",
        "custom_details": {"service": "checkout", "version": "2.4.1"},
    },
}


async def _json(request: Request) -> tuple[Any, JSONResponse | None]:
    try:
        return await _body(request), None
    except HTTPException as exc:
        if exc.status_code != 422:
            raise
        return None, JSONResponse({**INVALID, "errors": [str(exc.detail)]}, status_code=400)


@router.post(
    "/enqueue",
    status_code=202,
    responses=RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}, "example": ALERT_EXAMPLE}
            },
        }
    },
)
async def enqueue(request: Request, _who: Responder) -> JSONResponse:
    """Send an alert event (or a JSON list of them: good ones kept, bad ones in `errors`)."""
    kit = _kit(request)
    body, refused = await _json(request)
    if refused is not None:
        return refused
    answer = await run_in_threadpool(kit.pagerduty.enqueue, body, datetime.now(UTC))
    return JSONResponse(answer.body, status_code=answer.status)


@router.post(
    "/change/enqueue",
    status_code=202,
    responses=RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}, "example": CHANGE_EXAMPLE}
            },
        }
    },
)
async def change_enqueue(request: Request, ingestor: IngestorDep, _who: Responder) -> JSONResponse:
    """Send a change event (a deploy, a config change): kept as a deployment record, so
    an incident that starts soon after names it as the suspected change."""
    kit = _kit(request)
    body, refused = await _json(request)
    if refused is not None:
        return refused
    answer, record = kit.pagerduty.change(body, datetime.now(UTC))
    if record is not None:
        report = await run_in_threadpool(ingestor.ingest_values, [record], source="pagerduty")
        if report.rejected:
            reasons = [e.reason for e in report.errors] or ["the change could not be stored"]
            return JSONResponse({**INVALID, "errors": reasons}, status_code=400)
    return JSONResponse(answer.body, status_code=answer.status)
