"""Prometheus read in place over its HTTP API (`/api/v1/query_range`, one minute steps).

Per check it asks at most 3 + len(queries) range queries, each aggregated server-side by
the service labels, so the cost does not grow with the number of pods:
- requests by status code, under any of the common names (Prometheus client
  `http_requests_total{code|status}`, Micrometer `http_server_requests_seconds_count
  {status}`, OpenTelemetry `http_server_request_duration_seconds_count
  {http_response_status_code}`) -> `http_requests_per_minute` and `http_5xx_ratio`;
- p99 latency from the matching histograms -> `http_request_duration_p99_seconds`;
- process memory and CPU -> `process_resident_memory_bytes`, `process_cpu_cores`;
- each named PromQL of `queries` -> that name.
`rate()` handles counter resets; a series with no samples gives no point (a gap, not 0).
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from oasis.sources.base import NoLogs, SourceUnavailable, point
from oasis.sources.http import SourceClient
from oasis.sources.settings import PrometheusSource
from oasis.store.base import MetricStats

REQUEST_COUNTERS = ("http_requests_total", "http_server_requests_seconds_count",
                    "http_server_request_duration_seconds_count")
LATENCY_BUCKETS = ("http_request_duration_seconds_bucket", "http_server_requests_seconds_bucket",
                   "http_server_request_duration_seconds_bucket")
STATUS_LABELS = ("code", "status", "http_response_status_code", "status_code")
STEP = 60


class PrometheusReader(NoLogs):
    """Metrics of one Prometheus (or anything speaking its query API: Thanos, Mimir,
    VictoriaMetrics)."""

    kind = "prometheus"

    def __init__(self, settings: PrometheusSource, client: SourceClient | None = None) -> None:
        self.settings = settings
        self.name = settings.label
        self.history_hours = settings.history_hours
        self.max_wait_seconds = settings.max_wait_seconds
        self.client = client or SourceClient(
            self.name, settings.url, auth=settings.auth, tls=settings.tls,
            timeout_seconds=settings.timeout_seconds, retries=settings.retries)

    def queries(self) -> dict[str, str]:
        """The PromQL asked each check, by what it becomes."""
        s = self.settings
        by = ", ".join(s.service_labels)
        w = s.rate_window
        out: dict[str, str] = {}
        if s.requests:
            names = "|".join(REQUEST_COUNTERS)
            out["requests"] = (f'sum by ({by}, {", ".join(STATUS_LABELS)}) '
                               f'(rate({{__name__=~"{names}"}}[{w}])) * 60')
        if s.latency:
            names = "|".join(LATENCY_BUCKETS)
            out["http_request_duration_p99_seconds"] = (
                f'histogram_quantile(0.99, sum by (le, {by}) '
                f'(rate({{__name__=~"{names}"}}[{w}])))')
        if s.process:
            out["process_resident_memory_bytes"] = (
                f"avg by ({by}) (process_resident_memory_bytes)")
            out["process_cpu_cores"] = f"sum by ({by}) (rate(process_cpu_seconds_total[{w}]))"
        out.update(s.queries)
        return out

    def metric_stats(self, start: datetime, end: datetime) -> list[MetricStats]:
        out: list[MetricStats] = []
        for name, promql in self.queries().items():
            series = self._range(promql, start, end)
            if name == "requests":
                out += _requests(series, self.settings)
                continue
            for labels, values in series:
                service = self.settings.service_of(labels)
                if service is not None:
                    out += [point(bucket, service, name, v) for bucket, v in values]
        return out

    def _range(self, promql: str, start: datetime, end: datetime
               ) -> list[tuple[dict[str, str], list[tuple[datetime, float]]]]:
        """A range query evaluated at each minute's end; values keyed by minute start."""
        first = start + timedelta(seconds=STEP)
        if first > end:
            return []
        body = self.client.get("/api/v1/query_range", {
            "query": promql, "start": first.timestamp(), "end": end.timestamp(),
            "step": STEP})
        if not isinstance(body, dict) or body.get("status") != "success":
            reason = body.get("error") if isinstance(body, dict) else None
            raise SourceUnavailable(self.name, f"query failed: {reason or 'bad answer'}")
        result = body.get("data", {}).get("result", [])
        out = []
        for item in result:
            values = []
            for ts, raw in item.get("values", []):
                value = float(raw)
                if math.isfinite(value):
                    bucket = datetime.fromtimestamp(float(ts) - STEP, UTC)
                    values.append((bucket, value))
            out.append((item.get("metric", {}), values))
        return out

    def close(self) -> None:
        self.client.close()


def _requests(series, settings: PrometheusSource) -> list[MetricStats]:
    """Per service and minute: requests, and the share answered 5xx."""
    total: dict[tuple[str, datetime], float] = defaultdict(float)
    failed: dict[tuple[str, datetime], float] = defaultdict(float)
    for labels, values in series:
        service = settings.service_of(labels)
        if service is None:
            continue
        status = next((labels[k] for k in STATUS_LABELS if labels.get(k)), "")
        for bucket, v in values:
            total[(service, bucket)] += v
            if status.startswith("5"):
                failed[(service, bucket)] += v
    out = []
    for (service, bucket), n in sorted(total.items(), key=lambda kv: kv[0][1]):
        out.append(point(bucket, service, "http_requests_per_minute", n))
        if n > 0:
            out.append(point(bucket, service, "http_5xx_ratio", failed[(service, bucket)] / n))
    return out
