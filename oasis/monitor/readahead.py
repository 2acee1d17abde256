"""A replay's signal store, read an hour ahead.

Replay stores every record before the first check, and the monitor then asks for one
minute at a time: six queries a check, each costing a millisecond or more of fixed
overhead for a few dozen rows. `ReadAhead` answers those minute-aligned windows from one
query per kind covering the next `minutes` minutes, sliced in Python. The rows are the
store's own answers: a per-minute bucket is the same whether the query that produced it
spans one minute or sixty, and both are sorted by the same keys.

Only for a store that is complete before the first read (replay): live, the minutes
ahead are not there yet. Anything else (other buckets, one service, long windows, other
methods) goes straight to the store.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from oasis.signals import CallEdge, DeploymentRecord, Level, LogRecord
from oasis.store.base import LogCount, LogGroup, MetricStats, SignalStore

MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class _Span:
    start: datetime
    end: datetime
    rows: list[Any]
    keys: list[datetime]  # each row's bucket or timestamp, ascending


class ReadAhead:
    """`SignalStore` reads over a complete store, `minutes` ahead of the reader."""

    def __init__(self, store: SignalStore, minutes: int = 60) -> None:
        self.store = store
        self.ahead = timedelta(minutes=minutes)
        self._spans: dict[tuple[Any, ...], _Span] = {}

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
        if bucket_seconds != 60 or service is not None or not self._fits(start, end):
            return self.store.log_counts(
                start,
                end,
                bucket_seconds=bucket_seconds,
                by=by,
                service=service,
                errors_only=errors_only,
            )
        return self._rows(
            ("log_counts", by, errors_only),
            start,
            end,
            lambda a, b: self.store.log_counts(a, b, by=by, errors_only=errors_only),
            _bucket,
        )

    def metric_stats(
        self,
        start: datetime,
        end: datetime,
        *,
        bucket_seconds: int = 60,
        service: str | None = None,
        name: str | None = None,
    ) -> list[MetricStats]:
        if (
            bucket_seconds != 60
            or service is not None
            or name is not None
            or not self._fits(start, end)
        ):
            return self.store.metric_stats(
                start, end, bucket_seconds=bucket_seconds, service=service, name=name
            )
        return self._rows(("metric_stats",), start, end, self.store.metric_stats, _bucket)

    def call_edges(self, start: datetime, end: datetime) -> list[CallEdge]:
        if not self._fits(start, end):
            return self.store.call_edges(start, end)
        return self._rows(("call_edges",), start, end, self.store.call_edges, _bucket)

    def deployments(
        self, start: datetime, end: datetime, *, service: str | None = None
    ) -> list[DeploymentRecord]:
        if service is not None or not self._fits(start, end):
            return self.store.deployments(start, end, service=service)
        return self._rows(("deployments",), start, end, self.store.deployments, _timestamp)

    def read_logs(
        self,
        start: datetime,
        end: datetime,
        *,
        levels: Sequence[Level] | None = None,
        limit: int = 100_000,
    ) -> list[LogRecord]:
        if levels or not self._fits(start, end):
            return self.store.read_logs(start, end, levels=levels, limit=limit)
        cap = limit * (self.ahead // MINUTE)

        def fetch(a: datetime, b: datetime) -> list[LogRecord]:
            return self.store.read_logs(a, b, limit=cap)

        found = self._slice(("read_logs", cap), start, end, fetch, _timestamp, cap)
        if found is None:  # more lines than `cap` from `start` to `end`
            return self.store.read_logs(start, end, limit=limit)
        return found[:limit]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def _fits(self, start: datetime, end: datetime) -> bool:
        """Whole minutes, and no longer than a span: the checks' windows."""
        return (
            start.second == start.microsecond == 0
            and end.second == end.microsecond == 0
            and end - start <= self.ahead
        )

    def _rows(
        self,
        kind: tuple[Any, ...],
        start: datetime,
        end: datetime,
        fetch: Callable[[datetime, datetime], list[Any]],
        key: Callable[[Any], datetime],
    ) -> list[Any]:
        rows = self._slice(kind, start, end, fetch, key, None)
        assert rows is not None  # a span no row limit cut covers every window that fits
        return rows

    def _slice(
        self,
        kind: tuple[Any, ...],
        start: datetime,
        end: datetime,
        fetch: Callable[[datetime, datetime], list[Any]],
        key: Callable[[Any], datetime],
        cap: int | None,
    ) -> list[Any] | None:
        """The rows of [start, end) from the span read last, or from a new one read from
        `start`; None if even that cannot hold them (`cap` rows cut it short)."""
        span = self._spans.get(kind)
        if span is None or not (span.start <= start and end <= span.end):
            stop = start + self.ahead
            rows = fetch(start, stop)
            keys = [key(r) for r in rows]
            if cap is not None and len(rows) >= cap:
                stop = keys[-1]  # rows of the last instant may be cut: it is not covered
            span = self._spans[kind] = _Span(start, stop, rows, keys)
            if end > stop:
                return None
        return span.rows[bisect_left(span.keys, start) : bisect_left(span.keys, end)]


def _bucket(row: LogCount | MetricStats | CallEdge) -> datetime:
    return row.bucket


def _timestamp(row: LogRecord | DeploymentRecord) -> datetime:
    return row.timestamp
