"""The OTLP/HTTP receiver against a live server, fed by the OpenTelemetry SDK's own
exporters (protobuf, gzip) and by spec-shaped JSON bodies."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from google.rpc import status_pb2
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from oasis.api import create_app
from oasis.config import Settings
from oasis.incidents import IncidentStore
from oasis.monitor import Monitor
from oasis.signals import CallEdge
from oasis.store import DuckDBSignalStore
from tests.helpers import T0, wait_until
from tests.servers import serving

PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}
NEVER_MS = 3_600_000  # metric readers export on force_flush only


@dataclass
class Live:
    url: str
    store: DuckDBSignalStore
    headers: dict[str, str]

    def post_json(self, path: str, body: dict, **headers: str) -> httpx.Response:
        return httpx.post(self.url + path, content=orjson.dumps(body),
                          headers={**JSON, **self.headers, **headers}, timeout=10)

    def metric_values(self, name: str, service: str | None = None) -> dict[datetime, float]:
        """Per minute: the mean of `name`'s records (one record per minute here)."""
        stats = self.store.metric_stats(datetime(2000, 1, 1, tzinfo=UTC),
                                        datetime(2200, 1, 1, tzinfo=UTC), name=name,
                                        service=service)
        return {s.bucket: s.mean for s in stats}


def _settings(tmp_path, **extra) -> Settings:
    # Span minutes are written as soon as the spans' clock has passed them, or after half
    # a second without spans: a test waits on the store, not on a sleep.
    return Settings(data_dir=tmp_path / "data", notify={"email_enabled": False},
                    otlp={"span_settle_seconds": 0, "span_quiet_seconds": 0,
                          "span_idle_seconds": 0.5, "flush_interval_seconds": 0.1},
                    **extra)


@pytest.fixture
def live(tmp_path) -> Iterator[Live]:
    settings = _settings(tmp_path)
    store = DuckDBSignalStore(settings.signal_store_path, retention_days=0)  # T0 is fixed
    with serving(create_app(settings, store=store, monitor=False)) as url:
        yield Live(url, store, {})
    store.close()


def resource(service: str | None, **attributes: str) -> Resource:
    values = {"service.name": service} if service else {}
    return Resource.create({**values, **attributes})


@pytest.fixture
def providers() -> Iterator[list]:
    """SDK providers made by a test, shut down after it (their export threads stop)."""
    made: list = []
    yield made
    for provider in made:
        provider.shutdown()


def log_provider(live: Live, made: list, service: str | None, **exporter) -> LoggerProvider:
    provider = LoggerProvider(resource=resource(service, **{"service.version": "1.4.2"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(
        endpoint=live.url + "/v1/logs", headers=live.headers, **exporter)))
    made.append(provider)
    return provider


def meter_provider(live: Live, made: list, service: str) -> MeterProvider:
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=live.url + "/v1/metrics", headers=live.headers),
        export_interval_millis=NEVER_MS)
    provider = MeterProvider(metric_readers=[reader], resource=resource(service))
    made.append(provider)
    return provider


def service_summary(live: Live, service: str) -> dict | None:
    services = httpx.get(live.url + "/api/v1/services", headers=live.headers).json()
    return next((s for s in services if s["service"] == service), None)


# -- logs -----------------------------------------------------------------------------------

def test_sdk_logs_and_a_counter_appear_under_the_resource_service(live: Live,
                                                                  providers: list) -> None:
    from opentelemetry._logs import SeverityNumber

    logger = log_provider(live, providers, "checkout").get_logger("checkout.orders")
    for i in range(300):
        error = i % 10 == 0
        logger.emit(body=f"order {i} {'failed' if error else 'placed'}",
                    severity_number=SeverityNumber.ERROR if error else SeverityNumber.INFO,
                    severity_text="ERROR" if error else "INFO",
                    attributes={"order.id": i, "http.route": "/orders",
                                **({"exception.type": "PaymentDeclined"} if error else {})})
    meter = meter_provider(live, providers, "checkout").get_meter("checkout")
    counter = meter.create_counter("http.server.requests", unit="{request}")
    counter.add(40, {"http.route": "/orders"})
    counter.add(2, {"http.route": "/health"})
    assert providers[0].force_flush() and providers[1].force_flush()

    summary = wait_until(lambda: (s := service_summary(live, "checkout")) and s["logs"] == 300
                         and s["metrics"] and s, what="300 logs and the counter")
    assert summary["logs"] == 300
    errors = live.store.log_counts(datetime(2000, 1, 1, tzinfo=UTC),
                                   datetime(2200, 1, 1, tzinfo=UTC), errors_only=True)
    assert sum(c.count for c in errors) == 30
    by_type = live.store.log_counts(datetime(2000, 1, 1, tzinfo=UTC),
                                    datetime(2200, 1, 1, tzinfo=UTC), by="error_type",
                                    errors_only=True)
    assert {c.key for c in by_type} == {"PaymentDeclined"}
    line = live.store.sample_logs(datetime(2000, 1, 1, tzinfo=UTC),
                                  datetime(2200, 1, 1, tzinfo=UTC), errors_only=True,
                                  limit=1)[0]
    assert line.service == "checkout" and line.message.endswith("failed")
    assert line.attributes["http.route"] == "/orders"
    assert line.attributes["otel.scope.name"] == "checkout.orders"
    assert line.attributes["service.version"] == "1.4.2"
    assert line.attributes["telemetry.sdk.language"] == "python"
    # The counter's two routes are one rate: requests per minute of the service.
    assert list(live.metric_values("http.server.requests_per_minute", "checkout").values())


def test_a_resource_without_a_service_name_is_unknown_service(live: Live,
                                                              providers: list) -> None:
    provider = LoggerProvider(resource=Resource({}))
    provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(
        endpoint=live.url + "/v1/logs")))
    providers.append(provider)
    provider.get_logger("x").emit(body="hello")
    assert provider.force_flush()
    wait_until(lambda: service_summary(live, "unknown_service"), what="unknown_service")


def test_gzip_from_the_sdk_and_from_a_client(live: Live, providers: list) -> None:
    logger = log_provider(live, providers, "cart", compression=Compression.Gzip).get_logger("c")
    for i in range(20):
        logger.emit(body=f"cart {i}")
    assert providers[0].force_flush()
    wait_until(lambda: (s := service_summary(live, "cart")) and s["logs"] == 20,
               what="20 gzipped logs")
    body = gzip.compress(orjson.dumps(_json_logs("cart-json", [_json_log(1, "zipped")])))
    r = httpx.post(live.url + "/v1/logs", content=body,
                   headers={**JSON, "content-encoding": "gzip"})
    assert r.status_code == 200 and r.json() == {}
    bad = httpx.post(live.url + "/v1/logs", content=b"not gzip",
                     headers={**PROTOBUF, "content-encoding": "gzip"})
    assert bad.status_code == 400
    assert "gzip" in status_pb2.Status.FromString(bad.content).message


def test_malformed_bodies_are_refused_with_a_status_message(live: Live) -> None:
    r = httpx.post(live.url + "/v1/logs", content=b"this is not protobuf", headers=PROTOBUF)
    assert r.status_code == 400 and r.headers["content-type"] == "application/x-protobuf"
    status = status_pb2.Status.FromString(r.content)
    assert "not a valid protobuf ExportLogsServiceRequest" in status.message
    assert status.code == 3  # INVALID_ARGUMENT
    r = httpx.post(live.url + "/v1/metrics", content=b'{"resourceMetrics": [', headers=JSON)
    assert r.status_code == 400 and "not valid JSON" in r.json()["message"]
    r = live.post_json("/v1/traces", {"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "not-hex", "spanId": "00f067aa0ba902b7"}]}]}]})
    assert r.status_code == 400 and "traceId" in r.json()["message"]
    r = live.post_json("/v1/logs", {"resourceLogs": "a string"})
    assert r.status_code == 400
    r = httpx.post(live.url + "/v1/logs", content=b"a=b",
                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415 and "application/x-protobuf" in r.json()["message"]


# -- JSON ----------------------------------------------------------------------------------

def _ns(minutes: float) -> str:
    """T0 + minutes in nanoseconds, as OTLP/JSON writes int64: a decimal string."""
    return str(int((T0 + timedelta(minutes=minutes)).timestamp() * 1e9))


def _json_log(minute: float, text: str, **extra) -> dict:
    return {"timeUnixNano": _ns(minute), "severityNumber": 9, "severityText": "INFO",
            "body": {"stringValue": text}, **extra}


def _json_logs(service: str, records: list[dict], version: str | None = None) -> dict:
    attributes = [{"key": "service.name", "value": {"stringValue": service}}]
    if version:
        attributes.append({"key": "service.version", "value": {"stringValue": version}})
    return {"resourceLogs": [{"resource": {"attributes": attributes},
                              "scopeLogs": [{"scope": {"name": "json-test"},
                                             "logRecords": records}]}]}


def test_json_encoding_with_hex_ids_string_int64_and_enum_numbers(live: Live) -> None:
    record = _json_log(1, "", severityNumber=17, severityText="ERROR",
                       traceId="5B8EFFF798038103D269B633813FC60C", spanId="EEE19B7EC3C1B174",
                       body={"kvlistValue": {"values": [
                           {"key": "event", "value": {"stringValue": "charge"}},
                           {"key": "amount", "value": {"intValue": "1250"}}]}},
                       attributes=[{"key": "retry", "value": {"boolValue": True}},
                                   {"key": "payload", "value": {"bytesValue": "aGk="}},
                                   {"key": "tags", "value": {"arrayValue": {"values": [
                                       {"stringValue": "a"}, {"doubleValue": 1.5}]}}}],
                       unknownField={"ignored": True})
    r = live.post_json("/v1/logs", _json_logs("payments", [record]))
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {}
    [line] = live.store.read_logs(T0, T0 + timedelta(hours=1))
    assert (line.service, line.level.value) == ("payments", "ERROR")
    assert line.timestamp == T0 + timedelta(minutes=1)
    assert line.trace_id == "5b8efff798038103d269b633813fc60c"
    assert line.span_id == "eee19b7ec3c1b174"
    assert orjson.loads(line.message) == {"event": "charge", "amount": 1250}
    assert line.attributes["retry"] is True and line.attributes["payload"] == "aGk="
    assert line.attributes["tags"] == ["a", 1.5]
    # Re-sent (an exporter's retry): the same ids, nothing stored twice.
    assert live.post_json("/v1/logs", _json_logs("payments", [record])).status_code == 200
    assert live.store.count("logs") == 1


def test_partial_success_lists_rejected_records_and_keeps_the_good_ones(live: Live) -> None:
    records = [_json_log(1, "good"), {"body": {"stringValue": "no time"}},
               _json_log(2, "observed only", timeUnixNano="0",
                         observedTimeUnixNano=_ns(2)),
               _json_log(3, "warn text", severityNumber=0, severityText="Warning")]
    r = live.post_json("/v1/logs", _json_logs("search", records))
    assert r.status_code == 200
    partial = r.json()["partialSuccess"]
    assert partial["rejectedLogRecords"] == "1"
    assert "log record 2" in partial["errorMessage"]
    assert "time_unix_nano" in partial["errorMessage"]
    lines = live.store.read_logs(T0, T0 + timedelta(hours=1))
    assert [(x.message, x.level.value) for x in lines] == [
        ("good", "INFO"), ("observed only", "INFO"), ("warn text", "WARN")]
    # What the ingest path's own checks refuse is counted too, at its place in the request.
    far = str(8_000_000_000 * 10**9)  # the year 2223
    r = live.post_json("/v1/logs", _json_logs("search", [
        {"body": {"stringValue": "no time"}}, _json_log(4, "kept"),
        {"timeUnixNano": far, "body": {"stringValue": "far"}}]))
    partial = r.json()["partialSuccess"]
    assert partial["rejectedLogRecords"] == "2"
    assert "log record 3: timestamp" in partial["errorMessage"]
    assert "outside 1970..2200" in partial["errorMessage"]
    assert live.store.count("logs") == 4
    # Protobuf in, protobuf out: an exponential histogram is refused, the gauge kept.
    request = ExportMetricsServiceRequest()
    metrics = request.resource_metrics.add()
    metrics.resource.attributes.add(key="service.name").value.string_value = "search"
    scope = metrics.scope_metrics.add()
    gauge = scope.metrics.add(name="queue.depth", unit="{item}")
    gauge.gauge.data_points.add(time_unix_nano=int(_ns(1)), as_int=7)
    expo = scope.metrics.add(name="latency.expo", unit="ms")
    for minute in (1, 2):
        expo.exponential_histogram.data_points.add(time_unix_nano=int(_ns(minute)), count=3)
    r = httpx.post(live.url + "/v1/metrics", content=request.SerializeToString(),
                   headers=PROTOBUF)
    assert r.status_code == 200
    response = ExportMetricsServiceResponse.FromString(r.content)
    assert response.partial_success.rejected_data_points == 2
    assert "exponential histograms" in response.partial_success.error_message
    assert live.metric_values("queue.depth", "search") == {T0 + timedelta(minutes=1): 7.0}


def test_logs_response_is_empty_protobuf_when_all_is_stored(live: Live) -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    r = httpx.post(live.url + "/v1/logs", content=ExportLogsServiceRequest().SerializeToString(),
                   headers=PROTOBUF)
    assert r.status_code == 200
    assert not ExportLogsServiceResponse.FromString(r.content).HasField("partial_success")


def test_a_new_service_version_is_a_deployment(live: Live) -> None:
    assert live.post_json("/v1/logs", _json_logs("api", [_json_log(0, "a")], "1.0")).is_success
    # Both versions report during the rollout; the old one is not a rollback.
    for minute, version in ((5, "1.1"), (6, "1.0"), (7, "1.1")):
        live.post_json("/v1/logs", _json_logs("api", [_json_log(minute, "b")], version))
    # Back to 1.0 long after it was last seen: a rollback.
    live.post_json("/v1/logs", _json_logs("api", [_json_log(30, "c")], "1.0"))
    deployments = live.store.deployments(T0, T0 + timedelta(hours=1), service="api")
    assert [(d.previous_version, d.version, d.timestamp) for d in deployments] == [
        ("1.0", "1.1", T0 + timedelta(minutes=5)), ("1.1", "1.0", T0 + timedelta(minutes=30))]
    assert service_summary(live, "api")["current_version"] == "1.0"


# -- metrics -------------------------------------------------------------------------------

def _json_sum(service: str, points: list[tuple[float, float, float, str]],
              monotonic: bool = True) -> dict:
    """A cumulative sum `http.server.requests`: (start minute, minute, value, route)."""
    return {"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name",
                                     "value": {"stringValue": service}}]},
        "scopeMetrics": [{"metrics": [{
            "name": "http.server.requests", "unit": "{request}",
            "sum": {"aggregationTemporality": 2, "isMonotonic": monotonic, "dataPoints": [
                {"startTimeUnixNano": _ns(start), "timeUnixNano": _ns(minute), "asInt": str(v),
                 "attributes": [{"key": "http.route", "value": {"stringValue": route}}]}
                for start, minute, v, route in points]}}]}]}]}


def test_cumulative_counter_gives_increases_per_minute_across_a_reset(live: Live) -> None:
    steps = [
        [(0, 1, 100, "/a"), (0, 1, 20, "/b")],  # first points, 1 min after start: 120/min
        [(0, 2, 250, "/a"), (0, 2, 50, "/b")],  # +150 +30
        [(2.5, 3, 30, "/a"), (0, 3, 80, "/b")],  # /a restarted at 2.5: 30 in 30 s = 60/min
        [(2.5, 4, 90, "/a"), (0, 4, 60, "/b")],  # /b fell without a new start: reset
    ]
    for points in steps:
        r = live.post_json("/v1/metrics", _json_sum("orders", points))
        assert r.status_code == 200 and r.json() == {}
    # A re-sent export changes nothing.
    live.post_json("/v1/metrics", _json_sum("orders", steps[-1]))
    rates = live.metric_values("http.server.requests_per_minute", "orders")
    minute = lambda m: T0 + timedelta(minutes=m)  # noqa: E731
    assert rates == {minute(1): 120.0, minute(2): 180.0, minute(3): 60.0 + 30.0,
                     minute(4): 60.0 + 60.0}
    [stats] = live.store.metric_stats(minute(4), minute(5), name="http.server.requests_per_minute")
    assert stats.count == 1  # one record a minute: the routes are summed
    # An up-down counter is a level, summed over its attribute sets.
    live.post_json("/v1/metrics", _json_sum("orders", [(0, 5, 3, "/a"), (0, 5, 4, "/b")],
                                            monotonic=False))
    assert live.metric_values("http.server.requests", "orders") == {minute(5): 7.0}


def test_histogram_percentiles_from_sdk_buckets(live: Live, providers: list) -> None:
    provider = meter_provider(live, providers, "checkout")
    histogram = provider.get_meter("checkout").create_histogram(
        "http.server.request.duration", unit="ms")
    for ms in range(1, 101):
        histogram.record(ms, {"http.route": "/a" if ms % 2 else "/b"})
    assert provider.force_flush()
    p50 = wait_until(lambda: live.metric_values("http.server.request.duration_p50_ms"),
                     what="the first percentiles")
    # Default buckets ...25, 50, 75, 100...: interpolated within them; both routes merged.
    assert list(p50.values()) == [pytest.approx(50.0)]
    assert list(live.metric_values("http.server.request.duration_p90_ms").values()) == \
        [pytest.approx(90.0)]
    assert list(live.metric_values("http.server.request.duration_p99_ms").values()) == \
        [pytest.approx(99.0)]
    assert list(live.metric_values("http.server.request.duration_mean_ms").values()) == \
        [pytest.approx(50.5)]
    assert live.metric_values("http.server.request_count_per_minute")


def test_histogram_second_export_is_the_interval_only(live: Live) -> None:
    def body(minute: float, counts: list[int], total: float) -> dict:
        return {"resourceMetrics": [{
            "resource": {"attributes": [{"key": "service.name",
                                         "value": {"stringValue": "api"}}]},
            "scopeMetrics": [{"metrics": [{"name": "rpc.server.duration", "unit": "s",
                                           "histogram": {"aggregationTemporality": 2,
                                                         "dataPoints": [{
                "startTimeUnixNano": _ns(0), "timeUnixNano": _ns(minute),
                "count": str(sum(counts)), "sum": total, "explicitBounds": [0.1, 0.5, 1.0],
                "bucketCounts": [str(c) for c in counts]}]}}]}]}]}

    assert live.post_json("/v1/metrics", body(1, [10, 0, 0, 0], 0.5)).json() == {}
    assert live.post_json("/v1/metrics", body(2, [10, 0, 10, 0], 8.0)).json() == {}
    p50 = live.metric_values("rpc.server.duration_p50_s", "api")
    assert p50 == {T0 + timedelta(minutes=1): pytest.approx(0.05),
                   T0 + timedelta(minutes=2): pytest.approx(0.75)}  # (0.5, 1.0], halfway
    counts = live.metric_values("rpc.server_count_per_minute", "api")
    assert counts == {T0 + timedelta(minutes=1): 10.0, T0 + timedelta(minutes=2): 10.0}


def test_sdk_histogram_second_export(live: Live, providers: list) -> None:
    provider = meter_provider(live, providers, "search")
    histogram = provider.get_meter("search").create_histogram("search.latency", unit="ms")
    for ms in range(1, 101):
        histogram.record(ms)
    assert provider.force_flush()
    wait_until(lambda: live.metric_values("search.latency_p50_ms"), what="first export")
    for _ in range(10):
        histogram.record(990)
    assert provider.force_flush()

    def both() -> list[float] | None:
        stats = live.store.metric_stats(datetime(2000, 1, 1, tzinfo=UTC),
                                        datetime(2200, 1, 1, tzinfo=UTC),
                                        name="search.latency_p50_ms", bucket_seconds=86400)
        return stats and stats[0].count == 2 and [stats[0].min, stats[0].max]

    assert wait_until(both, what="second export") == [pytest.approx(50.0),
                                                      pytest.approx(875.0)]


# -- traces --------------------------------------------------------------------------------

def test_spans_give_request_and_error_counts_and_a_cross_service_edge(
        live: Live, providers: list, tmp_path) -> None:
    def tracer_provider(service: str) -> TracerProvider:
        provider = TracerProvider(resource=resource(service))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
            endpoint=live.url + "/v1/traces", headers=live.headers)))
        providers.append(provider)
        return provider

    frontend = tracer_provider("frontend").get_tracer("frontend")
    checkout = tracer_provider("checkout").get_tracer("checkout")
    for i in range(10):
        with frontend.start_as_current_span("GET /cart", kind=SpanKind.SERVER), \
                frontend.start_as_current_span("POST checkout", kind=SpanKind.CLIENT) as call:
            context = trace.set_span_in_context(call)
            with checkout.start_as_current_span("POST /checkout", context=context,
                                                kind=SpanKind.SERVER) as served:
                if i < 3:
                    served.set_status(Status(StatusCode.ERROR))
                elif i == 3:
                    served.set_attribute("http.response.status_code", 503)
                else:
                    served.set_attribute("http.response.status_code", 200)
                with checkout.start_as_current_span("db query"):  # internal: not a request
                    pass
    # The children first: their parents are not known yet when they arrive.
    assert providers[1].force_flush() and providers[0].force_flush()

    def counts(service: str) -> tuple[float, float] | None:
        requests = live.metric_values("spans.requests_per_minute", service)
        ratios = live.metric_values("spans.error_ratio", service)
        if sum(requests.values()) < 10:
            return None
        return sum(requests.values()), round(sum(ratios[m] * n for m, n in requests.items()))

    assert wait_until(lambda: counts("frontend"), what="frontend's counts") == (10, 0)
    assert wait_until(lambda: counts("checkout"), what="checkout's counts") == (10, 4)
    edges = live.store.call_edges(datetime(2000, 1, 1, tzinfo=UTC),
                                  datetime(2200, 1, 1, tzinfo=UTC))
    assert {(e.caller, e.callee) for e in edges} == {("frontend", "checkout")}
    assert sum(e.calls for e in edges) == 10
    # The monitor learns the edge from the store.
    latest = live.store.latest_timestamp()
    incidents = IncidentStore(f"sqlite:///{tmp_path / 'monitor.db'}")
    monitor = Monitor(live.store, incidents)
    monitor.check(latest + timedelta(minutes=2))
    incidents.close()
    assert monitor.graph.depends_on("frontend", "checkout")
    assert not monitor.graph.depends_on("checkout", "frontend")


def test_json_spans_with_hex_parent_ids_give_an_edge(live: Live) -> None:
    def spans(service: str, *items: dict) -> dict:
        return {"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name",
                                         "value": {"stringValue": service}}]},
            "scopeSpans": [{"spans": list(items)}]}]}

    trace_id = "5b8efff798038103d269b633813fc60c"
    call = {"traceId": trace_id, "spanId": "00f067aa0ba902b7", "name": "GET /stock",
            "kind": 3, "startTimeUnixNano": _ns(1), "endTimeUnixNano": _ns(1.1),
            "parentSpanId": "1111111111111111"}
    served = {"traceId": trace_id, "spanId": "2222222222222222", "name": "GET /stock",
              "parentSpanId": "00f067aa0ba902b7", "kind": 2,
              "startTimeUnixNano": _ns(1), "endTimeUnixNano": _ns(1.05),
              "attributes": [{"key": "http.status_code", "value": {"intValue": "500"}}]}
    assert live.post_json("/v1/traces", spans("orders", call)).json() == {}
    assert live.post_json("/v1/traces", spans("inventory", served)).json() == {}
    edges = live.store.call_edges(T0, T0 + timedelta(hours=1))
    assert edges == [CallEdge(T0 + timedelta(minutes=1), "orders", "inventory", 1)]
    wait_until(lambda: live.metric_values("spans.error_ratio", "inventory"),
               what="inventory's minute")
    assert live.metric_values("spans.error_ratio", "inventory") == \
        {T0 + timedelta(minutes=1): 1.0}
    assert live.metric_values("spans.requests_per_minute", "orders") == {}  # a client span


# -- auth ----------------------------------------------------------------------------------

def test_with_auth_on_the_exporter_needs_an_api_key(tmp_path, providers: list) -> None:
    settings = _settings(tmp_path, auth={"enabled": True})
    store = DuckDBSignalStore(settings.signal_store_path, retention_days=0)  # T0 is fixed
    app = create_app(settings, store=store, monitor=False)
    with serving(app) as url:
        r = httpx.post(url + "/v1/logs", content=b"", headers=PROTOBUF)
        assert r.status_code == 401
        _id, secret = app.state.auth.users.create_api_key("collector", "viewer")
        live = Live(url, store, {"Authorization": f"Bearer {secret}"})
        logger = log_provider(live, providers, "billing").get_logger("b")
        logger.emit(body="invoice sent")
        assert providers[0].force_flush()
        wait_until(lambda: store.count("logs") == 1, what="the log line")
    store.close()
