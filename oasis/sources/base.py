"""What a telemetry source is: a read-only store of the fleet's own that answers the
monitor's questions (per-minute log counts, per-minute metric values, a few raw lines).

A source answers only what it holds: Prometheus has no log lines, Loki no metrics. An
unreachable source raises `SourceUnavailable`; it never answers with an empty list, so a
gap is never taken for a quiet fleet.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from oasis.signals import Level, LogRecord
from oasis.signals.errors import Unavailable
from oasis.store.base import LogCount, LogGroup, MetricStats


class SourceUnavailable(Unavailable):
    """The source did not answer (down, slow, refused, or a reply not in its API shape)."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"source {source}: {reason}")
        self.source = source
        self.reason = reason


@runtime_checkable
class TelemetrySource(Protocol):
    """A fleet's store read in place. Windows are half-open, times aware UTC."""

    name: str
    kind: str
    history_hours: float
    max_wait_seconds: float

    def log_counts(self, start: datetime, end: datetime, *, by: LogGroup = "level",
                   errors_only: bool = False) -> list[LogCount]: ...

    def metric_stats(self, start: datetime, end: datetime) -> list[MetricStats]: ...

    def read_logs(self, start: datetime, end: datetime, *,
                  levels: Sequence[Level] | None = None,
                  limit: int = 100_000) -> list[LogRecord]: ...

    def sample_logs(self, start: datetime, end: datetime, *, service: str | None = None,
                    errors_only: bool = False, limit: int = 20) -> list[LogRecord]: ...

    def close(self) -> None: ...


class NoLogs:
    """For sources that hold only metrics."""

    def log_counts(self, start: datetime, end: datetime, *, by: LogGroup = "level",
                   errors_only: bool = False) -> list[LogCount]:
        return []

    def read_logs(self, start: datetime, end: datetime, *,
                  levels: Sequence[Level] | None = None,
                  limit: int = 100_000) -> list[LogRecord]:
        return []

    def sample_logs(self, start: datetime, end: datetime, *, service: str | None = None,
                    errors_only: bool = False, limit: int = 20) -> list[LogRecord]:
        return []


class NoMetrics:
    """For sources that hold only logs."""

    def metric_stats(self, start: datetime, end: datetime) -> list[MetricStats]:
        return []


def point(bucket: datetime, service: str, name: str, value: float) -> MetricStats:
    """One per-minute value as the store's summary shape (a source gives one value)."""
    return MetricStats(bucket, service, name, 1, value, value, value, value, value, value)
