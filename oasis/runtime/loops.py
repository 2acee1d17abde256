"""The service's background loops, run on a `Services` (`oasis.runtime.services`):

- **monitor** (when the services have one): detection every
  `detect.check_interval_seconds`, by whoever holds the `monitor` lease;
- **responder** (with the monitor): `Responder.tick` every `respond.interval_seconds`,
  by whoever holds the `responder` lease;
- **dispatcher** (always): sends the notification outbox's due deliveries every
  `notify.dispatch_interval_seconds` (default: the responder's interval), whichever flow
  queued them, by whoever holds the `dispatcher` lease (deliveries are claimed row by row
  as well, so even two dispatchers would not send one row twice);
- **retention** (always): the signal store's retention every
  `server.retention_interval_seconds`, by whoever holds the `retention` lease.

Leases (`oasis.runtime.leader`, `oasis.leases`) are fenced: a replica that lost one
cannot commit under it. Standbys ask for a lease every third of `server.lease_seconds`,
so a dead holder's loops resume on another replica within `lease_seconds * 4/3`. On the
embedded default there is no other replica: a process restarted after a crash takes its
predecessor's leases over at once (`oasis.runtime.services.sole_process`).

The triage queue is not here: it is a worker thread of its own, opened and closed with the
triage side (`oasis.triage.queue.EventQueue`), and works under the `triage` lease of the
same `services.leader`.

Each pass is a plain function (`monitor_pass`, `respond_pass`, `dispatch_pass`,
`retention_pass`) that a test or a replay can call directly; `start_loops` runs them in
worker threads on the running event loop, and `Loops.stop` lets the pass under way finish
before the services are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from oasis.audit import AuditKeys, anchor
from oasis.runtime.detection import monitor_pass
from oasis.runtime.leader import Leadership
from oasis.runtime.services import Services

log = logging.getLogger(__name__)


def respond_pass(services: Services) -> None:
    """One response pass (run by the `responder` lease's holder)."""
    # Actions and deliveries are also claimed row by row, so even two would not
    # double-run them.
    services.responder.tick(services.clock())


def dispatch_pass(services: Services) -> int:
    """Send the outbox's due deliveries; how many were touched."""
    return len(services.dispatcher.dispatch())


def otlp_flush_pass(services: Services, *, force: bool = False) -> int:
    """Store the OTLP receiver's span counts of each complete minute (all with `force`,
    at shutdown); how many records."""
    return services.otlp.flush(force=force)


def anchor_pass(services: Services) -> None:
    """Append a signed anchor of the audit head to `audit.anchors` (verifying the chain
    first, so an anchor never vouches for a broken one)."""
    settings = services.settings
    keys = AuditKeys.from_settings(settings.audit, settings.data_dir)
    anchor(services.audit, keys, settings.audit.anchors_target(settings.data_dir),
           settings.audit)


def retention_pass(services: Services) -> None:
    result = services.store.apply_retention(datetime.now(UTC))
    if result.logs or result.metrics or result.deployments:
        log.info("retention removed %s", result)


def dispatch_interval(services: Services) -> float:
    settings = services.settings
    return settings.notify.dispatch_interval_seconds or settings.respond.interval_seconds


@dataclass
class Loops:
    tasks: list[asyncio.Task]
    stopping: asyncio.Event
    services: Services
    leader: Leadership

    async def stop(self, timeout: float = 20.0) -> None:
        """Stop after the passes under way (waiting up to `timeout`), so nothing runs
        while the services close; a pass still running then is abandoned."""
        self.stopping.set()
        if not self.tasks:
            return
        _, late = await asyncio.wait(self.tasks, timeout=timeout)
        for task in late:
            log.warning("background loop %s still busy at shutdown", task.get_name())
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:  # the minutes of span counts still open
            await asyncio.to_thread(otlp_flush_pass, self.services, force=True)
        except Exception:
            log.exception("storing the last OTLP span counts failed")
        await asyncio.to_thread(self.leader.release_all)


def start_loops(services: Services) -> Loops:
    """Start the loops on the running event loop: retention and the dispatcher always,
    the monitor and the responder when the services have a monitor; the leased ones run
    only while this replica holds their lease."""
    settings = services.settings
    leader = services.leader
    stopping = asyncio.Event()
    # (what, interval, lease or None, step(fresh))
    runs: list[tuple[str, float, str | None, Callable[[bool], object]]] = [
        ("retention pass", settings.server.retention_interval_seconds, "retention",
         lambda _fresh: retention_pass(services)),
        ("notification dispatch", dispatch_interval(services), "dispatcher",
         lambda _fresh: dispatch_pass(services)),
        ("OTLP span counts", settings.otlp.flush_interval_seconds, None,
         lambda _fresh: otlp_flush_pass(services)),
    ]
    if settings.audit.anchor_interval_seconds > 0:
        runs.append(("audit anchor", settings.audit.anchor_interval_seconds, None,
                     lambda _fresh: anchor_pass(services)))
    if services.monitor is not None:
        runs += [
            ("detection check", settings.detect.check_interval_seconds, "monitor",
             lambda fresh: monitor_pass(services, fresh, leader)),
            ("response pass", settings.respond.interval_seconds, "responder",
             lambda _fresh: respond_pass(services)),
        ]
    tasks = [asyncio.create_task(_every(interval, _leased(leader, lease, interval, step),
                                        what, stopping,
                                        min(interval, leader.poll_seconds) if lease
                                        else interval), name=what)
             for what, interval, lease, step in runs]
    return Loops(tasks, stopping, services, leader)


def _leased(leader: Leadership, lease: str | None, interval: float,
            step: Callable[[bool], object]) -> Callable[[], object]:
    """`step` as a loop body: unleased, every time; leased, when this replica holds the
    lease and either just took it or `interval` has passed since its last run."""
    if lease is None:
        return lambda: step(False)
    last = [float("-inf")]

    def body() -> None:
        def due(fresh: bool) -> None:
            if fresh or time.monotonic() - last[0] >= interval:
                last[0] = time.monotonic()
                step(fresh)

        leader.run(lease, due)

    return body


async def _every(interval: float, step: Callable[[], object], what: str,
                 stopping: asyncio.Event, poll: float | None = None) -> None:
    while not stopping.is_set():
        try:
            await asyncio.to_thread(step)
        except Exception:  # one failed pass must not stop the next
            log.exception("%s failed", what)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), poll or interval)
