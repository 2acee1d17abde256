"""The service's background loops, run on a `Services` (`oasis.runtime.services`):

- **monitor** (when the services have one): detection every
  `detect.check_interval_seconds`, by whoever holds the `monitor` lease;
- **responder** (with the monitor): `Responder.tick` every `respond.interval_seconds`,
  by whoever holds the `responder` lease;
- **dispatcher** (always): sends the notification outbox's due deliveries every
  `notify.dispatch_interval_seconds` (default: the responder's interval), whichever flow
  queued them. No lease: deliveries are claimed row by row, so two dispatchers sharing a
  database never send the same row;
- **retention** (always): the signal store's retention every
  `server.retention_interval_seconds`.

The triage queue is not here: it is a worker thread of its own, opened and closed with the
triage side (`oasis.triage.flow.EventQueue`).

Each pass is a plain function (`monitor_pass`, `respond_pass`, `dispatch_pass`,
`retention_pass`) that a test or a replay can call directly; `start_loops` runs them in
worker threads on the running event loop, and `Loops.stop` lets the pass under way finish
before the services are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from oasis.audit import AuditKeys, anchor
from oasis.monitor.monitor import signals_now
from oasis.runtime.services import Services
from oasis.sources import SourceUnavailable

log = logging.getLogger(__name__)


def holder_id(services: Services) -> str:
    """Who holds a lease: this host, this process, these services."""
    return f"{socket.gethostname()}:{os.getpid()}:{id(services)}"


def monitor_pass(services: Services, holder: str, ttl: float) -> None:
    """One detection check, if this process holds the `monitor` lease."""
    if services.monitor is None:
        return
    if not services.incidents.acquire_lease("monitor", holder, ttl):
        return  # another process runs detection on this database
    # Detection runs on the signals' own clock: a minute is checked once data from a later
    # minute has arrived (plus a short settle for stragglers). Backfilled history therefore
    # flows through in order, and a simulator running at N x real time is followed.
    # Records older than the last checked minute are stored but not re-checked.
    now = signals_now(services.signals)
    if now is None:
        return
    started = time.monotonic()
    try:
        changed = services.monitor.check(now)
    except SourceUnavailable as exc:  # the same minutes are read again next pass
        services.metrics.cycle_failures.inc()
        log.warning("detection waits for a source: %s", exc)
        return
    except Exception:
        services.metrics.cycle_failures.inc()
        raise
    services.metrics.cycle.observe(time.monotonic() - started)
    for incident in changed:
        log.info("incident %s %s: %s", incident.id, incident.status, incident.title)


def respond_pass(services: Services, holder: str, ttl: float) -> None:
    """One response pass, if this process holds the `responder` lease."""
    # One responder per shared database proposes and verifies; actions and deliveries are
    # claimed row by row, so even two would not double-run them.
    if services.incidents.acquire_lease("responder", holder, ttl):
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


def start_loops(services: Services) -> Loops:
    """Start the loops on the running event loop: retention and the dispatcher always,
    the monitor and the responder when the services have a monitor."""
    settings, holder = services.settings, holder_id(services)
    stopping = asyncio.Event()
    runs: list[tuple[str, float, Callable[[], object]]] = [
        ("retention pass", settings.server.retention_interval_seconds,
         lambda: retention_pass(services)),
        ("notification dispatch", dispatch_interval(services),
         lambda: dispatch_pass(services)),
        ("OTLP span counts", settings.otlp.flush_interval_seconds,
         lambda: otlp_flush_pass(services)),
    ]
    if settings.audit.anchor_interval_seconds > 0:
        runs.append(("audit anchor", settings.audit.anchor_interval_seconds,
                     lambda: anchor_pass(services)))
    if services.monitor is not None:
        check = settings.detect.check_interval_seconds
        respond = settings.respond.interval_seconds
        runs += [
            ("detection check", check,
             lambda: monitor_pass(services, holder, max(30.0, 3 * check))),
            ("response pass", respond,
             lambda: respond_pass(services, f"{holder}:respond", max(15.0, 5 * respond))),
        ]
    tasks = [asyncio.create_task(_every(interval, step, what, stopping), name=what)
             for what, interval, step in runs]
    return Loops(tasks, stopping, services)


async def _every(interval: float, step: Callable[[], object], what: str,
                 stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        try:
            await asyncio.to_thread(step)
        except Exception:  # one failed pass must not stop the next
            log.exception("%s failed", what)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval)
