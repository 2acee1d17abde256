"""Recognise an operational event payload and turn it into `OpsEvent`s.

Senders wrap the same event differently: EventBridge puts it under `detail`, a PutEvents
entry (as the OHERO test files are written) carries it as a JSON string in `Detail`, SNS
carries it as a JSON string in `Message`, and some send the bare object. `parse_event`
peels the wrapper, recognises the event by its fields, and hands it to its source's
parser (`oasis.triage.sources`). Anything it cannot read is an `EventFormatError` that
names the field, never a KeyError from deep inside.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from oasis.signals.parse import json_kind
from oasis.triage.model import EventFormatError, OpsEvent
from oasis.triage.sources.alertmanager import looks_like_alertmanager, parse_webhook
from oasis.triage.sources.cloudwatch import (
    looks_like_alarm_detail,
    looks_like_alarm_notification,
    parse_alarm_event,
    parse_alarm_notification,
)
from oasis.triage.sources.cost import looks_like_anomaly, parse_anomaly
from oasis.triage.sources.fields import Fields, decode_json, each_kept, format_error
from oasis.triage.sources.health import looks_like_health, parse_health
from oasis.triage.sources.report import looks_like_report, parse_report
from oasis.triage.sources.securityhub import looks_like_finding, parse_finding, parse_findings

__all__ = ["EventFormatError", "ParsedBatch", "parse_batch", "parse_event", "parse_events"]

HEALTH = "AWS Health Event"
FINDINGS = ("Security Hub Findings - Imported", "Security Hub Findings - Custom Action")
ALARM = "CloudWatch Alarm State Change"
ANOMALY = "Anomaly Detected"
KNOWN_DETAIL_TYPES = (HEALTH, *FINDINGS, ALARM, ANOMALY)
#: A wrapper inside a wrapper is normal (SNS carrying EventBridge); deeper is not.
MAX_NESTING = 3


@dataclass
class ParsedBatch:
    """What a body held: the events that could be read, and why the others could not."""

    events: list[OpsEvent] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def parse_event(payload: dict[str, Any], *, received_at: datetime,
                rejected: list[str] | None = None) -> list[OpsEvent]:
    """The OpsEvents in one payload (several for finding batches and alert groups).

    `received_at` (aware) stands in for sources that carry no update time of their own.
    Raises EventFormatError naming the field for anything unreadable; with a `rejected`
    list, a bad alert of a group or finding of a batch goes there and the rest are kept.
    """
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    if not isinstance(payload, dict):
        raise EventFormatError(f"payload: expected a JSON object, got {json_kind(payload)}")
    try:
        return _parse(payload, payload, received_at, depth=0, rejected=rejected)
    except ValidationError as exc:  # a value our checks let through but the model refuses
        raise format_error(exc) from None


def parse_batch(payload: Any, *, received_at: datetime) -> ParsedBatch:
    """Like `parse_events`, keeping every event that can be read: a bad item of a list,
    alert of a group or finding of a batch is reported in `rejected` (by its place and
    why) instead of refusing the whole body."""
    batch = ParsedBatch()
    listed = isinstance(payload, list) or (
        isinstance(payload, dict) and isinstance(payload.get("Entries"), list))
    items = (payload["Entries"] if isinstance(payload, dict) else payload) if listed \
        else [payload]

    def one(index: int, item: Any) -> list[OpsEvent]:
        inside: list[str] = []
        try:
            return parse_event(item, received_at=received_at, rejected=inside)
        finally:
            batch.rejected += [f"item {index}: {r}" if listed else r for r in inside]

    batch.events = each_kept(items, one, batch.rejected,
                             label=(lambda i: f"item {i}") if listed else None)
    return batch


def parse_events(payload: Any, *, received_at: datetime) -> list[OpsEvent]:
    """Like `parse_event`, also taking a list of payloads or a PutEvents request
    (`{"Entries": [...]}`), as event files are often written. Errors name the item."""
    if isinstance(payload, dict) and isinstance(payload.get("Entries"), list):
        payload = payload["Entries"]
    if not isinstance(payload, list):
        return parse_event(payload, received_at=received_at)
    events: list[OpsEvent] = []
    for i, item in enumerate(payload):
        try:
            events.extend(parse_event(item, received_at=received_at))
        except EventFormatError as exc:
            raise EventFormatError(f"item {i}: {exc}") from None
    return events


def _parse(data: dict[str, Any], raw: dict[str, Any], received_at: datetime, *,
           depth: int, rejected: list[str] | None) -> list[OpsEvent]:
    if depth > MAX_NESTING:
        raise EventFormatError("payload: wrappers nested too deeply")
    if data.get("Type") == "Notification" and "Message" in data:  # SNS
        message = Fields(data, "").req("Message")
        inner = decode_json(message, "Message")
        if not isinstance(inner, dict):
            raise EventFormatError(f"Message: expected a JSON object, got {json_kind(inner)}")
        return _parse(inner, raw, received_at, depth=depth + 1, rejected=rejected)
    if "detail-type" in data:
        return _eventbridge(Fields(data, ""), raw, received_at, top=data is raw,
                            rejected=rejected)
    if "DetailType" in data and "Detail" in data:
        return _put_events_entry(Fields(data, ""), raw, received_at, rejected=rejected)
    return _bare(data, raw, received_at, rejected)


def _eventbridge(envelope: Fields, raw: dict[str, Any], received_at: datetime, *,
                 top: bool, rejected: list[str] | None) -> list[OpsEvent]:
    detail_type = envelope.req("detail-type")
    detail = envelope.obj("detail", required=True)
    narrow = (lambda i: _narrow(raw, ("detail",), i)) if top else None
    return _by_detail_type(detail_type, "detail-type", envelope, detail, raw, received_at,
                           narrow=narrow, rejected=rejected)


def _put_events_entry(entry: Fields, raw: dict[str, Any], received_at: datetime, *,
                      rejected: list[str] | None) -> list[OpsEvent]:
    """`aws events put-events` entries: {"Source", "DetailType", "Detail": "<json>"}."""
    detail_type = entry.req("DetailType")
    value = entry.data["Detail"]
    if isinstance(value, str):
        value = decode_json(value, "Detail")
    detail = Fields(value, "Detail")
    # The envelope fields CloudWatch needs, under their EventBridge names.
    envelope = Fields({"resources": entry.data.get("Resources"),
                       "account": entry.data.get("Account"),
                       "region": entry.data.get("Region")}, "")
    return _by_detail_type(detail_type, "DetailType", envelope, detail, raw, received_at,
                           narrow=None, rejected=rejected)


def _by_detail_type(detail_type: str, field: str, envelope: Fields, detail: Fields,
                    raw: dict[str, Any], received_at: datetime,
                    narrow: Callable[[int], dict[str, Any]] | None,
                    rejected: list[str] | None) -> list[OpsEvent]:
    if detail_type == HEALTH:
        return [parse_health(detail, raw, envelope_account=envelope.text("account"))]
    if detail_type in FINDINGS:
        return parse_findings(detail, raw, wrap=narrow, rejected=rejected)
    if detail_type == ALARM:
        return [parse_alarm_event(envelope, detail, raw)]
    if detail_type == ANOMALY:
        return [parse_anomaly(detail, raw, received_at=received_at)]
    raise EventFormatError(
        f"{field}: {detail_type!r} is not an event type OASIS reads (expected one of: "
        f"{', '.join(repr(t) for t in KNOWN_DETAIL_TYPES)})")


def _bare(data: dict[str, Any], raw: dict[str, Any], received_at: datetime,
          rejected: list[str] | None) -> list[OpsEvent]:
    """An event object sent without a wrapper, recognised by the fields it must have."""
    fields = Fields(data, "")
    if looks_like_report(data):
        return [parse_report(fields, raw, received_at=received_at)]
    if looks_like_health(data):
        return [parse_health(fields, raw)]
    if looks_like_finding(data):
        return [parse_finding(fields, raw)]
    if "findings" in data:
        narrow = (lambda i: _narrow(raw, (), i)) if data is raw else None
        return parse_findings(fields, raw, wrap=narrow, rejected=rejected)
    if looks_like_alertmanager(data):
        return parse_webhook(fields, raw, received_at=received_at, rejected=rejected)
    if looks_like_alarm_notification(data):
        return [parse_alarm_notification(fields, raw)]
    if looks_like_anomaly(data):
        return [parse_anomaly(fields, raw, received_at=received_at)]
    if looks_like_alarm_detail(data):
        raise EventFormatError(
            "payload: a CloudWatch alarm detail without its EventBridge envelope; send the "
            "whole event (the alarm ARN is in its 'resources')")
    if "type" in data:
        raise EventFormatError(f"type: {data['type']!r} is not known (a user report has "
                               "\"type\": \"report\")")
    raise EventFormatError(
        "payload: not a recognised event (expected an AWS Health event, a Security Hub "
        "finding, a CloudWatch alarm state change, an Alertmanager webhook, a cost anomaly "
        "or a user report; keys seen: " + ", ".join(sorted(map(str, data))[:10]) + ")")


def _narrow(raw: dict[str, Any], path: tuple[str, ...], index: int) -> dict[str, Any]:
    """`raw` with its findings list cut down to finding `index`: each event keeps its own
    envelope without carrying every other finding of the batch."""
    out = copy.copy(raw)
    holder = out
    for name in path:
        holder[name] = copy.copy(holder[name])
        holder = holder[name]
    holder["findings"] = [holder["findings"][index]]
    return out
