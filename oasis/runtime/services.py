"""Everything the service's faces use, opened from settings in one place: `open_services`
builds the signal store, the state database's stores, auth, the response side, the
knowledge base, the triage side, the monitor and the OheroACT flow; `Services.close` closes
what it opened. The HTTP service (`oasis.api.create_app`) holds one for its lifetime and
runs the background loops of `oasis.runtime.loops` on it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from oasis.agents.consultant import ModelAnswerer
from oasis.approve import LinkLedger, LinkSigner
from oasis.audit import AuditLog
from oasis.auth import AuthContext
from oasis.auth.deps import is_loopback
from oasis.config import Settings
from oasis.incidents import IncidentStore
from oasis.ingest import Ingestor, TimeWindow
from oasis.ingest.otlp.receiver import OtlpReceiver
from oasis.knowledge import KnowledgeBase
from oasis.leases import LeaseStore
from oasis.monitor import Monitor
from oasis.notify import Outbox
from oasis.notify.dispatch import Dispatcher
from oasis.remediate import Executors
from oasis.respond.actions import ActionStore
from oasis.respond.responder import Responder
from oasis.runtime.leader import Leadership, replica_holder
from oasis.runtime.memory import bound_allocators
from oasis.runtime.metrics import SelfMetrics
from oasis.runtime.response import ResponseKit, build_response
from oasis.runtime.triage import TRIAGE_LEASE, TriageKit, build_triage
from oasis.schema import prepare
from oasis.sources import FederatedSignals, open_sources
from oasis.state import state_engine
from oasis.store import DuckDBSignalStore, SignalStore, open_signal_store
from oasis.triage.act import OheroAct

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What the faces need. `open_services` always builds `triage` (on the built-in
    organisation when no file is set); faces still handle None, with `triage_problem`
    saying why, for services assembled without it. `monitor` is None when detection does
    not run here."""

    settings: Settings
    store: SignalStore
    incidents: IncidentStore
    auth: AuthContext
    response: ResponseKit
    knowledge: KnowledgeBase
    triage: TriageKit | None
    triage_problem: str | None
    monitor: Monitor | None
    # Words from people (chat, Slack, `POST /api/v1/act`): one flow, built once.
    act: OheroAct
    # What detection and verification read: the store, plus the configured sources.
    signals: SignalStore
    metrics: SelfMetrics
    otlp: OtlpReceiver
    # This replica's hold on the leased loops (the background loops and the triage queue).
    leader: Leadership
    _closing: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    # The response side's parts, as the routes ask for them.
    @property
    def responder(self) -> Responder:
        return self.response.responder

    @property
    def actions(self) -> ActionStore:
        return self.response.actions

    @property
    def signer(self) -> LinkSigner:
        return self.response.signer

    @property
    def ledger(self) -> LinkLedger:
        return self.response.ledger

    @property
    def executors(self) -> Executors:
        return self.response.executors

    @property
    def outbox(self) -> Outbox:
        return self.response.outbox

    @property
    def audit(self) -> AuditLog:
        return self.response.audit

    @property
    def dispatcher(self) -> Dispatcher:
        return self.response.dispatcher

    @property
    def clock(self) -> Callable[[], datetime]:
        """The signals' clock (the wall clock until a signal arrives), as the responder
        keeps time."""
        return self.response.responder.clock

    def degraded_sources(self) -> list[dict]:
        """The sources that are failing (waited for, or skipped), for health and the console."""
        if not isinstance(self.signals, FederatedSignals):
            return []
        return [h.as_dict() for h in self.signals.degraded()]

    def close(self) -> None:
        """Close what `open_services` opened, newest first (not a store it was given)."""
        self._closing.close()


def sole_process(settings: Settings, store: SignalStore) -> bool:
    """The embedded default: this process has the data dir's DuckDB file open for writing,
    which DuckDB lets one process at a time do, and the state database is the data dir's
    own. No other replica can exist, so leases left by a predecessor that died (kill -9,
    power loss) are this process's to take over at once instead of after
    `server.lease_seconds`."""
    return (isinstance(store, DuckDBSignalStore) and store.path == settings.signal_store_path
            and settings.state_url is None)


def open_leadership(settings: Settings, incidents: IncidentStore,
                    store: SignalStore) -> Leadership:
    """This replica's claim on the leases; on the embedded default, a crashed predecessor's
    leases are ended first (new tokens fence the dead holder out all the same)."""
    leader = Leadership(LeaseStore(incidents.engine), replica_holder(),
                        settings.server.lease_seconds)
    if sole_process(settings, store):
        orphaned = leader.leases.expire_others(leader.holder)
        if orphaned:
            log.warning("resuming %s at once: the process before this one on the data dir "
                        "stopped without releasing them", ", ".join(orphaned))
    return leader


def check_schema(url: str) -> None:
    """Before any store creates a table: upgrade the embedded database, or refuse to run
    on a shared one whose schema revision is not this code's (`oasis.schema.prepare`)."""
    engine = state_engine(url)
    try:
        prepare(engine)
    finally:
        engine.dispose()


def open_services(settings: Settings, *, store: SignalStore | None = None,
                  monitor: bool = True) -> Services:
    """Open everything from `settings`; `store` is used (and left open) when given. With
    `monitor`, the detection monitor is built too (the loops run it). If anything fails
    to open, what was opened before it is closed again."""
    bound_allocators()
    with contextlib.ExitStack() as closing:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        check_schema(settings.incident_db_url)
        if store is None:
            store = open_signal_store(settings)
            closing.callback(store.close)
        incidents = IncidentStore(settings.incident_db_url)
        closing.callback(incidents.close)
        auth = AuthContext.open(settings.auth, incidents.engine,
                                listens_on_loopback=is_loopback(settings.server.host))
        signals: SignalStore = store
        if settings.sources:
            signals = FederatedSignals(store, open_sources(settings.sources))
            closing.callback(signals.close)  # the sources' connections, not the store
        detector = Monitor(signals, incidents, settings.detect) if monitor else None
        kit = build_response(settings, incidents, signals, graph=lambda: (
            detector.graph if detector is not None else None))
        closing.callback(kit.close)
        knowledge = KnowledgeBase.open(
            settings.data_dir, settings.knowledge,
            answerer=ModelAnswerer(settings.model) if settings.model.provider != "none"
            else None)
        # The built-in organisation stands in for a missing file, so triage always runs.
        leader = open_leadership(settings, incidents, store)
        # Released after the queue's worker has stopped (callbacks run newest first), so no
        # heartbeat renews it afterwards and a standby takes the queue over at once.
        closing.callback(leader.release, TRIAGE_LEASE)
        triage = build_triage(settings, incidents, kit.audit, kit.outbox, with_queue=True,
                              knowledge=knowledge,
                              under_lease=lambda step: leader.run(TRIAGE_LEASE, step),
                              lease_poll_seconds=leader.poll_seconds)
        closing.callback(triage.close)  # its queue's worker thread
        problem = None
        act = OheroAct(triage.flow if triage is not None else None, knowledge.consult,
                       kit.audit)
        metrics = SelfMetrics()
        metrics.watch(incidents, kit.outbox, lambda: signals)
        otlp = OtlpReceiver(store, open_ingestor(settings, store), settings.otlp)
        return Services(settings, store, incidents, auth, kit, knowledge, triage, problem,
                        detector, act, signals, metrics, otlp, leader, closing.pop_all())


def open_ingestor(settings: Settings, store: SignalStore, *, workers: int = 1) -> Ingestor:
    """The ingest path of the server and of `oasis ingest`: records stamped more than
    `ingest.max_future_seconds` ahead of the wall clock, or older than the store's
    retention, are refused with a reason."""
    window = TimeWindow.live(max_future_seconds=settings.ingest.max_future_seconds,
                             retention_days=settings.store.retention_days)
    return Ingestor(store, batch_size=settings.ingest.batch_size,
                    max_errors=settings.ingest.max_errors, workers=workers, window=window)
