"""The OTLP receiver: decoded export requests in, OASIS records stored, partial success out.

Records go through the same path as `POST /api/v1/signals` (`Ingestor.ingest_values`: the
same checks, the store's append with id de-duplication), with ids derived from the OTLP
records themselves, so an export that is sent again is not stored twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from oasis.ingest.otlp.logs import log_records
from oasis.ingest.otlp.metrics import MetricConverter
from oasis.ingest.otlp.series import CumulativeSeries
from oasis.ingest.otlp.settings import OtlpSettings
from oasis.ingest.otlp.spans import SpanAggregator
from oasis.ingest.otlp.versions import VersionTracker
from oasis.ingest.otlp.wire import Kind
from oasis.ingest.pipeline import Ingestor, IngestReport
from oasis.store import SignalStore

log = logging.getLogger(__name__)
SHOWN_REASONS = 5  # rejection reasons quoted in a partial-success message


@dataclass(frozen=True, slots=True)
class Outcome:
    """How many of a request's items (log records, data points, spans) were refused."""

    rejected: int = 0
    message: str = ""


class OtlpReceiver:
    def __init__(self, store: SignalStore, ingestor: Ingestor, settings: OtlpSettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.ingestor = ingestor
        self.metrics = MetricConverter(CumulativeSeries(
            max_series=settings.max_series,
            first_interval_seconds=settings.first_interval_seconds))
        self.spans = SpanAggregator(settings, clock)
        self.versions = VersionTracker(settings.version_overlap_minutes, lambda: [
            (s.service, s.current_version) for s in store.services()])
        # One request's records are converted at a time: cumulative series must see
        # their points in order.
        self._convert = threading.Lock()

    def export(self, kind: Kind, request: Message) -> Outcome:
        if isinstance(request, ExportLogsServiceRequest):
            return self.export_logs(request)
        if isinstance(request, ExportMetricsServiceRequest):
            return self.export_metrics(request)
        if isinstance(request, ExportTraceServiceRequest):
            return self.export_traces(request)
        raise TypeError(f"not an OTLP {kind} export request: {type(request).__name__}")

    def export_logs(self, request: ExportLogsServiceRequest) -> Outcome:
        records: list[dict[str, Any]] = []
        numbers: list[int] = []  # each record's position in the request
        reasons: list[str] = []
        rejected = 0
        versions: dict[tuple[str, str], int] = {}
        with self._convert:
            for number, item in enumerate(log_records(request), start=1):
                if item.record is None:
                    rejected += 1
                    reasons.append(f"log record {number}: {item.reason}")
                    continue
                records.append(item.record)
                numbers.append(number)
                if item.origin is not None and item.origin.version:
                    sighting = (item.origin.service, item.origin.version)
                    versions[sighting] = min(item.ns, versions.get(sighting, item.ns))
        report = self._ingest(records, versions)
        reasons += [f"log record {numbers[e.line - 1]}: {e.reason}" for e in report.errors]
        return _outcome(rejected + report.rejected, reasons)

    def export_metrics(self, request: ExportMetricsServiceRequest) -> Outcome:
        with self._convert:
            batch = self.metrics.convert(request)
        report = self._ingest(batch.records, batch.versions)
        rejected_groups: set[int] = set()
        rejected = batch.rejected + report.errors_omitted
        for error in report.errors:
            group = batch.groups[error.line - 1]
            if group < 0:
                rejected += 1
            elif group not in rejected_groups:
                rejected_groups.add(group)
                rejected += batch.group_points[group]
        reasons = batch.reasons + [f"{batch.records[e.line - 1]['name']}: {e.reason}"
                                   for e in report.errors]
        return _outcome(rejected, reasons)

    def export_traces(self, request: ExportTraceServiceRequest) -> Outcome:
        batch = self.spans.add(request)
        if batch.edges:
            self.store.append_call_edges(batch.edges)
        self._store_deployments(batch.versions)
        self.flush()
        return _outcome(batch.rejected, batch.reasons)

    def flush(self, *, force: bool = False) -> int:
        """Store the span counts of the minutes that are complete (all with `force`)."""
        records = self.spans.complete_minutes(force=force)
        if not records:
            return 0
        report = self.ingestor.ingest_values(records, source="otlp")
        for error in report.errors:
            log.warning("span counts not stored: %s", error.reason)
        return report.accepted

    def _ingest(self, records: Sequence[dict[str, Any]],
                versions: dict[tuple[str, str], int]) -> IngestReport:
        report = self.ingestor.ingest_values(records, source="otlp") if records \
            else IngestReport()
        self._store_deployments(versions)
        return report

    def _store_deployments(self, versions: dict[tuple[str, str], int]) -> None:
        if not versions:
            return
        deployments = self.versions.deployments(versions)
        if deployments:
            report = self.ingestor.ingest_values(deployments, source="otlp")
            for error in report.errors:
                log.warning("deployment from service.version not stored: %s", error.reason)


def _outcome(rejected: int, reasons: list[str]) -> Outcome:
    if not rejected:
        return Outcome()
    shown = "; ".join(reasons[:SHOWN_REASONS])
    more = len(reasons) - SHOWN_REASONS
    return Outcome(rejected, shown + (f" (and {more} more)" if more > 0 else ""))
