"""The three kinds of signal OASIS stores: logs, metrics and deployments.

Records are plain dataclasses (slots, not frozen: frozen init costs a
third of ingest time): they are built by the parser, which has
already checked every field, and read by the store. Timestamps are always
timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal


class Level(StrEnum):
    """Canonical log levels. Spellings seen in the wild (syslog, glog, Java, one-letter
    forms) are accepted as aliases, case-insensitive: see LEVEL_ALIASES."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"
    FATAL = "FATAL"


LEVEL_ALIASES: dict[str, Level] = {
    "DEBUG": Level.DEBUG,
    "TRACE": Level.DEBUG,
    "D": Level.DEBUG,
    "T": Level.DEBUG,
    "FINE": Level.DEBUG,
    "INFO": Level.INFO,
    "I": Level.INFO,
    "NOTICE": Level.INFO,
    "INFORMATION": Level.INFO,
    "WARN": Level.WARN,
    "WARNING": Level.WARN,
    "W": Level.WARN,
    "ERROR": Level.ERROR,
    "ERR": Level.ERROR,
    "E": Level.ERROR,
    "SEVERE": Level.ERROR,
    "FATAL": Level.FATAL,
    "F": Level.FATAL,
    "CRITICAL": Level.FATAL,
    "CRIT": Level.FATAL,
    "ALERT": Level.FATAL,
    "EMERG": Level.FATAL,
    "EMERGENCY": Level.FATAL,
    "PANIC": Level.FATAL,
}

#: Levels that count as errors in error-rate aggregations.
ERROR_LEVELS: tuple[Level, ...] = (Level.ERROR, Level.FATAL)


@dataclass(slots=True)
class LogRecord:
    """One log line emitted by a service."""

    timestamp: datetime
    service: str
    level: Level
    message: str
    error_type: str | None = None
    host: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    type: Literal["log"] = "log"


@dataclass(slots=True)
class MetricRecord:
    """One sample of a named metric of a service."""

    timestamp: datetime
    service: str
    name: str
    value: float
    unit: str | None = None
    host: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    type: Literal["metric"] = "metric"


@dataclass(slots=True)
class DeploymentRecord:
    """A new version of a service going live."""

    timestamp: datetime
    service: str
    version: str
    previous_version: str | None = None
    author: str | None = None
    description: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    type: Literal["deployment"] = "deployment"


Signal = LogRecord | MetricRecord | DeploymentRecord


@dataclass(frozen=True, slots=True)
class CallEdge:
    """Calls from one service to another in one minute, seen in traces: spans of `callee`
    whose parent span is one of `caller`'s (OTLP traces, docs/otlp.md)."""

    bucket: datetime
    caller: str
    callee: str
    calls: int


def utc_iso(ts: datetime) -> str:
    """Format an aware datetime as ISO 8601 in UTC with a `Z` suffix.

    Milliseconds are written when they are exact, microseconds otherwise, so
    formatting never loses precision.
    """
    ts = ts.astimezone(UTC)
    micro = ts.microsecond
    fraction = f"{micro // 1000:03d}" if micro % 1000 == 0 else f"{micro:06d}"
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + fraction + "Z"


def to_wire(record: Signal) -> dict[str, Any]:
    """The wire (NDJSON) form of a record; `parse_record(to_wire(r)) == r`."""
    out: dict[str, Any] = {"type": record.type, "timestamp": utc_iso(record.timestamp)}
    for name in record.__dataclass_fields__:
        if name in ("type", "timestamp"):
            continue
        value = getattr(record, name)
        if value is None or (name == "attributes" and not value):
            continue
        out[name] = value.value if isinstance(value, Level) else value
    return out
