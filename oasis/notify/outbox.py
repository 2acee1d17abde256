"""The outbox: every notification is a row per channel in the state database until it is
sent or has definitely failed, so a relay outage delays mail but never loses it, and the
incident shows what reached people and what did not.

Several OASIS processes may share the database. A sender claims a row with one UPDATE
guarded by its status (compare-and-set), so two processes never send the same row; a
claim lapses after `claim_seconds`, so a row held by a crashed sender becomes due again.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oasis.notify.channels import Channel, DeliveryError
from oasis.notify.message import Notification
from oasis.notify.settings import RetrySettings
from oasis.signals.crashpoints import crash_point
from oasis.signals.model import utc_iso
from oasis.signals.retry import Backoff
from oasis.state import from_db as _aware
from oasis.state import state_engine
from oasis.state import to_db as _naive

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
MAX_ERROR = 1000

metadata = sa.MetaData()

deliveries = sa.Table(
    "notification_deliveries", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("notification_id", sa.String(32), nullable=False, index=True),
    sa.Column("incident_id", sa.String(40), index=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("recipients", sa.JSON, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("html", sa.Text, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.DateTime, nullable=False),
    sa.Column("claimed_until", sa.DateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("sent_at", sa.DateTime),
    sa.Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification on one channel, and how its delivery is going."""

    id: str
    notification_id: str
    incident_id: str | None
    kind: str
    channel: str
    recipients: list[str]
    subject: str
    text: str
    html: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    claimed_until: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None

    def notification(self) -> Notification:
        return Notification(id=self.notification_id, kind=self.kind,
                            incident_id=self.incident_id, subject=self.subject, text=self.text,
                            html=self.html, recipients=list(self.recipients),
                            payload=self.payload, created_at=self.created_at)

    def to_dict(self) -> dict[str, Any]:
        """For the API and CLI: everything but the bodies, times in ISO 8601."""
        iso = lambda ts: utc_iso(ts) if ts else None  # noqa: E731
        return {
            "id": self.id, "notification_id": self.notification_id,
            "incident_id": self.incident_id, "kind": self.kind, "channel": self.channel,
            "recipients": self.recipients, "subject": self.subject, "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": iso(self.next_attempt_at) if self.status == PENDING else None,
            "last_error": self.last_error, "created_at": iso(self.created_at),
            "sent_at": iso(self.sent_at),
        }


def backoff_seconds(attempts: int, retry: RetrySettings, rng: random.Random | None = None
                    ) -> float:
    """Wait after the `attempts`-th failure: base * 2^(attempts-1), capped, plus up to 10 %
    jitter so many deliveries failing together do not retry together (`oasis.signals.retry`)."""
    return Backoff(retry.base_seconds, retry.max_seconds, jitter=0.1).delay(attempts, rng)


class Outbox:
    """Queue notifications per channel, deliver the due ones, show them per incident."""

    def __init__(self, url: str, *, retry: RetrySettings | None = None,
                 claim_seconds: float = 300.0, echo: bool = False) -> None:
        self.url = url
        self.retry = retry or RetrySettings()
        self.claim_seconds = claim_seconds
        self.engine: Engine = state_engine(url, echo=echo)
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- queueing --------------------------------------------------------------------------
    def enqueue(self, n: Notification, channels: Iterable[str]) -> list[Delivery]:
        """One pending delivery of `n` per channel, due at once."""
        names = list(dict.fromkeys(channels))
        rows = [{
            "id": uuid.uuid4().hex, "notification_id": n.id, "incident_id": n.incident_id,
            "kind": n.kind, "channel": name, "recipients": list(n.recipients),
            "subject": n.subject, "text": n.text, "html": n.html, "payload": n.payload,
            "status": PENDING, "attempts": 0, "next_attempt_at": _naive(n.created_at),
            "claimed_until": None, "last_error": None, "created_at": _naive(n.created_at),
            "sent_at": None,
        } for name in names]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(deliveries.insert(), rows)
        return [_delivery(r) for r in rows]

    # -- delivering ------------------------------------------------------------------------
    def deliver_due(self, channels: Mapping[str, Channel], now: datetime | None = None,
                    limit: int = 50) -> list[Delivery]:
        """Send up to `limit` due deliveries, one at a time; returns them as they ended up."""
        now = now or datetime.now(UTC)
        if now.tzinfo is None:
            raise ValueError("deliver_due: `now` must be timezone-aware (UTC)")
        touched: list[Delivery] = []
        seen: set[str] = set()
        while len(touched) < limit:
            claimed = self._claim_next(now, seen)
            if claimed is None:
                break
            seen.add(claimed.id)
            touched.append(self._send(claimed, channels, now))
        return touched

    def _due(self, now: datetime) -> sa.ColumnElement[bool]:
        at = _naive(now)
        return sa.or_(
            sa.and_(deliveries.c.status == PENDING, deliveries.c.next_attempt_at <= at),
            sa.and_(deliveries.c.status == SENDING, deliveries.c.claimed_until < at))

    def _claim_next(self, now: datetime, seen: set[str]) -> Delivery | None:
        """Claim the oldest due row nobody else claimed first."""
        query = (sa.select(deliveries.c.id, deliveries.c.attempts).where(self._due(now))
                 .order_by(deliveries.c.next_attempt_at, deliveries.c.created_at).limit(20))
        if seen:
            query = query.where(deliveries.c.id.not_in(seen))
        while True:
            with self.engine.connect() as conn:
                candidates = conn.execute(query).all()
            if not candidates:
                return None
            for row_id, attempts in candidates:
                with self.engine.begin() as conn:
                    # Guarded by the due condition and the attempts read: of two senders
                    # racing for this row, the second matches nothing.
                    won = conn.execute(
                        deliveries.update()
                        .where(deliveries.c.id == row_id, deliveries.c.attempts == attempts,
                               self._due(now))
                        .values(status=SENDING, attempts=attempts + 1,
                                claimed_until=_naive(now + timedelta(
                                    seconds=self.claim_seconds)))).rowcount
                    if won:
                        row = conn.execute(sa.select(deliveries)
                                           .where(deliveries.c.id == row_id)).one()
                        return _delivery(row._mapping)
            # Every candidate went to another sender; look again.

    def _send(self, d: Delivery, channels: Mapping[str, Channel], now: datetime) -> Delivery:
        channel = channels.get(d.channel)
        if channel is None:
            configured = ", ".join(sorted(channels)) or "none"
            return self._finish(d, now, FAILED, f"channel {d.channel!r} is not configured "
                                                f"(configured: {configured})")
        try:
            crash_point("outbox.before_send")
            channel.send(d.notification())
            crash_point("outbox.after_send")
        except DeliveryError as exc:
            return self._failed(d, now, exc.message, exc.retryable)
        except Exception as exc:  # a channel bug must not stop the others or lose the row
            log.exception("channel %s crashed sending delivery %s", d.channel, d.id)
            return self._failed(d, now, f"{type(exc).__name__}: {exc}", retryable=True)
        return self._finish(d, now, SENT, None)

    def _failed(self, d: Delivery, now: datetime, error: str, retryable: bool) -> Delivery:
        if not retryable:
            return self._finish(d, now, FAILED, error)
        if d.attempts >= self.retry.max_attempts:
            return self._finish(d, now, FAILED,
                                f"{error} (gave up after {d.attempts} attempts)")
        wait = backoff_seconds(d.attempts, self.retry)
        log.warning("delivery %s on %s failed (attempt %d, next in %.0f s): %s",
                    d.id, d.channel, d.attempts, wait, error)
        return self._finish(d, now, PENDING, error,
                            next_attempt_at=now + timedelta(seconds=wait))

    def _finish(self, d: Delivery, now: datetime, status: str, error: str | None,
                next_attempt_at: datetime | None = None) -> Delivery:
        values: dict[str, Any] = {"status": status, "claimed_until": None}
        if error is not None:
            values["last_error"] = error[:MAX_ERROR]
        if status == SENT:
            values["sent_at"] = _naive(now)
        if next_attempt_at is not None:
            values["next_attempt_at"] = _naive(next_attempt_at)
        if status == FAILED:
            log.error("delivery %s of %s on %s failed: %s", d.id, d.kind, d.channel, error)
        with self.engine.begin() as conn:
            # Still ours only if nobody re-claimed it after our claim lapsed.
            kept = conn.execute(
                deliveries.update()
                .where(deliveries.c.id == d.id, deliveries.c.status == SENDING,
                       deliveries.c.attempts == d.attempts)
                .values(**values)).rowcount
            row = conn.execute(sa.select(deliveries).where(deliveries.c.id == d.id)).one()
        if not kept:
            log.warning("delivery %s was re-claimed while being sent (claim of %.0f s "
                        "too short?); it may have gone out twice", d.id, self.claim_seconds)
        return _delivery(row._mapping)

    # -- reading ---------------------------------------------------------------------------
    def for_incident(self, incident_id: str) -> list[Delivery]:
        """The incident's deliveries, oldest first."""
        query = (sa.select(deliveries).where(deliveries.c.incident_id == incident_id)
                 .order_by(deliveries.c.created_at, deliveries.c.notification_id,
                           deliveries.c.channel))
        with self.engine.connect() as conn:
            return [_delivery(r._mapping) for r in conn.execute(query)]

    def get(self, delivery_id: str) -> Delivery | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(deliveries)
                               .where(deliveries.c.id == delivery_id)).first()
        return _delivery(row._mapping) if row is not None else None

    def pending_count(self) -> int:
        """Deliveries not yet sent or failed (waiting, or being sent right now)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(deliveries)
                                .where(deliveries.c.status.in_([PENDING, SENDING]))).scalar_one()

    def count_by_status(self) -> dict[str, int]:
        """Deliveries per status: pending, sending, sent, failed (for /metrics)."""
        query = sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)
        with self.engine.connect() as conn:
            return {status: n for status, n in conn.execute(query)}


def _delivery(m: Mapping[str, Any]) -> Delivery:
    return Delivery(
        id=m["id"], notification_id=m["notification_id"], incident_id=m["incident_id"],
        kind=m["kind"], channel=m["channel"], recipients=list(m["recipients"] or []),
        subject=m["subject"], text=m["text"], html=m["html"], payload=m["payload"] or {},
        status=m["status"], attempts=m["attempts"],
        next_attempt_at=_aware(m["next_attempt_at"]), claimed_until=_aware(m["claimed_until"]),
        last_error=m["last_error"], created_at=_aware(m["created_at"]),
        sent_at=_aware(m["sent_at"]))
