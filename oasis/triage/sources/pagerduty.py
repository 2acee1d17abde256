"""PagerDuty Events API v2 bodies: alert events (`/v2/enqueue`) and change events.

Any tool with a PagerDuty integration (Alertmanager `pagerduty_configs`, Grafana,
CloudWatch through SNS, Datadog) can point at OASIS. An alert event is keyed by its
integration and `dedup_key`, as PagerDuty scopes it, so a second trigger with the same
key is the same event and `acknowledge` / `resolve` find it. Problems are collected as
PagerDuty words them (a list of `errors`), not stopped at the first.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from oasis.signals.parse import json_kind
from oasis.triage.model import EventFormatError, OpsEvent, Resource
from oasis.triage.sources.fields import is_account_id, parse_time

Action = Literal["trigger", "acknowledge", "resolve"]
ACTIONS: tuple[Action, ...] = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
ROUTING_KEY_LENGTH = 32
MAX_DEDUP_KEY = 255
MAX_SUMMARY = 1024


class PagerDutyInvalid(EventFormatError):
    """A body PagerDuty would refuse; `errors` lists every problem, in its words."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class AlertCommand:
    """What one alert event asks: trigger (with its event), acknowledge or resolve."""

    action: Action
    routing_key: str
    dedup_key: str
    event: OpsEvent | None = None  # for trigger


def routing_key_of(body: Any) -> str | None:
    value = body.get("routing_key") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def parse_alert_event(
    body: Any, *, integration: str, extra_labels: dict[str, str], received_at: datetime
) -> AlertCommand:
    """One `/v2/enqueue` body; raises PagerDutyInvalid listing every problem."""
    if not isinstance(body, dict):
        raise PagerDutyInvalid([f"Event object must be a JSON object, not {json_kind(body)}"])
    errors: list[str] = []
    _check_routing_key(body, errors)
    action = body.get("event_action")
    if not isinstance(action, str) or not action.strip():
        errors.append("'event_action' is missing or blank")
    elif action not in ACTIONS:
        errors.append(f"'event_action' is invalid (must be one of {', '.join(ACTIONS)})")
    dedup = body.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > MAX_DEDUP_KEY):
        errors.append(f"'dedup_key' must be a string of at most {MAX_DEDUP_KEY} characters")
        dedup = None
    if action in ("acknowledge", "resolve") and not dedup:
        errors.append(f"'dedup_key' is required for event_action {action}")
    payload = body.get("payload")
    if action == "trigger":
        _check_payload(payload, errors)
    for name in ("links", "images"):
        if body.get(name) is not None and not isinstance(body[name], list):
            errors.append(f"'{name}' must be a list")
    if errors:
        raise PagerDutyInvalid(errors)
    if action != "trigger":
        return AlertCommand(action, body["routing_key"], dedup)
    dedup = dedup or uuid.uuid4().hex  # PagerDuty makes one up too, and returns it
    event = _trigger_event(body, payload, dedup, integration, extra_labels, received_at)
    return AlertCommand("trigger", body["routing_key"], dedup, event)


def alert_key(integration: str, dedup_key: str) -> str:
    return f"pagerduty:{integration}:{dedup_key}"


def content_digest(event: OpsEvent) -> str:
    """What a repeated trigger must repeat to be "the same" (its time aside)."""
    raw = {k: v for k, v in event.raw.items() if k != "routing_key"}
    payload = dict(raw.get("payload") or {})
    payload.pop("timestamp", None)
    raw["payload"] = payload
    return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()


def parse_change_event(body: Any, *, integration: str, received_at: datetime) -> dict[str, Any]:
    """A `/v2/change/enqueue` body as a deployment record (oasis.signals), so incident
    analysis can suspect it like any deployment."""
    if not isinstance(body, dict):
        raise PagerDutyInvalid([f"Event object must be a JSON object, not {json_kind(body)}"])
    errors: list[str] = []
    _check_routing_key(body, errors)
    payload = body.get("payload")
    if not isinstance(payload, dict):
        errors.append("'payload' is missing or not an object")
        raise PagerDutyInvalid(errors)
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        errors.append("'payload.summary' is missing or blank")
    details = payload.get("custom_details") or {}
    if not isinstance(details, dict):
        errors.append("'payload.custom_details' must be an object")
        details = {}
    when = _timestamp(payload, errors) or received_at
    if errors:
        raise PagerDutyInvalid(errors)
    service = (
        _first_text(details, "service", "app", "application")
        or _text(payload.get("source"))
        or integration
    )
    version = (
        _first_text(details, "version", "revision", "commit", "sha", "tag")
        or f"change-{hashlib.sha256(summary.encode()).hexdigest()[:12]}"
    )
    links = [
        link.get("href")
        for link in body.get("links") or []
        if isinstance(link, dict) and isinstance(link.get("href"), str)
    ]
    identity = json.dumps([integration, service, version, when.isoformat(), summary])
    return {
        "type": "deployment",
        "timestamp": when.isoformat(),
        "service": service,
        "version": version,
        "description": summary,
        "previous_version": _first_text(details, "previous_version"),
        "author": _first_text(details, "author", "user", "deployer"),
        "id": "pagerduty-change:" + hashlib.sha256(identity.encode()).hexdigest()[:24],
        "source": f"pagerduty:{integration}",
        "links": links,
    }


def _check_routing_key(body: dict[str, Any], errors: list[str]) -> None:
    key = body.get("routing_key")
    if not isinstance(key, str) or not key:
        errors.append("'routing_key' is missing or blank")
    elif len(key) != ROUTING_KEY_LENGTH:
        errors.append(
            f"Length of 'routing_key' is incorrect (should be {ROUTING_KEY_LENGTH} characters)"
        )


def _check_payload(payload: Any, errors: list[str]) -> None:
    if not isinstance(payload, dict):
        errors.append("'payload' is missing or not an object")
        return
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        errors.append("'payload.summary' is missing or blank")
    elif len(summary) > MAX_SUMMARY:
        errors.append(f"'payload.summary' is longer than {MAX_SUMMARY} characters")
    source = payload.get("source")
    if not isinstance(source, str) or not source.strip():
        errors.append("'payload.source' is missing or blank")
    severity = payload.get("severity")
    if not isinstance(severity, str) or not severity.strip():
        errors.append("'payload.severity' is missing or blank")
    elif severity not in SEVERITIES:
        errors.append(f"'payload.severity' is invalid (must be one of {', '.join(SEVERITIES)})")
    for name in ("component", "group", "class"):
        if payload.get(name) is not None and not isinstance(payload[name], str):
            errors.append(f"'payload.{name}' must be a string")
    details = payload.get("custom_details")
    if details is not None and not isinstance(details, (dict, str)):
        errors.append("'payload.custom_details' must be an object or a string")
    _timestamp(payload, errors)


def _timestamp(payload: dict[str, Any], errors: list[str]) -> datetime | None:
    value = payload.get("timestamp")
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append("'payload.timestamp' must be an ISO 8601 string")
        return None
    try:
        return parse_time(value, "payload.timestamp")
    except EventFormatError as exc:
        errors.append(f"'payload.timestamp' is invalid: {exc}")
        return None


def _trigger_event(
    body: dict[str, Any],
    payload: dict[str, Any],
    dedup: str,
    integration: str,
    extra_labels: dict[str, str],
    received_at: datetime,
) -> OpsEvent:
    details = payload.get("custom_details")
    detail_map = details if isinstance(details, dict) else {}
    labels = {
        k: v if isinstance(v, str) else json.dumps(v)
        for k, v in detail_map.items()
        if isinstance(v, (str, int, float, bool))
    }
    facts = {
        name: payload[name]
        for name in ("source", "component", "group", "class")
        if isinstance(payload.get(name), str)
    }
    labels.update(facts)
    labels.update(
        {
            f"link.{i}": link["href"]
            for i, link in enumerate(body.get("links") or [])
            if isinstance(link, dict) and isinstance(link.get("href"), str)
        }
    )
    labels.update(
        {
            f"image.{i}": image["src"]
            for i, image in enumerate(body.get("images") or [])
            if isinstance(image, dict) and isinstance(image.get("src"), str)
        }
    )
    for name in ("client", "client_url"):
        if isinstance(body.get(name), str):
            labels[name] = body[name]
    labels.update(extra_labels)  # the integration's own labels (team) are not the sender's
    labels["integration"] = integration
    account = _first_text(detail_map, "account_id", "aws_account_id", "account")
    started = _timestamp(payload, []) or received_at
    text = (
        details
        if isinstance(details, str)
        else "\n".join(
            f"{k}: {v if isinstance(v, str) else json.dumps(v)}" for k, v in detail_map.items()
        )
    )
    summary = " ".join(payload["summary"].split())
    return OpsEvent(
        key=alert_key(integration, dedup),
        source="pagerduty",
        category="alarm",
        title=summary,
        description=f"{summary}\n\n{text}".strip(),
        service=facts.get("component"),
        event_type=facts.get("class") or "pagerduty",
        region=_first_text(detail_map, "region", "aws_region"),
        status="firing",
        scope=None,
        severity_label=payload["severity"],
        accounts=[account] if account and is_account_id(account) else [],
        resources=[Resource(id=payload["source"])],
        start_time=started,
        end_time=None,
        last_updated=received_at,
        labels=labels,
        raw=body,
    )


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _first_text(data: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = data.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if _text(value):
            return _text(value)
    return None
