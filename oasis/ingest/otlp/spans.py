"""Spans as the requests each service served per minute, and as who calls whom.

- **Requests**: a SERVER or CONSUMER span, or a root span of any kind, is one request of
  its service, counted in the minute it ended; it failed when its status is ERROR or its
  HTTP status code is 5xx. A minute's counts are written once it is complete (see
  `OtlpSettings.span_*`) as `spans.requests_per_minute` (a volume to the detectors) and
  `spans.error_ratio` (a failure ratio, tested against that volume). Spans of a minute
  already written are not counted again (they still give edges).
- **Edges**: a span whose parent span belongs to another service is a call from the
  parent's service to the span's. The parent may come in another export (another
  process sends it), so recent spans' services are remembered by id, and a span whose
  parent is not known yet waits for it.

A span re-sent (an exporter's retry) is recognised by its ids while they are remembered
and counted once.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from oasis.ingest.otlp.common import NS_PER_MINUTE, resource_origin
from oasis.ingest.otlp.settings import OtlpSettings
from oasis.signals.model import CallEdge, utc_iso

REQUESTS = "spans.requests_per_minute"
ERROR_RATIO = "spans.error_ratio"
REQUEST_KINDS = (Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CONSUMER)
HTTP_STATUS_ATTRIBUTES = ("http.response.status_code", "http.status_code")
MAX_REASONS = 20
SpanKey = tuple[bytes, bytes]  # trace id, span id


@dataclass(slots=True)
class _Minute:
    requests: int = 0
    errors: int = 0
    touched: float = 0.0  # clock time of its last span


@dataclass(slots=True)
class SpanBatch:
    """What one request's spans gave: edges to store now, spans refused, versions seen."""

    edges: list[CallEdge] = field(default_factory=list)
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)
    versions: dict[tuple[str, str], int] = field(default_factory=dict)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < MAX_REASONS:
            self.reasons.append(reason)


class SpanAggregator:
    """Counts requests per service per minute and finds cross-service calls."""

    def __init__(self, settings: OtlpSettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.s = settings
        self.clock = clock
        self.late = 0  # spans that came after their minute was written
        self._lock = threading.Lock()
        self._minutes: dict[tuple[str, int], _Minute] = {}
        self._written: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._service_of: OrderedDict[SpanKey, str] = OrderedDict()
        self._waiting: OrderedDict[SpanKey, list[tuple[str, int]]] = OrderedDict()
        self._newest_ns = 0  # the spans' own clock: the latest end seen

    def add(self, request: ExportTraceServiceRequest) -> SpanBatch:
        batch = SpanBatch()
        edges: Counter[tuple[int, str, str]] = Counter()
        with self._lock:
            now = self.clock()
            for resource_spans in request.resource_spans:
                origin = resource_origin(resource_spans.resource)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        reason = self._span(span, origin.service, now, edges)
                        if reason is not None:
                            batch.reject(f"span {span.name!r}: {reason}")
                        elif origin.version:
                            sighting = (origin.service, origin.version)
                            end = span.end_time_unix_nano
                            batch.versions[sighting] = min(end, batch.versions.get(sighting, end))
        batch.edges = [CallEdge(_minute_time(m), caller, callee, n)
                       for (m, caller, callee), n in sorted(edges.items())]
        return batch

    def _span(self, span: Span, service: str, now: float,
              edges: Counter[tuple[int, str, str]]) -> str | None:
        if len(span.trace_id) != 16 or not any(span.trace_id):
            return "trace_id must be 16 bytes, not all zero"
        if len(span.span_id) != 8 or not any(span.span_id):
            return "span_id must be 8 bytes, not all zero"
        end = span.end_time_unix_nano
        if not end:
            return "span without end_time_unix_nano"
        key = (span.trace_id, span.span_id)
        if key in self._service_of:
            return None  # re-sent
        _remember(self._service_of, key, service, self.s.span_index_size)
        self._newest_ns = max(self._newest_ns, end)
        minute = end // NS_PER_MINUTE
        has_parent = len(span.parent_span_id) == 8 and any(span.parent_span_id)
        if span.kind in REQUEST_KINDS or not has_parent:
            self._count(service, minute, failed(span), now)
        if has_parent:
            parent = (span.trace_id, span.parent_span_id)
            caller = self._service_of.get(parent)
            if caller is None:
                waiting = self._waiting.get(parent) or []
                waiting.append((service, minute))
                _remember(self._waiting, parent, waiting, self.s.span_index_size)
            elif caller != service:
                edges[(minute, caller, service)] += 1
        for callee, callee_minute in self._waiting.pop(key, ()):
            if callee != service:
                edges[(callee_minute, service, callee)] += 1
        return None

    def _count(self, service: str, minute: int, error: bool, now: float) -> None:
        key = (service, minute)
        if key in self._written:
            self.late += 1
            return
        counts = self._minutes.get(key)
        if counts is None:
            counts = self._minutes[key] = _Minute()
        counts.requests += 1
        counts.errors += error
        counts.touched = now

    def complete_minutes(self, *, force: bool = False) -> list[dict[str, Any]]:
        """Wire records of the minutes that are complete (all of them with `force`),
        which are then forgotten."""
        out: list[dict[str, Any]] = []
        with self._lock:
            now = self.clock()
            settled = self._newest_ns - int(self.s.span_settle_seconds * 1e9)
            for key in list(self._minutes):
                counts = self._minutes[key]
                quiet = now - counts.touched
                complete = (quiet >= self.s.span_idle_seconds
                            or (quiet >= self.s.span_quiet_seconds
                                and settled >= (key[1] + 1) * NS_PER_MINUTE))
                if force or complete:
                    del self._minutes[key]
                    _remember(self._written, key, None, self.s.span_index_size)
                    out.extend(_minute_records(key[0], key[1], counts))
        return out


def failed(span: Span) -> bool:
    """Status ERROR, or an HTTP status code of 500 or more."""
    if span.status.code == Status.STATUS_CODE_ERROR:
        return True
    for kv in span.attributes:
        if kv.key in HTTP_STATUS_ATTRIBUTES:
            value = kv.value
            code = value.int_value if value.HasField("int_value") else \
                int(value.string_value) if value.string_value.isdigit() else 0
            return code >= 500
    return False


def _minute_records(service: str, minute: int, counts: _Minute) -> list[dict[str, Any]]:
    timestamp = utc_iso(_minute_time(minute))
    digest = hashlib.blake2b(service.encode(), digest_size=8).hexdigest()
    base = f"otlp:spans:{digest}:{minute}"
    return [
        {"type": "metric", "timestamp": timestamp, "service": service, "name": REQUESTS,
         "value": counts.requests, "unit": "1/min", "id": f"{base}:requests"},
        {"type": "metric", "timestamp": timestamp, "service": service, "name": ERROR_RATIO,
         "value": counts.errors / counts.requests, "unit": "1", "id": f"{base}:errors"},
    ]


def _minute_time(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, UTC)


def _remember(table: OrderedDict[Any, Any], key: Any, value: Any, size: int) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > size:
        table.popitem(last=False)
