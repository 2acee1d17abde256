"""OTLP log records as OASIS log lines (wire form, checked again by the ingest path)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as OtlpLogRecord

from oasis.ingest.otlp.common import (
    Origin,
    flatten,
    hex_id,
    iso_from_ns,
    merge_into,
    render,
    resource_origin,
    scoped,
)
from oasis.signals.model import LEVEL_ALIASES, Level

# SeverityNumber 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20 ERROR, 21-24 FATAL.
_BY_SEVERITY = (Level.DEBUG, Level.DEBUG, Level.INFO, Level.WARN, Level.ERROR, Level.FATAL)
# Attributes (semantic conventions) that name a log line's error type.
ERROR_TYPE_ATTRIBUTES = ("exception.type", "error.type")


@dataclass(frozen=True, slots=True)
class Converted:
    """One OTLP item turned into a wire record, or the reason it could not be."""

    record: dict[str, Any] | None
    reason: str | None = None
    origin: Origin | None = None
    ns: int = 0  # its time, nanoseconds since the epoch


def log_records(request: ExportLogsServiceRequest) -> Iterator[Converted]:
    """Every log record of the request, in order."""
    for resource_logs in request.resource_logs:
        origin = resource_origin(resource_logs.resource)
        for scope_logs in resource_logs.scope_logs:
            here = scoped(origin, scope_logs.scope)
            for record in scope_logs.log_records:
                yield convert_log(record, here)


def convert_log(record: OtlpLogRecord, origin: Origin) -> Converted:
    ns = record.time_unix_nano or record.observed_time_unix_nano
    if not ns:
        return Converted(None, "log record has neither time_unix_nano nor "
                               "observed_time_unix_nano", origin)
    attributes = merge_into(dict(origin.attributes), flatten(record.attributes))
    if record.event_name:
        attributes["otel.event_name"] = record.event_name
    message = render(record.body) if record.HasField("body") else ""
    if not message:
        fallback = attributes.get("exception.message") or record.event_name
        message = str(fallback) if fallback else ""
    wire: dict[str, Any] = {
        "type": "log",
        "timestamp": iso_from_ns(ns),
        "service": origin.service,
        "level": level_of(record.severity_number, record.severity_text).value,
        "message": message,
        "attributes": attributes,
        "id": origin.record_id("log", record.SerializeToString(deterministic=True)),
    }
    error_type = next((attributes[k] for k in ERROR_TYPE_ATTRIBUTES if attributes.get(k)), None)
    optional = {"error_type": error_type, "host": origin.host,
                "trace_id": hex_id(record.trace_id), "span_id": hex_id(record.span_id)}
    wire.update({k: str(v) for k, v in optional.items() if v is not None})
    return Converted(wire, None, origin, ns)


def level_of(severity_number: int, severity_text: str) -> Level:
    """The OASIS level of a record: its severity number's range, else its severity text
    read like any log level (`Warning`, `E`, `CRITICAL`, `WARN2`), else INFO."""
    if 1 <= severity_number <= 24:
        return _BY_SEVERITY[(severity_number - 1) // 4]
    text = severity_text.strip().upper()
    return LEVEL_ALIASES.get(text) or LEVEL_ALIASES.get(text.rstrip("0123456789")) or Level.INFO
