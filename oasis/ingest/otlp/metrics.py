"""OTLP metrics as per-minute OASIS metric records, named the way the detectors read names
(oasis.detect.shape): counters become `<name>_per_minute` rates, histograms `<name>_p50_ms`
style percentiles and a `<stem>_count_per_minute` volume. docs/otlp.md has the table.

Counters and histograms are summed over their attribute sets (the store averages the
records of one name in a minute, and the sum of a request counter's routes is the
service's request rate); gauges are kept per attribute set, with their attributes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb

from oasis.ingest.otlp.common import (
    Origin,
    flatten,
    iso_from_ns,
    merge_into,
    resource_origin,
    scoped,
)
from oasis.ingest.otlp.histograms import QUANTILES, Distribution
from oasis.ingest.otlp.naming import count_name, gauge_name, rate_name, stat_name, time_unit
from oasis.ingest.otlp.series import NS, CumulativeSeries, Increase, Point

DELTA = pb.AGGREGATION_TEMPORALITY_DELTA
CUMULATIVE = pb.AGGREGATION_TEMPORALITY_CUMULATIVE
NO_VALUE = pb.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
MAX_REASONS = 20
SUMMARY_QUANTILES = {0.5: "p50", 0.9: "p90", 0.95: "p95", 0.99: "p99"}


@dataclass(slots=True)
class Group:
    """One metric of one resource at one time, summed over its attribute sets: the unit
    records are made of. `points` counts the data points in it (for rejections)."""

    origin: Origin
    name: str
    unit: str
    time_ns: int
    points: int = 0
    rate: float | None = None  # a counter's increase per minute
    level: float | None = None  # an up-down counter's value
    count_rate: float | None = None  # a histogram's or summary's observations per minute
    distributions: dict[tuple[float, ...], Distribution] = field(default_factory=dict)


@dataclass(slots=True)
class MetricBatch:
    """What a request's metrics came to: records (each with the group it belongs to, -1
    for a gauge point), the groups' data point counts, and the points refused."""

    records: list[dict[str, Any]] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    group_points: list[int] = field(default_factory=list)
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)
    versions: dict[tuple[str, str], int] = field(default_factory=dict)  # first time seen

    def reject(self, count: int, reason: str) -> None:
        self.rejected += count
        if len(self.reasons) < MAX_REASONS:
            self.reasons.append(reason)


class PointError(ValueError):
    """A data point that cannot be used; the message says why."""


GroupOf = Callable[[int], Group]  # the group of a metric's points at a time


class MetricConverter:
    """Turns requests into records; holds the cumulative series between requests."""

    def __init__(self, series: CumulativeSeries) -> None:
        self.series = series

    def convert(self, request: ExportMetricsServiceRequest) -> MetricBatch:
        batch = MetricBatch()
        for resource_metrics in request.resource_metrics:
            origin = resource_origin(resource_metrics.resource)
            groups: dict[tuple[str, int], Group] = {}
            for scope_metrics in resource_metrics.scope_metrics:
                here = scoped(origin, scope_metrics.scope)
                for metric in scope_metrics.metrics:
                    self._metric(metric, here, groups, batch)
            for group in groups.values():
                _emit_group(group, batch)
        return batch

    def _metric(self, metric: pb.Metric, here: Origin, groups: dict[tuple[str, int], Group],
                batch: MetricBatch) -> None:
        kind = metric.WhichOneof("data")

        def group(time_ns: int) -> Group:
            found = groups.get((metric.name, time_ns))
            if found is None:
                found = groups[(metric.name, time_ns)] = Group(here, metric.name, metric.unit,
                                                                time_ns)
            return found

        if kind == "exponential_histogram":
            batch.reject(len(metric.exponential_histogram.data_points),
                         f"metric {metric.name!r}: exponential histograms are not supported; "
                         "use explicit-bucket histograms (the SDKs' default)")
            return
        handlers = {"gauge": self._gauge_point, "sum": self._sum_point,
                    "histogram": self._histogram_point, "summary": self._summary_point}
        if kind not in handlers:
            return  # a metric without data points
        for point in getattr(metric, kind).data_points:
            if point.flags & NO_VALUE:
                continue  # the series says it has no value this time: nothing to store
            try:
                if not point.time_unix_nano:
                    raise PointError("data point without time_unix_nano")
                handlers[kind](metric, point, here, group, batch)
            except PointError as exc:
                batch.reject(1, f"metric {metric.name!r}: {exc}")

    def _gauge_point(self, metric: pb.Metric, point: pb.NumberDataPoint, here: Origin,
                     group: GroupOf, batch: MetricBatch) -> None:
        factor, unit = time_unit(metric.unit)
        _append(batch, -1, here, gauge_name(metric.name, metric.unit), _number(point) * factor,
                unit, point.time_unix_nano, flatten(point.attributes), _attrs_bytes(point))

    def _sum_point(self, metric: pb.Metric, point: pb.NumberDataPoint, here: Origin,
                   group: GroupOf, batch: MetricBatch) -> None:
        value = _number(point)
        if not metric.sum.is_monotonic:
            if metric.sum.aggregation_temporality != CUMULATIVE:
                raise PointError("a delta up-down counter cannot be turned into a level; "
                                 "export it with cumulative temporality")
            g = group(point.time_unix_nano)
            g.level = (g.level or 0.0) + value
            g.points += 1
            return
        increase = self._increase(metric.name, metric.sum.aggregation_temporality, point,
                                  here, Point(point.start_time_unix_nano,
                                              point.time_unix_nano, value))
        g = group(point.time_unix_nano)
        g.points += 1
        if increase is not None:
            g.rate = (g.rate or 0.0) + increase.per_minute()

    def _histogram_point(self, metric: pb.Metric, point: pb.HistogramDataPoint,
                         here: Origin, group: GroupOf, batch: MetricBatch) -> None:
        bounds = tuple(point.explicit_bounds)
        buckets = tuple(point.bucket_counts)
        if len(buckets) != len(bounds) + 1 and not (not bounds and len(buckets) <= 1):
            raise PointError(f"{len(buckets)} bucket counts for {len(bounds)} bounds "
                             f"(expected {len(bounds) + 1})")
        if not buckets:
            buckets = (point.count,)
        increase = self._increase(
            metric.name, metric.histogram.aggregation_temporality, point, here,
            Point(point.start_time_unix_nano, point.time_unix_nano, float(point.count),
                  point.sum, buckets, bounds))
        g = group(point.time_unix_nano)
        g.points += 1
        if increase is None:
            return
        exact = increase.since_start  # min and max describe the interval itself
        dist = Distribution(bounds, list(increase.buckets),
                            increase.total if point.HasField("sum") else None,
                            point.min if exact and point.HasField("min") else None,
                            point.max if exact and point.HasField("max") else None)
        if bounds in g.distributions:
            g.distributions[bounds].add(dist)
        else:
            g.distributions[bounds] = dist
        g.count_rate = (g.count_rate or 0.0) + increase.per_minute()

    def _summary_point(self, metric: pb.Metric, point: pb.SummaryDataPoint, here: Origin,
                       group: GroupOf, batch: MetricBatch) -> None:
        factor, unit = time_unit(metric.unit)
        for q in point.quantile_values:
            stat = SUMMARY_QUANTILES.get(round(q.quantile, 4))
            if stat is not None:
                _append(batch, -1, here, stat_name(metric.name, stat, metric.unit),
                        q.value * factor, unit, point.time_unix_nano,
                        flatten(point.attributes), _attrs_bytes(point))
        increase = self._increase(metric.name, CUMULATIVE, point, here,
                                  Point(point.start_time_unix_nano, point.time_unix_nano,
                                        float(point.count), point.sum))
        g = group(point.time_unix_nano)
        g.points += 1
        if increase is not None:
            g.count_rate = (g.count_rate or 0.0) + increase.per_minute()

    def _increase(self, name: str, temporality: int, point: Any, here: Origin,
                  now: Point) -> Increase | None:
        if temporality == DELTA:
            if not now.start_ns or now.start_ns >= now.time_ns:
                raise PointError("delta data point without a start_time_unix_nano before "
                                 "its time_unix_nano")
            return Increase(now.value, (now.time_ns - now.start_ns) / NS, now.total,
                            now.buckets, since_start=True)
        if temporality != CUMULATIVE:
            raise PointError("aggregation temporality is unspecified")
        key = here.key + b"\0" + name.encode() + b"\0" + _attrs_bytes(point)
        return self.series.increase(key, now)


def _number(point: pb.NumberDataPoint) -> float:
    return point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)


def _attrs_bytes(point: Any) -> bytes:
    return orjson.dumps(flatten(point.attributes), option=orjson.OPT_SORT_KEYS)


def _emit_group(g: Group, batch: MetricBatch) -> None:
    index = len(batch.group_points)
    batch.group_points.append(g.points)
    factor, unit = time_unit(g.unit)
    if g.rate is not None:
        _append(batch, index, g.origin, rate_name(g.name), g.rate,
                f"{g.unit}/min" if g.unit else "1/min", g.time_ns)
    if g.level is not None:
        _append(batch, index, g.origin, gauge_name(g.name, g.unit), g.level * factor, unit,
                g.time_ns)
    for dist in g.distributions.values():
        scaled = dist.scaled(factor)
        for stat, q in QUANTILES:
            value = scaled.quantile(q)
            if value is not None:
                _append(batch, index, g.origin, stat_name(g.name, stat, g.unit), value, unit,
                        g.time_ns)
        mean = scaled.mean()
        if mean is not None:
            _append(batch, index, g.origin, stat_name(g.name, "mean", g.unit), mean, unit,
                    g.time_ns)
    if g.count_rate is not None:
        _append(batch, index, g.origin, count_name(g.name), g.count_rate, "1/min", g.time_ns)


def _append(batch: MetricBatch, group: int, origin: Origin, name: str, value: float,
            unit: str | None, time_ns: int, attributes: dict[str, Any] | None = None,
            series: bytes = b"") -> None:
    merged = merge_into(dict(origin.attributes), attributes or {})
    record: dict[str, Any] = {
        "type": "metric", "timestamp": iso_from_ns(time_ns), "service": origin.service,
        "name": name, "value": value, "attributes": merged,
        "id": origin.record_id("metric", name.encode(), str(time_ns).encode(), series),
    }
    if unit:
        record["unit"] = unit
    if origin.host:
        record["host"] = origin.host
    batch.records.append(record)
    batch.groups.append(group)
    if origin.version:
        sighting = (origin.service, origin.version)
        batch.versions[sighting] = min(time_ns, batch.versions.get(sighting, time_ns))
