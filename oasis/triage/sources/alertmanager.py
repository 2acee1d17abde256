"""Prometheus Alertmanager webhooks (payload version 4): one OpsEvent per alert.

Keyed by the alert's fingerprint (its label set), not the group: a group carries several
alerts, and each must be acknowledged and ticketed on its own. When a sender leaves the
fingerprint out, one is computed from the labels, so repeats still meet.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from oasis.triage.model import EventFormatError, OpsEvent, Resource
from oasis.triage.sources.fields import Fields, each_kept, is_account_id

#: Alertmanager writes Go's zero time for "not ended" on firing alerts.
_ZERO_TIME = "0001-01-01T00:00:00"


def looks_like_alertmanager(data: dict[str, Any]) -> bool:
    return "alerts" in data and ("version" in data or "groupKey" in data)


def parse_webhook(payload: Fields, raw: dict[str, Any], *, received_at: datetime,
                  rejected: list[str] | None = None) -> list[OpsEvent]:
    """One event per alert; with `rejected`, a malformed alert is reported there and the
    group's other alerts are kept."""
    version = payload.scalar("version")
    if version != "4":
        raise EventFormatError(
            f"{payload.where('version')}: Alertmanager webhook version {version!r} is not "
            "supported (expected \"4\")")
    alerts = payload.objects("alerts", required=True)
    if not alerts:
        raise EventFormatError(f"{payload.where('alerts')}: the list is empty; "
                               "expected at least one alert")
    common = payload.string_map("commonLabels")
    return each_kept(alerts, lambda _, a: [_alert(a, payload, common, raw, received_at)],
                     rejected, label=lambda i: payload.where(f"alerts[{i}]"))


def _alert(alert: Fields, payload: Fields, common: dict[str, str], raw: dict[str, Any],
           received_at: datetime) -> OpsEvent:
    labels = {**common, **alert.string_map("labels")}
    name = labels.get("alertname")
    if not name:
        raise EventFormatError(f"{alert.where('labels')}.alertname: required field is missing")
    annotations = alert.string_map("annotations")
    status = alert.text("status") or payload.text("status")
    if status not in ("firing", "resolved"):
        raise EventFormatError(f"{alert.where('status')}: expected 'firing' or 'resolved', "
                               f"got {status!r}")
    starts = _time(alert, "startsAt")
    ends = _time(alert, "endsAt")
    # A resolved alert changed when it ended; a firing one when it started firing again.
    updated = (ends if status == "resolved" else starts) or starts or received_at
    fingerprint = alert.text("fingerprint") or _fingerprint(labels)
    account = labels.get("account_id") or labels.get("aws_account_id") or labels.get("account")
    region = labels.get("region") or labels.get("aws_region")
    summary = annotations.get("summary") or annotations.get("title") or name
    extra = {f"annotation.{k}": v for k, v in annotations.items()}
    for extra_name, value in (("generatorURL", alert.text("generatorURL")),
                              ("externalURL", payload.text("externalURL"))):
        if value:
            extra[extra_name] = value
    instance = labels.get("instance") or labels.get("pod")
    return OpsEvent(
        key=f"alertmanager:{fingerprint}", source="alertmanager", category="alarm",
        title=" ".join(summary.split()),
        description=annotations.get("description") or annotations.get("message") or summary,
        service=labels.get("service") or labels.get("job"), event_type=name, region=region,
        status=status, scope=None, severity_label=labels.get("severity"),
        accounts=[account] if account and is_account_id(account) else [],
        resources=[Resource(id=instance, region=region)] if instance else [],
        start_time=starts, end_time=ends if status == "resolved" else None,
        last_updated=updated, labels={**labels, **extra}, raw=raw,
    )


def _time(alert: Fields, name: str) -> datetime | None:
    text = alert.text(name)
    if text is None or text.startswith(_ZERO_TIME):
        return None
    return alert.time(name)


def _fingerprint(labels: dict[str, str]) -> str:
    text = "\xff".join(f"{k}\xff{labels[k]}" for k in sorted(labels))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
