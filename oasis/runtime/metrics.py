"""OASIS's own health in Prometheus' format (`GET /metrics`): what it ingested and refused,
how long detection takes, incidents and approvals waiting, the outbox, and each source.

Counters are bumped where the work happens (ingest routes, the monitor loop); the rest is
read from the stores when Prometheus scrapes, so it is never stale and costs nothing
between scrapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from oasis.incidents.store import IncidentStore
from oasis.notify.outbox import Outbox
from oasis.sources import FederatedSignals

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
disable_created_metrics()  # `_created` series double the output and nobody graphs them


@dataclass
class SelfMetrics:
    """The registry and the counters the faces and loops bump."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.ingested = Counter("oasis_records_ingested", "Records stored, by ingest path.",
                                ["path"], registry=r)
        self.rejected = Counter("oasis_records_rejected", "Records refused, by ingest path.",
                                ["path"], registry=r)
        self.duplicates = Counter("oasis_records_duplicate",
                                  "Records skipped as already stored (same id).", ["path"],
                                  registry=r)
        self.otlp_requests = Counter("oasis_otlp_requests", "OTLP export requests answered "
                                     "200, by signal.", ["signal"], registry=r)
        self.cycle = Histogram("oasis_detection_cycle_seconds",
                               "Duration of one detection check.", registry=r,
                               buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60))
        self.cycle_failures = Counter("oasis_detection_cycle_failures",
                                      "Detection checks that failed (or waited for a source).",
                                      registry=r)

    def records(self, path: str, *, accepted: int, rejected: int, duplicates: int = 0) -> None:
        self.ingested.labels(path).inc(accepted)
        self.rejected.labels(path).inc(rejected)
        self.duplicates.labels(path).inc(duplicates)

    def watch(self, incidents: IncidentStore, outbox: Outbox | None,
              signals: Callable[[], object]) -> None:
        """Read state at scrape time from these stores (and the monitor's signals)."""
        self.registry.register(_StateCollector(incidents, outbox, signals))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _StateCollector(Collector):
    def __init__(self, incidents: IncidentStore, outbox: Outbox | None,
                 signals: Callable[[], object]) -> None:
        self.incidents = incidents
        self.outbox = outbox
        self.signals = signals

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        by_status = GaugeMetricFamily("oasis_incidents", "Incidents by status.",
                                      labels=["status"])
        counts = self.incidents.count_by_status()
        for status, n in sorted(counts.items()):
            by_status.add_metric([status], n)
        yield by_status
        yield GaugeMetricFamily("oasis_approvals_waiting",
                                "Incidents waiting for a person to approve an action.",
                                value=counts.get("pending_approval", 0))
        if self.outbox is not None:
            outbox = GaugeMetricFamily("oasis_outbox_deliveries",
                                       "Notification deliveries by status (pending is the "
                                       "queue depth; failed gave up).", labels=["status"])
            for status, n in sorted(self.outbox.count_by_status().items()):
                outbox.add_metric([status], n)
            yield outbox
        signals = self.signals()
        if isinstance(signals, FederatedSignals):
            yield from _source_families(signals)


def _source_families(signals: FederatedSignals):
    up = GaugeMetricFamily("oasis_source_up", "1 when the source's last query succeeded.",
                           labels=["source", "kind"])
    queries = CounterMetricFamily("oasis_source_queries", "Queries sent to the source.",
                                  labels=["source"])
    errors = CounterMetricFamily("oasis_source_errors", "Queries that failed for good.",
                                 labels=["source"])
    seconds = CounterMetricFamily("oasis_source_query_seconds",
                                  "Time spent waiting for the source.", labels=["source"])
    lag = GaugeMetricFamily("oasis_source_lag_seconds",
                            "Wall clock minus the end of the newest window read.",
                            labels=["source"])
    now = signals.wall()
    for source in signals.sources:
        health = signals.health[source.name]
        up.add_metric([source.name, source.kind], 1.0 if health.status == "ok" else 0.0)
        client = getattr(source, "client", None)
        if client is not None:
            queries.add_metric([source.name], client.queries)
            errors.add_metric([source.name], client.errors)
            seconds.add_metric([source.name], client.seconds)
        if health.read_until is not None:
            lag.add_metric([source.name], (now - health.read_until).total_seconds())
    yield from (up, queries, errors, seconds, lag)
