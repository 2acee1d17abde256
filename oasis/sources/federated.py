"""The monitor's view of the fleet: the embedded store plus every configured source.

`FederatedSignals` answers the same questions as a `SignalStore`, so the monitor, the
tracker and the API read sources through the one detection path. A source that fails
holds detection back (`SourceUnavailable` propagates, the monitor's cursor stays put and
the window is read again next check) for up to its `max_wait_seconds`; after that the
check goes on without it and its services' minutes are a gap, never zeros.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from oasis.signals import DeploymentRecord, Level, LogRecord, Signal
from oasis.sources.base import SourceUnavailable, TelemetrySource
from oasis.store.base import (
    AppendResult,
    LogCount,
    LogGroup,
    MetricStats,
    RetentionResult,
    ServiceSummary,
    SignalStore,
)
from oasis.store.batch import SignalBatch

log = logging.getLogger(__name__)

Status = Literal["ok", "waiting", "skipped"]


@dataclass
class SourceHealth:
    """How one source is doing, for /health, the console banner and /metrics."""

    name: str
    kind: str
    status: Status = "ok"
    failing_since: datetime | None = None
    last_error: str | None = None
    last_ok: datetime | None = None
    read_until: datetime | None = None  # the end of the newest window read from it
    skipped_windows: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "status": self.status,
                "failing_since": _iso(self.failing_since), "last_error": self.last_error,
                "last_ok": _iso(self.last_ok), "read_until": _iso(self.read_until),
                "skipped_windows": self.skipped_windows}


class FederatedSignals:
    """A `SignalStore` whose reads also ask each source; writes go to the store.

    `strict` (backtests): a failing source always raises; live, it is waited for
    `max_wait_seconds` and then skipped. `lag_seconds`: how far behind the wall clock a
    source's newest minute is complete (scrape and ingestion delay), live only.
    """

    def __init__(self, store: SignalStore, sources: Sequence[TelemetrySource], *,
                 strict: bool = False, lag_seconds: float = 60.0,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.sources = list(sources)
        self.strict = strict
        self.lag = timedelta(seconds=lag_seconds)
        self.wall = wall
        self.health = {s.name: SourceHealth(s.name, s.kind) for s in self.sources}

    # -- reads: the store's answer plus each source's ---------------------------------------
    def log_counts(self, start: datetime, end: datetime, *, bucket_seconds: int = 60,
                   by: LogGroup = "level", service: str | None = None,
                   errors_only: bool = False) -> list[LogCount]:
        out = self.store.log_counts(start, end, bucket_seconds=bucket_seconds, by=by,
                                    service=service, errors_only=errors_only)
        for source, s in self._windows(start, end):
            rows = self._ask(source, "log_counts", s, end, by=by, errors_only=errors_only)
            out += [c for c in rows if service is None or c.service == service]
        return out

    def metric_stats(self, start: datetime, end: datetime, *, bucket_seconds: int = 60,
                     service: str | None = None, name: str | None = None) -> list[MetricStats]:
        out = self.store.metric_stats(start, end, bucket_seconds=bucket_seconds,
                                      service=service, name=name)
        for source, s in self._windows(start, end):
            rows = self._ask(source, "metric_stats", s, end)
            out += [m for m in rows if (service is None or m.service == service)
                    and (name is None or m.name == name)]
        return out

    def read_logs(self, start: datetime, end: datetime, *,
                  levels: Sequence[Level] | None = None,
                  limit: int = 100_000) -> list[LogRecord]:
        out = self.store.read_logs(start, end, levels=levels, limit=limit)
        for source, s in self._windows(start, end):
            out += self._ask(source, "read_logs", s, end, levels=levels, limit=limit)
        out.sort(key=lambda x: x.timestamp)
        return out[:limit]

    def sample_logs(self, start: datetime, end: datetime, *, service: str | None = None,
                    errors_only: bool = False, limit: int = 20) -> list[LogRecord]:
        out = self.store.sample_logs(start, end, service=service, errors_only=errors_only,
                                     limit=limit)
        for source in self.sources:
            try:  # samples illustrate an incident; a failing source only leaves them out
                out += source.sample_logs(start, end, service=service,
                                          errors_only=errors_only, limit=limit)
            except SourceUnavailable as exc:
                log.warning("%s", exc)
        out.sort(key=lambda x: x.timestamp, reverse=True)
        return out[:limit]

    def latest_timestamp(self) -> datetime | None:
        """With sources, the wall clock less their lag (they are read, not pushed)."""
        stored = self.store.latest_timestamp()
        if not self.sources:
            return stored
        now = self.wall() - self.lag
        return max(now, stored) if stored is not None else now

    # -- the rest is the store's ------------------------------------------------------------
    def append(self, records: Sequence[Signal]) -> AppendResult:
        return self.store.append(records)

    def append_batch(self, batch: SignalBatch) -> AppendResult:
        return self.store.append_batch(batch)

    def deployments(self, start: datetime, end: datetime, *,
                    service: str | None = None) -> list[DeploymentRecord]:
        return self.store.deployments(start, end, service=service)

    def services(self) -> list[ServiceSummary]:
        return self.store.services()

    def apply_retention(self, now: datetime) -> RetentionResult:
        return self.store.apply_retention(now)

    def close(self) -> None:
        for source in self.sources:
            source.close()

    def __getattr__(self, name: str) -> Any:  # store extras (counts, locks) pass through
        return getattr(self.store, name)

    # -- health ----------------------------------------------------------------------------
    def degraded(self) -> list[SourceHealth]:
        return [h for h in self.health.values() if h.status != "ok"]

    def _windows(self, start: datetime, end: datetime):
        """Each source with its start: no further back than its `history_hours`."""
        for source in self.sources:
            earliest = end - timedelta(hours=source.history_hours)
            if earliest < end:
                yield source, max(start, earliest)

    def _ask(self, source: TelemetrySource, query: str, start: datetime, end: datetime,
             **options: Any) -> list:
        health = self.health[source.name]
        try:
            rows = getattr(source, query)(start, end, **options)
        except SourceUnavailable as exc:
            now = self.wall()
            health.failing_since = health.failing_since or now
            health.last_error = exc.reason
            waited = (now - health.failing_since).total_seconds()
            if self.strict or waited < source.max_wait_seconds:
                health.status = "waiting"
                raise
            health.status = "skipped"
            health.skipped_windows += 1
            log.warning("%s; detection goes on without it", exc)
            return []
        health.status, health.failing_since, health.last_error = "ok", None, None
        health.last_ok = self.wall()
        health.read_until = max(end, health.read_until or end)
        return rows


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
