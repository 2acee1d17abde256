"""The `SignalStore` interface: append signals, aggregate them over time windows.

Detectors and the API speak only this interface, so an OpenSearch or
Prometheus backend can stand in for the embedded DuckDB one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from oasis.signals import CallEdge, DeploymentRecord, Level, LogRecord, Signal
from oasis.store.batch import SignalBatch

LogGroup = Literal["level", "error_type"]


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What happened to a batch: stored, or skipped because its `id` was seen before."""

    accepted: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class LogCount:
    """Number of log lines of one service in one time bucket, for one level or error type."""

    bucket: datetime
    service: str
    key: str | None
    count: int


@dataclass(frozen=True, slots=True)
class MetricStats:
    """Summary of one metric of one service over one time bucket."""

    bucket: datetime
    service: str
    name: str
    count: int
    mean: float
    min: float
    max: float
    p50: float
    p90: float
    p99: float


@dataclass(frozen=True, slots=True)
class ServiceSummary:
    """What the store has seen of one service."""

    service: str
    logs: int
    metrics: int
    deployments: int
    first_seen: datetime
    last_seen: datetime
    current_version: str | None


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """Rows removed by a retention pass, per kind."""

    cutoff: datetime
    logs: int
    metrics: int
    deployments: int


@runtime_checkable
class SignalStore(Protocol):
    """Storage of logs, metrics and deployments with windowed aggregation.

    All datetimes in and out are timezone-aware UTC. Time windows are
    half-open: `start <= timestamp < end`.
    """

    def append(self, records: Sequence[Signal]) -> AppendResult:
        """Store records; a record whose `id` is already stored is skipped."""
        ...

    def append_batch(self, batch: SignalBatch) -> AppendResult:
        """`append` for records already in columnar form."""
        ...

    def log_counts(
        self,
        start: datetime,
        end: datetime,
        *,
        bucket_seconds: int = 60,
        by: LogGroup = "level",
        service: str | None = None,
        errors_only: bool = False,
    ) -> list[LogCount]:
        """Log lines per service per bucket, grouped by level or error type."""
        ...

    def metric_stats(
        self,
        start: datetime,
        end: datetime,
        *,
        bucket_seconds: int = 60,
        service: str | None = None,
        name: str | None = None,
    ) -> list[MetricStats]:
        """Count, mean, min, max and p50/p90/p99 per service, metric and bucket."""
        ...

    def sample_logs(
        self,
        start: datetime,
        end: datetime,
        *,
        service: str | None = None,
        errors_only: bool = False,
        limit: int = 20,
    ) -> list[LogRecord]:
        """Some log lines of the window, newest first."""
        ...

    def read_logs(
        self,
        start: datetime,
        end: datetime,
        *,
        levels: Sequence[Level] | None = None,
        limit: int = 100_000,
    ) -> list[LogRecord]:
        """Log lines of the window (optionally only some levels), oldest first."""
        ...

    def append_call_edges(self, edges: Sequence[CallEdge]) -> None:
        """Store calls between services seen in traces (rows add up; no ids)."""
        ...

    def call_edges(self, start: datetime, end: datetime) -> list[CallEdge]:
        """Calls per minute, caller and callee in the window, oldest first."""
        ...

    def latest_timestamp(self) -> datetime | None:
        """The newest log or metric timestamp stored, if any."""
        ...

    def deployments(
        self, start: datetime, end: datetime, *, service: str | None = None
    ) -> list[DeploymentRecord]:
        """Deployments in the window, oldest first."""
        ...

    def services(self) -> list[ServiceSummary]:
        """Every service seen, by name."""
        ...

    def apply_retention(self, now: datetime) -> RetentionResult:
        """Delete signals older than the retention period before `now`."""
        ...

    def close(self) -> None: ...
