"""OASIS as a PagerDuty Events API v2 endpoint: what each event does to events and tickets.

- trigger: an event (`sources/pagerduty.py`) through the normal flow. A repeat of a
  trigger that is still open changes nothing (PagerDuty dedups it); a trigger after a
  resolve fires the event again, reopening its tickets (lifecycle.py).
- acknowledge: the event's New tickets move to Acknowledged, by the integration.
- resolve: the event resolves, closing its tickets; an unknown or already resolved
  dedup_key is accepted and does nothing, as PagerDuty does.
- change events become deployment records: the analyst's suspected changes.

A routing key must be one of `triage.pagerduty` (compared in constant time); it names
the integration, whose team and labels every event carries.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from oasis.triage.flow import TriageFlow
from oasis.triage.lifecycle import was_resolved
from oasis.triage.settings import PagerDutyIntegration
from oasis.triage.sources.pagerduty import (
    AlertCommand,
    PagerDutyInvalid,
    alert_key,
    content_digest,
    parse_alert_event,
    parse_change_event,
    routing_key_of,
)
from oasis.triage.tickets import TicketStatus

SUCCESS = {"status": "success", "message": "Event processed"}
CHANGE_SUCCESS = {"status": "success", "message": "Change event processed"}
INVALID = {"status": "invalid event", "message": "Event object is invalid"}
UNKNOWN_KEY = "Invalid routing key"
_TICK = timedelta(milliseconds=1)


@dataclass(frozen=True)
class Answer:
    """An HTTP status and the JSON body PagerDuty would answer with."""

    status: int
    body: dict[str, Any]


class PagerDutyIntake:
    def __init__(self, flow: TriageFlow, integrations: list[PagerDutyIntegration]) -> None:
        self.flow = flow
        self.integrations = integrations

    def integration(self, routing_key: str | None) -> PagerDutyIntegration | None:
        if not routing_key:
            return None
        found = None
        for candidate in self.integrations:  # every one compared: no timing hint
            if hmac.compare_digest(
                candidate.routing_key.get_secret_value().encode(), routing_key.encode()
            ):
                found = candidate
        return found

    # -- alert events -----------------------------------------------------------------
    def enqueue(self, body: Any, now: datetime) -> Answer:
        """One event, or (an OASIS extension) a JSON list of them: the good ones are
        processed, the bad ones listed by index in `errors`."""
        if isinstance(body, list):
            return self._many(body, now)
        try:
            return Answer(202, {**SUCCESS, "dedup_key": self._one(body, now)})
        except PagerDutyInvalid as exc:
            return Answer(400, {**INVALID, "errors": exc.errors})

    def _many(self, bodies: list[Any], now: datetime) -> Answer:
        keys, errors = [], []
        for index, body in enumerate(bodies):
            try:
                keys.append(self._one(body, now))
            except PagerDutyInvalid as exc:
                errors += [f"event {index}: {e}" for e in exc.errors]
        if not keys:
            return Answer(400, {**INVALID, "errors": errors or ["no events in the list"]})
        return Answer(
            202,
            {
                "status": "success" if not errors else "partial success",
                "message": "Events processed",
                "dedup_keys": keys,
                "errors": errors,
            },
        )

    def _one(self, body: Any, now: datetime) -> str:
        integration = self.integration(routing_key_of(body))
        try:
            command = parse_alert_event(
                body,
                integration=integration.name if integration else "unknown",
                extra_labels=_labels_of(integration),
                received_at=now,
            )
        except PagerDutyInvalid as exc:
            if (
                integration is None
                and isinstance(body, dict)
                and not any("routing_key" in e for e in exc.errors)
            ):
                raise PagerDutyInvalid([UNKNOWN_KEY, *exc.errors]) from None
            raise
        if integration is None:
            raise PagerDutyInvalid([UNKNOWN_KEY])
        {"trigger": self._trigger, "acknowledge": self._acknowledge, "resolve": self._resolve}[
            command.action
        ](command, integration, now)
        return command.dedup_key

    def _trigger(
        self, command: AlertCommand, integration: PagerDutyIntegration, now: datetime
    ) -> None:
        event = command.event
        assert event is not None
        stored = self.flow.events.get(event.key)
        if stored is not None:
            if not was_resolved(stored.event) and content_digest(stored.event) == content_digest(
                event
            ):
                event = event.model_copy(update={"last_updated": stored.event.last_updated})
            elif event.last_updated <= stored.event.last_updated:
                event = event.model_copy(update={"last_updated": stored.event.last_updated + _TICK})
        self.flow.handle(event, now)

    def _acknowledge(
        self, command: AlertCommand, integration: PagerDutyIntegration, now: datetime
    ) -> None:
        actor = f"pagerduty:{integration.name}"
        for ticket in self.flow.triage.store.for_event(
            alert_key(integration.name, command.dedup_key)
        ):
            if ticket.status is TicketStatus.NEW:
                self.flow.move_ticket(
                    ticket.id,
                    TicketStatus.ACKNOWLEDGED,
                    actor,
                    "acknowledged through the PagerDuty Events API",
                )

    def _resolve(
        self, command: AlertCommand, integration: PagerDutyIntegration, now: datetime
    ) -> None:
        stored = self.flow.events.get(alert_key(integration.name, command.dedup_key))
        if stored is None or was_resolved(stored.event):
            return
        self.flow.handle(
            stored.event.model_copy(
                update={
                    "status": "resolved",
                    "end_time": now,
                    "last_updated": max(now, stored.event.last_updated + _TICK),
                }
            ),
            now,
        )

    # -- change events ----------------------------------------------------------------
    def change(self, body: Any, now: datetime) -> tuple[Answer, dict[str, Any] | None]:
        """The answer, and the deployment record to store when the body is good."""
        integration = self.integration(routing_key_of(body))
        try:
            record = parse_change_event(
                body, integration=integration.name if integration else "unknown", received_at=now
            )
        except PagerDutyInvalid as exc:
            return Answer(400, {**INVALID, "errors": exc.errors}), None
        if integration is None:
            return Answer(400, {**INVALID, "errors": [UNKNOWN_KEY]}), None
        return Answer(202, dict(CHANGE_SUCCESS)), record


def _labels_of(integration: PagerDutyIntegration | None) -> dict[str, str]:
    if integration is None:
        return {}
    return {**integration.labels, **({"team": integration.team} if integration.team else {})}
