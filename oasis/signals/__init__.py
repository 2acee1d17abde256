"""Signal records and their wire format (see docs/signals.md)."""

from oasis.signals.model import (
    ERROR_LEVELS,
    CallEdge,
    DeploymentRecord,
    Level,
    LogRecord,
    MetricRecord,
    Signal,
    to_wire,
    utc_iso,
)
from oasis.signals.parse import RecordError, parse_line, parse_record, parse_timestamp

__all__ = [
    "ERROR_LEVELS",
    "CallEdge",
    "DeploymentRecord",
    "Level",
    "LogRecord",
    "MetricRecord",
    "RecordError",
    "Signal",
    "parse_line",
    "parse_record",
    "parse_timestamp",
    "to_wire",
    "utc_iso",
]
