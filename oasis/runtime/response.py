"""Build the response side from settings, once, for the service and the CLI alike: the
responder with its stores, executors, outbox, channels (Slack's among them), analyst and
audit log, and the dispatcher that sends what the outbox holds over those channels. Moved
here from `oasis.respond.wiring`: the flow package does not know Slack."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from oasis.agents.factory import make_analyst, specialist_model
from oasis.approve import LinkLedger, LinkSigner
from oasis.audit import AuditKeys, AuditLog
from oasis.config import Settings
from oasis.detect.graph import CallGraph
from oasis.incidents import IncidentStore
from oasis.monitor.monitor import signals_now
from oasis.notify import Delivery, Outbox, channels_from
from oasis.notify.dispatch import Dispatcher
from oasis.remediate import Executors
from oasis.respond.actions import ActionStore
from oasis.respond.responder import Responder
from oasis.runtime.slack import slack_channels
from oasis.store.base import SignalStore


@dataclass
class ResponseKit:
    responder: Responder
    actions: ActionStore
    ledger: LinkLedger
    signer: LinkSigner
    executors: Executors
    outbox: Outbox
    audit: AuditLog
    dispatcher: Dispatcher

    def close(self) -> None:
        self.outbox.close()
        self.executors.close()


def data_clock(signals: SignalStore | None):
    """The signals' clock (`oasis.monitor.monitor.signals_now`), or the wall clock when no
    signal has arrived yet."""
    def now() -> datetime:
        return (signals_now(signals) if signals is not None else None) or datetime.now(UTC)
    return now


def build_response(settings: Settings, incidents: IncidentStore,
                   signals: SignalStore | None = None,
                   graph: Callable[[], CallGraph | None] = lambda: None) -> ResponseKit:
    engine = incidents.engine
    ledger = LinkLedger(engine)
    secret = (settings.approve.secret.get_secret_value().encode() if settings.approve.secret
              else ledger.shared_secret())
    signer = LinkSigner(secret)
    actions = ActionStore(engine)
    executors = Executors.from_settings(settings.remediate, settings.data_dir / "remediate")
    outbox = Outbox(settings.incident_db_url, retry=settings.notify.retry,
                    claim_seconds=settings.notify.send_claim_seconds)
    audit = open_audit(settings, engine)
    channels = channels_from(settings.notify)
    channels.update(slack_channels(settings, engine, taken=channels))
    responder = Responder(
        incidents, actions, executors, outbox, channels, audit, signer,
        approve=settings.approve, notify=settings.notify, respond=settings.respond,
        dry_run=settings.remediate.dry_run,
        analyst=make_analyst(settings.model, executors.catalog_for, signals, incidents, graph),
        specialist_model=specialist_model(settings.model),
        clock=data_clock(signals))
    dispatcher = Dispatcher(outbox, channels, on_outcome=audit_delivery(audit))
    return ResponseKit(responder, actions, ledger, signer, executors, outbox, audit,
                       dispatcher)


def open_audit(settings: Settings, engine: Engine) -> AuditLog:
    """The audit log on the state database, its links keyed with the audit key (kept
    apart from the database: `audit.key_file` or `OASIS_AUDIT__KEY`). Every writer opens
    it here, so no writer adds unkeyed records after keyed ones (a downgrade to verify)."""
    return AuditLog.from_engine(engine, keys=AuditKeys.from_settings(settings.audit,
                                                                      settings.data_dir))


def audit_delivery(audit: AuditLog):
    """Record a delivery that ended (sent, or failed for good) as `notification.<status>`;
    retries in between show on the incident, not in the audit log."""
    def record(d: Delivery) -> None:
        if d.status in ("sent", "failed"):
            audit.append(f"notification.{d.status}", "oasis", d.incident_id or d.notification_id,
                         {"notification_id": d.notification_id, "kind": d.kind,
                          "channel": d.channel, "recipients": d.recipients,
                          "attempts": d.attempts, "error": d.last_error})
    return record
