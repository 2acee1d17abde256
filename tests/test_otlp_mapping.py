"""The OTLP mapping's parts on their own: names the detectors must read the intended way,
bucket percentiles, cumulative series, span counting and edges, and the call graph."""

from __future__ import annotations

from datetime import timedelta

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from oasis.detect.graph import CallGraph
from oasis.detect.metric import MetricDetector
from oasis.detect.settings import DetectSettings
from oasis.detect.shape import (
    in_seconds,
    is_failure_ratio,
    is_latency,
    is_volume,
    looks_cumulative,
)
from oasis.ingest.otlp.histograms import Distribution
from oasis.ingest.otlp.logs import level_of
from oasis.ingest.otlp.naming import count_name, gauge_name, rate_name, stat_name, time_unit
from oasis.ingest.otlp.series import NS, CumulativeSeries, Point
from oasis.ingest.otlp.settings import OtlpSettings
from oasis.ingest.otlp.spans import ERROR_RATIO, REQUESTS, SpanAggregator
from oasis.signals import CallEdge
from tests.helpers import T0

VOLUME = DetectSettings().metrics.volume_names


def test_names_read_as_intended_by_the_detectors() -> None:
    role = MetricDetector(DetectSettings()).role
    for name in (REQUESTS, rate_name("http.server.requests"), rate_name("http_requests_total"),
                 count_name("http.server.request.duration"),
                 count_name("http_request_duration_seconds")):
        assert is_volume(name, VOLUME), name
        assert role(name) == ("context", 0), name
        assert not looks_cumulative(name, {0: 1.0}, 0), name  # already a per-minute rate
    assert rate_name("http_requests_total") == "http_requests_per_minute"
    assert count_name("http.server.request.duration") == "http.server.request_count_per_minute"
    # A client's calls are not the service's own traffic.
    assert not is_volume(count_name("http.client.request.duration"), VOLUME)
    assert is_failure_ratio(ERROR_RATIO) and role(ERROR_RATIO) == ("symptom", 1)
    p99 = stat_name("http.server.request.duration", "p99", "s")
    assert p99 == "http.server.request.duration_p99_s"
    assert is_latency(p99) and in_seconds(p99) and not is_volume(p99, VOLUME)
    assert stat_name("latency_ms", "p50", "ms") == "latency_ms_p50"
    assert not in_seconds(stat_name("rpc.duration", "p50", "us"))  # turned into ms
    assert time_unit("us") == (1e-3, "ms") and time_unit("{request}") == (1.0, "{request}")
    assert gauge_name("queue.wait", "s") == "queue.wait_s" and gauge_name("cpu", "1") == "cpu"


@pytest.mark.parametrize(("number", "text", "level"), [
    (9, "", "INFO"), (1, "", "DEBUG"), (13, "", "WARN"), (17, "whatever", "ERROR"),
    (24, "", "FATAL"), (0, "Warning", "WARN"), (0, "WARN2", "WARN"), (0, "E", "ERROR"),
    (0, "", "INFO"), (0, "loud", "INFO"),
])
def test_levels_from_severity(number: int, text: str, level: str) -> None:
    assert level_of(number, text).value == level


def test_bucket_percentiles() -> None:
    # (0, 10]: 10, (10, 20]: 10, (20, +inf): 0
    d = Distribution((10.0, 20.0), [10, 10, 0])
    assert d.quantile(0.5) == pytest.approx(10.0)
    assert d.quantile(0.75) == pytest.approx(15.0)
    assert Distribution((10.0, 20.0), [0, 0, 4]).quantile(0.99) == 20.0  # the highest bound
    assert Distribution((10.0, 20.0), [0, 0, 4], high=31.0).quantile(0.99) == 31.0
    assert Distribution((10.0,), [4, 0], low=6.0, high=8.0).quantile(0.5) == pytest.approx(8.0)
    assert Distribution((10.0,), [0, 0]).quantile(0.5) is None
    assert Distribution((), [4], total=10.0).quantile(0.5) == 2.5  # no bounds: the mean
    merged = Distribution((10.0,), [1, 0], 5.0, 5.0, 5.0)
    merged.add(Distribution((10.0,), [0, 3], 60.0, 15.0, 25.0))
    assert (merged.buckets, merged.total, merged.low, merged.high) == ([1, 3], 65.0, 5.0, 25.0)


def test_cumulative_series() -> None:
    series = CumulativeSeries(max_series=2, first_interval_seconds=300)
    start = 1_000 * NS
    # Started long before it was first seen: a baseline, not a rate.
    assert series.increase(b"old", Point(start, start + 3600 * NS, 5000)) is None
    first = series.increase(b"a", Point(start, start + 60 * NS, 120))
    assert first is not None and first.per_minute() == 120
    assert series.increase(b"a", Point(start, start + 60 * NS, 120)) is None  # re-sent
    assert series.increase(b"a", Point(start, start + 120 * NS, 180)).per_minute() == 60
    reset = series.increase(b"a", Point(start + 150 * NS, start + 180 * NS, 10))
    assert reset.per_minute() == 20 and reset.since_start
    series.increase(b"b", Point(start, start + 60 * NS, 1))
    series.increase(b"c", Point(start, start + 60 * NS, 1))
    assert len(series) == 2  # the least recently seen forgotten


def _span(trace: int, span: int, parent: int = 0, *, end_minute: float = 1.0,
          kind: int = Span.SPAN_KIND_SERVER, error: bool = False) -> Span:
    end = int((T0 + timedelta(minutes=end_minute)).timestamp() * NS)
    return Span(trace_id=trace.to_bytes(16, "big"), span_id=span.to_bytes(8, "big"),
                parent_span_id=parent.to_bytes(8, "big") if parent else b"", name="op",
                kind=kind, start_time_unix_nano=end - 1000, end_time_unix_nano=end,
                status=Status(code=Status.STATUS_CODE_ERROR if error else 0))


def _request(service: str, *spans: Span) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name").value.string_value = service
    resource_spans.scope_spans.add().spans.extend(spans)
    return request


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_span_counts_edges_retries_and_late_spans() -> None:
    clock = Clock()
    spans = SpanAggregator(OtlpSettings(span_settle_seconds=30, span_quiet_seconds=5,
                                        span_idle_seconds=60), clock)
    # The callee's spans come first; its parents (the caller's client spans) later.
    child = _request("checkout", _span(1, 11, parent=2, error=True), _span(3, 31, parent=4))
    assert spans.add(child).edges == []
    assert spans.add(child).edges == []  # re-sent: counted once
    caller = _request("frontend", _span(1, 1), _span(1, 2, parent=1, kind=Span.SPAN_KIND_CLIENT),
                      _span(3, 3), _span(3, 4, parent=3, kind=Span.SPAN_KIND_CLIENT))
    batch = spans.add(caller)
    assert batch.edges == [CallEdge(T0 + timedelta(minutes=1), "frontend", "checkout", 2)]
    assert spans.complete_minutes() == []  # the spans' clock has not passed the minute
    clock.now = 10
    spans.add(_request("frontend", _span(9, 9, end_minute=2.6)))  # a later span: it has
    records = {(r["service"], r["name"]): r["value"] for r in spans.complete_minutes()}
    assert records == {("checkout", REQUESTS): 2, ("checkout", ERROR_RATIO): 0.5,
                       ("frontend", REQUESTS): 2, ("frontend", ERROR_RATIO): 0.0}
    spans.add(_request("checkout", _span(7, 71)))  # minute 1 was written: late
    assert spans.late == 1
    clock.now = 100  # idle: the last minute is written however the clock stands
    assert [r["value"] for r in spans.complete_minutes() if r["name"] == REQUESTS] == [1]
    rejected = spans.add(_request("x", Span(trace_id=b"short", span_id=b"12345678")))
    assert rejected.rejected == 1 and "trace_id" in rejected.reasons[0]


def test_call_graph_learns_direct_and_indirect_calls() -> None:
    graph = CallGraph()
    graph.learn_calls([CallEdge(T0, "web", "api", 3), CallEdge(T0, "api", "db", 1),
                       CallEdge(T0, "db", "db", 9)])
    assert graph.depends_on("web", "api") and graph.depends_on("web", "db")
    assert not graph.depends_on("db", "web") and not graph.depends_on("api", "web")
    assert graph.edges(["web", "api", "db"]) == [("api", "db"), ("web", "api"), ("web", "db")]
    assert graph.traced_services() == {"web", "api", "db"}
