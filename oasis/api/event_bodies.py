"""The OpenAPI description of `POST /api/v1/events`'s body.

The route reads its body itself (size cap first, then any of several provider shapes), so
FastAPI cannot infer a schema; this declares what it accepts for /docs and client tools.
"""

from __future__ import annotations

from typing import Any

_ONE_EVENT: dict[str, Any] = {
    "type": "object",
    "description": (
        "One event as its source sends it: an AWS Health event, a Security Hub finding "
        "(ASFF), a CloudWatch alarm state change, an Alertmanager webhook, a cost anomaly, "
        "raw or wrapped in an EventBridge envelope (`detail-type`, `detail`)."
    ),
    "additionalProperties": True,
}

EVENTS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "One event, or a JSON list of them.",
        "content": {
            "application/json": {
                "schema": {"oneOf": [_ONE_EVENT, {"type": "array", "items": _ONE_EVENT}]},
                "examples": {
                    "alertmanager": {
                        "summary": "Alertmanager webhook",
                        "value": {
                            "version": "4",
                            "status": "firing",
                            "receiver": "oasis",
                            "groupKey": '{}:{alertname="HighErrorRate"}',
                            "alerts": [
                                {
                                    "status": "firing",
                                    "fingerprint": "c0ffee",
                                    "labels": {
                                        "alertname": "HighErrorRate",
                                        "severity": "critical",
                                        "service": "checkout",
                                    },
                                    "annotations": {"summary": "5xx above 5%"},
                                    "startsAt": "2026-11-23T09:41:00Z",
                                }
                            ],
                        },
                    },
                },
            }
        },
    },
}
