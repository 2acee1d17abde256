"""The triage queue: events accepted over HTTP wait in the state database, not in memory.

`submit` stores a whole batch in one transaction before the endpoint answers 202, so an
acknowledged event survives kill -9. One worker thread takes them in arrival order (hence in
order per event): it claims the oldest row for `claim_seconds`, hands it to the flow and
deletes it once handled. A row whose worker died is claimed again when its claim lapses,
and handed over with `resumed=True`, so the flow finishes the dead attempt's work instead of
starting over: one decision and one ticket per team, whatever moment the crash hit.

With several replicas on one state database, the worker works only under a lease
(`under_lease`, given by the composition root: the `triage` lease, fenced, so a replica
that lost it cannot commit a decision): one replica triages the queue at a time, whichever
received the events. The others' workers stand by and ask again every
`lease_poll_seconds`. A worker that has just taken the lease first clears every claim: the
rows a dead holder claimed are worked at once (and resumed), not after their claim lapses.

Bounded: past `maxsize` waiting events a submit raises QueueFull (the endpoint answers 429
with Retry-After) instead of dropping events.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oasis.leases import LeaseLost
from oasis.signals.crashpoints import crash_point
from oasis.signals.errors import TooManyRequests
from oasis.state import to_db
from oasis.triage.model import OpsEvent

if TYPE_CHECKING:
    from oasis.triage.flow import TriageFlow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # an event whose handling raises this often is logged and dropped
RETRY_SECONDS = 5.0  # before an event whose handling raised is tried again
STANDBY_SECONDS = 3.0  # between asks for the lease, unless lease_poll_seconds is shorter

metadata = sa.MetaData()
triage_queue = sa.Table(
    "triage_queue", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(512), nullable=False),
    sa.Column("event", sa.JSON, nullable=False),
    sa.Column("queued_at", sa.DateTime, nullable=False),
    sa.Column("claimed_until", sa.DateTime),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
)


class QueueFull(TooManyRequests, RuntimeError):
    """The event queue is full: try again shortly."""


class EventQueue:
    """Durable, bounded, in order, one worker: back-pressure instead of dropped events."""

    def __init__(self, flow: TriageFlow, engine: Engine, maxsize: int = 10_000, *,
                 claim_seconds: float = 120.0,
                 under_lease: Callable[[Callable[[bool], object]], bool] | None = None,
                 lease_poll_seconds: float | None = None) -> None:
        self.flow, self.engine = flow, engine
        self.maxsize, self.claim_seconds = maxsize, claim_seconds
        #: Runs `step(fresh)` only while this replica holds the queue's lease (`fresh`: just
        #: taken) and says whether it ran; None: no lease (one process, e.g. a test).
        self.under_lease = under_lease
        #: The longest sleep between two asks for the lease, so a holder renews in time and
        #: a standby notices a dead holder within the failover bound.
        self.lease_poll_seconds = lease_poll_seconds
        metadata.create_all(engine)
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._idle = threading.Condition()
        self._wake.set()  # events left by a previous process are worked at once
        self._worker = threading.Thread(target=self._work, name="oasis-triage", daemon=True)
        self._worker.start()

    def submit(self, events: list[OpsEvent]) -> None:
        """Store `events`, all or none; QueueFull if they do not fit."""
        now = to_db(datetime.now(UTC))
        rows = [{"key": e.key, "event": e.model_dump(mode="json"), "queued_at": now,
                 "attempts": 0} for e in events]
        with self.engine.begin() as conn:
            if self._count(conn) + len(rows) > self.maxsize:
                raise QueueFull("the triage queue is full; retry shortly")
            if rows:
                conn.execute(triage_queue.insert(), rows)
        self._wake.set()

    def pending(self) -> int:
        with self.engine.connect() as conn:
            return self._count(conn)

    def join(self, timeout: float = 300.0) -> None:
        """Wait until every stored event has been handled (or `timeout` passes)."""
        with self._idle:
            self._idle.wait_for(lambda: self.pending() == 0, timeout)

    def close(self) -> None:
        self._closing.set()
        self._wake.set()
        self._worker.join(10)

    # -- the worker ------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._closing.is_set():
            try:
                if self.under_lease is None:
                    self._drain(False)
                    ran = True
                else:
                    ran = self.under_lease(self._drain)
            except Exception:  # the database is away, or the lease was lost: shortly again
                log.exception("could not work the triage queue")
                ran = False
            with self._idle:
                self._idle.notify_all()
            wait = self._retry_in() if ran else STANDBY_SECONDS
            if self.lease_poll_seconds is not None:
                wait = min(wait, self.lease_poll_seconds)
            self._wake.wait(wait)
            self._wake.clear()

    def _drain(self, fresh: bool) -> None:
        """Handle every claimable event, oldest first, until none is left or closing; with
        `fresh` (the lease just taken) the previous holder's claims are cleared first."""
        if fresh:
            with self.engine.begin() as conn:
                conn.execute(triage_queue.update().where(triage_queue.c.claimed_until.isnot(None))
                             .values(claimed_until=None))
        while not self._closing.is_set():
            claimed = self._claim_next()
            if claimed is None:
                return
            self._handle(*claimed)

    def _handle(self, seq: int, attempts: int, event: OpsEvent) -> None:
        try:
            self.flow.handle(event, resumed=attempts > 1)
        except LeaseLost:
            raise  # not the event's fault: the new holder resumes it
        except Exception:  # one bad event must not stop the queue
            log.exception("triage of %s failed (attempt %d)", event.key, attempts)
            if attempts < MAX_ATTEMPTS:
                self._release(seq, RETRY_SECONDS)
                return
            log.error("triage of %s dropped after %d attempts", event.key, attempts)
        crash_point("triage.after_event")
        with self.engine.begin() as conn:
            conn.execute(triage_queue.delete().where(triage_queue.c.seq == seq))

    def _release(self, seq: int, after: float) -> None:
        until = to_db(datetime.now(UTC) + timedelta(seconds=after))
        with self.engine.begin() as conn:
            conn.execute(triage_queue.update().where(triage_queue.c.seq == seq)
                         .values(claimed_until=until))

    def _claim_next(self) -> tuple[int, int, OpsEvent] | None:
        """Claim the oldest row nobody holds: (seq, attempts counting this one, event)."""
        now = datetime.now(UTC)
        free = sa.or_(triage_queue.c.claimed_until.is_(None),
                      triage_queue.c.claimed_until < to_db(now))
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(triage_queue).order_by(triage_queue.c.seq)
                               .limit(1)).first()
            if row is None or not conn.execute(
                    triage_queue.update()
                    .where(triage_queue.c.seq == row.seq, free)
                    .values(claimed_until=to_db(now + timedelta(seconds=self.claim_seconds)),
                            attempts=row.attempts + 1)).rowcount:
                return None  # empty, or the oldest is held: in order, so wait for it
        return row.seq, row.attempts + 1, OpsEvent.model_validate(row.event)

    def _retry_in(self) -> float:
        """How long to sleep when nothing is claimable: until the oldest claim lapses."""
        with self.engine.connect() as conn:
            until = conn.execute(sa.select(sa.func.min(triage_queue.c.claimed_until))).scalar()
        if until is None:
            return 5.0  # empty; a submit wakes the worker anyway
        wait = (until - to_db(datetime.now(UTC))).total_seconds()
        return min(max(wait, 0.05), 5.0)

    @staticmethod
    def _count(conn: sa.Connection) -> int:
        return conn.execute(sa.select(sa.func.count()).select_from(triage_queue)).scalar_one()
