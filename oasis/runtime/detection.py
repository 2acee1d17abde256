"""The monitor's pass, as the holder of the `monitor` lease runs it.

Detection runs on the signals' own clock: a minute is checked once data from a later
minute has arrived (plus a short settle for stragglers). The detectors judge the newest
minute of each check, so one check that jumped forty minutes (a backfill, several replicas
pushing at once) would judge only the fortieth, when a fault's onset may already look
normal. So a pass checks each new minute in turn, and when more minutes than
`CHECKS_PER_PASS` are new, that many spread evenly up to the newest: bounded work per
pass, never falling further behind. Records older than the last checked minute are stored
but not re-checked.

The holder records the last minute it checked on its lease; a replica that takes the
lease over re-reads the open incidents and resumes at that minute, so a failover neither
skips minutes nor opens an incident a second time.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from oasis.monitor.monitor import signals_now
from oasis.monitor.tracker import IncidentTracker
from oasis.runtime.leader import Leadership
from oasis.runtime.services import Services
from oasis.signals.times import floor_minute
from oasis.sources import SourceUnavailable

log = logging.getLogger(__name__)

CHECKS_PER_PASS = 4
MINUTE = timedelta(minutes=1)
LEASE = "monitor"


def check_times(cursor: datetime | None, resume: datetime | None, now: datetime) -> list[datetime]:
    """The check times of one pass, the last always `now`'s minute: the minutes after
    `cursor` (at most `CHECKS_PER_PASS`, spread evenly); without a cursor, from `resume`
    (where the lease's last holder stopped), or else just `now`."""
    end = floor_minute(now)
    if cursor is None:
        if resume is None or resume >= end:
            return [end]
        cursor, first = resume, [resume]
    else:
        first = []
    new = int((end - cursor) / MINUTE)
    if new <= 0:
        return first
    count = min(new, CHECKS_PER_PASS - len(first)) or 1
    return first + [cursor + MINUTE * round(new * (k + 1) / count) for k in range(count)]


def monitor_pass(services: Services, fresh: bool = False, leader: Leadership | None = None) -> None:
    """Detection checks up to the signals' clock. `fresh`: the lease was just taken, so
    open incidents are re-read and checking resumes where the last holder stopped."""
    monitor = services.monitor
    if monitor is None:
        return
    if fresh:
        monitor.tracker = IncidentTracker(services.incidents, monitor.settings)
        monitor.cursor = None
    now = signals_now(services.signals)
    if now is None:
        return
    lease = leader.held.get(LEASE) if leader is not None else None
    resume = (
        leader.leases.progress(LEASE) if leader is not None and monitor.cursor is None else None
    )
    for at in check_times(monitor.cursor, resume, now):
        started = time.monotonic()
        try:
            changed = monitor.check(at)
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
        if lease is not None and monitor.cursor is not None:
            leader.leases.record_progress(lease, monitor.cursor)
