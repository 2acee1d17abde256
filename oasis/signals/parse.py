"""Turn wire objects (NDJSON lines, JSON values) into checked records.

Hand-written rather than a pydantic model per record: ingest runs this for
every line, and a plain function is several times faster while giving error
messages an operator can act on ("line 12: timestamp has no timezone").
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

import orjson

from oasis.signals.errors import InvalidInput
from oasis.signals.model import (
    LEVEL_ALIASES,
    DeploymentRecord,
    LogRecord,
    MetricRecord,
    Signal,
)
from oasis.signals.times import (
    PLAUSIBLE_YEARS,
    TimeError,
    TimeFormatError,
    TimeRangeError,
    parse_aware,
)

#: A single record larger than this is refused rather than stored.
MAX_RECORD_BYTES = 1_048_576
MAX_ID_LENGTH = 256
MAX_NAME_LENGTH = 256
#: Metric names that are counters by convention (Prometheus, OpenMetrics): never negative.
COUNTER_SUFFIXES = ("_total", "_count")
#: C0 and C1 control characters: in a name they hide text, break terminals and logs.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


class RecordError(InvalidInput, ValueError):
    """A record that cannot be accepted; the message says why."""


LOG_FIELDS = frozenset(
    {"type", "id", "timestamp", "service", "level", "message", "error_type",
     "host", "trace_id", "span_id", "attributes"}
)
METRIC_FIELDS = frozenset(
    {"type", "id", "timestamp", "service", "name", "value", "unit", "host", "attributes"}
)
DEPLOYMENT_FIELDS = frozenset(
    {"type", "id", "timestamp", "service", "version", "previous_version", "author",
     "description", "attributes"}
)


def parse_line(line: bytes | str) -> Signal:
    """Parse one NDJSON line into a record, or raise `RecordError`."""
    if len(line) > MAX_RECORD_BYTES:
        raise RecordError(f"record is larger than {MAX_RECORD_BYTES} bytes")
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        if "UTF-8" in str(exc):
            raise RecordError(_utf8_problem(line)) from None
        raise RecordError(f"invalid JSON: {exc}") from None
    return parse_record(value)


def _utf8_problem(line: bytes | str) -> str:
    try:
        line.decode() if isinstance(line, bytes) else line.encode()
    except UnicodeError as exc:
        return f"invalid UTF-8 at byte {exc.start + 1}: {exc.reason}"
    return "invalid UTF-8"  # orjson also refuses escaped lone surrogates as UTF-8


def parse_record(value: Any) -> Signal:
    """Check one decoded JSON value and build its record, or raise `RecordError`."""
    if not isinstance(value, dict):
        raise RecordError(f"expected a JSON object, got {json_kind(value)}")
    doc, kind, doc_id = _unwrap_opensearch_hit(value)
    kind = kind or _infer_kind(doc)
    if kind == "log":
        return _parse_log(doc, doc_id)
    if kind == "metric":
        return _parse_metric(doc, doc_id)
    if kind == "deployment":
        return _parse_deployment(doc, doc_id)
    raise RecordError(f"unknown type {kind!r}: expected 'log', 'metric' or 'deployment'")


def parse_timestamp(value: Any) -> datetime:
    """An ISO 8601 string with a zone, as an aware UTC datetime (`parse_aware`).

    A timestamp without a zone is refused: guessing the zone would silently
    shift a whole service's signals by hours.
    """
    if type(value) is not str:
        raise RecordError(f"timestamp must be an ISO 8601 string, got {json_kind(value)}")
    try:
        return parse_aware(value, years=PLAUSIBLE_YEARS)
    except TimeFormatError:
        raise RecordError(f"timestamp {value!r} is not ISO 8601") from None
    except TimeRangeError:
        raise RecordError(f"timestamp {value!r} is outside {PLAUSIBLE_YEARS[0]}.."
                          f"{PLAUSIBLE_YEARS[1]}") from None
    except TimeError as exc:  # no zone
        raise RecordError(f"timestamp {exc}") from None


# --- the three kinds -------------------------------------------------------

def _parse_log(doc: dict[str, Any], doc_id: str | None) -> LogRecord:
    # Fast path for the common, well-formed line: a third of the parse time. Anything
    # unusual falls through to the checks below, which explain what is wrong.
    get = doc.get
    raw_ts, service, message, level_raw = (get("timestamp"), get("service"), get("message"),
                                           get("level"))
    error_type, host, trace_id, span_id = (get("error_type"), get("host"), get("trace_id"),
                                           get("span_id"))
    if (type(raw_ts) is str and type(service) is str and type(message) is str
            and type(level_raw) is str
            and 0 < len(service) <= MAX_NAME_LENGTH and not service[0].isspace()
            and not service[-1].isspace() and not _CONTROL.search(service)
            and (error_type is None or type(error_type) is str)
            and (host is None or type(host) is str)
            and (trace_id is None or type(trace_id) is str)
            and (span_id is None or type(span_id) is str)):
        level = LEVEL_ALIASES.get(level_raw)
        if level is not None:
            return LogRecord(parse_timestamp(raw_ts), service, level, message,
                             error_type, host, trace_id, span_id,
                             _attributes(doc, LOG_FIELDS), _record_id(doc, doc_id))
    timestamp = parse_timestamp(_required(doc, "timestamp"))
    service = _name(doc, "service")
    message = doc.get("message")
    if message is None:
        # Prototype documents may carry only `error_message` on error lines.
        message = doc.get("error_message")
    if message is None:
        raise RecordError("missing field 'message'")
    if not isinstance(message, str):
        raise RecordError(f"message must be a string, got {json_kind(message)}")
    level_raw = _required(doc, "level")
    if not isinstance(level_raw, str):
        raise RecordError(f"level must be a string, got {json_kind(level_raw)}")
    level = LEVEL_ALIASES.get(level_raw.strip().upper())
    if level is None:
        raise RecordError(
            f"unknown level {level_raw!r}: expected DEBUG, INFO, WARN, ERROR or FATAL"
        )
    return LogRecord(
        timestamp=timestamp,
        service=service,
        level=level,
        message=message,
        error_type=_optional_str(doc, "error_type"),
        host=_optional_str(doc, "host"),
        trace_id=_optional_str(doc, "trace_id"),
        span_id=_optional_str(doc, "span_id"),
        attributes=_attributes(doc, LOG_FIELDS),
        id=_record_id(doc, doc_id),
    )


def _parse_metric(doc: dict[str, Any], doc_id: str | None) -> MetricRecord:
    # The prototype's metric index uses metric_name / metric_value.
    known = METRIC_FIELDS
    if "name" not in doc and "metric_name" in doc:
        doc = {**doc, "name": doc["metric_name"]}
        known = known | {"metric_name"}
    if "value" not in doc and "metric_value" in doc:
        doc = {**doc, "value": doc["metric_value"]}
        known = known | {"metric_value"}
    value = _required(doc, "value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"value must be a number, got {json_kind(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise RecordError("value must be a finite number")
    timestamp = parse_timestamp(_required(doc, "timestamp"))
    service = _name(doc, "service")
    name = _name(doc, "name")
    if value < 0 and name.endswith(COUNTER_SUFFIXES):
        raise RecordError(f"counter {name!r} must not be negative, got {value:g}")
    return MetricRecord(
        timestamp=timestamp,
        service=service,
        name=name,
        value=value,
        unit=_optional_str(doc, "unit"),
        host=_optional_str(doc, "host"),
        attributes=_attributes(doc, known),
        id=_record_id(doc, doc_id),
    )


def _parse_deployment(doc: dict[str, Any], doc_id: str | None) -> DeploymentRecord:
    return DeploymentRecord(
        timestamp=parse_timestamp(_required(doc, "timestamp")),
        service=_name(doc, "service"),
        version=_name(doc, "version"),
        previous_version=_optional_str(doc, "previous_version"),
        author=_optional_str(doc, "author"),
        description=_optional_str(doc, "description"),
        attributes=_attributes(doc, DEPLOYMENT_FIELDS),
        id=_record_id(doc, doc_id),
    )


# --- shapes ----------------------------------------------------------------

def _unwrap_opensearch_hit(value: dict[str, Any]) -> tuple[dict[str, Any], str | None, str | None]:
    """Accept a search hit or dump line `{"_index", "_id", "_source"}` as its document."""
    source = value.get("_source")
    if not isinstance(source, dict) or "type" in value:
        return value, None, None
    index = str(value.get("_index", ""))
    kind = "metric" if index.endswith("-metrics") else "log" if index.endswith("-logs") else None
    if "type" in source:
        kind = None  # the document says what it is
    raw_id = value.get("_id")
    return source, kind, (str(raw_id) if raw_id is not None else None)


def _infer_kind(doc: dict[str, Any]) -> str:
    """The record's kind: its `type`, or guessed from the prototype's index fields."""
    kind = doc.get("type")
    if kind is not None:
        if not isinstance(kind, str):
            raise RecordError(f"type must be a string, got {json_kind(kind)}")
        return kind.strip().lower()
    if "metric_name" in doc or ("name" in doc and "value" in doc):
        return "metric"
    if "level" in doc or "message" in doc or "error_message" in doc:
        return "log"
    if "version" in doc:
        return "deployment"
    raise RecordError("missing field 'type' and the record matches no known shape")


def _required(doc: dict[str, Any], key: str) -> Any:
    value = doc.get(key)
    if value is None:
        raise RecordError(f"missing field {key!r}")
    return value


def _name(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    if type(value) is str and 0 < len(value) <= MAX_NAME_LENGTH and not value[0].isspace() \
            and not value[-1].isspace() and not _CONTROL.search(value):
        return value  # the common case, checked without building anything
    if value is None:
        raise RecordError(f"missing field {key!r}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # versions such as 2 or 1.5 arrive as numbers
    if not isinstance(value, str):
        raise RecordError(f"{key} must be a string, got {json_kind(value)}")
    value = value.strip()
    if not value:
        raise RecordError(f"{key} must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise RecordError(f"{key} is longer than {MAX_NAME_LENGTH} characters")
    control = _CONTROL.search(value)
    if control:
        raise RecordError(f"{key} contains a control character "
                          f"(U+{ord(control.group()):04X} at {control.start() + 1})")
    return value


def _optional_str(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is None or type(value) is str:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise RecordError(f"{key} must be a string, got {json_kind(value)}")
    return value


def _record_id(doc: dict[str, Any], fallback: str | None) -> str | None:
    value = doc.get("id", fallback)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RecordError(f"id must be a string or integer, got {json_kind(value)}")
    value = str(value)
    if not value or len(value) > MAX_ID_LENGTH:
        raise RecordError(f"id must be 1..{MAX_ID_LENGTH} characters")
    return value


def _attributes(doc: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """Explicit `attributes` plus every field the kind does not define: nothing is dropped."""
    attributes = doc.get("attributes")
    if attributes is None:
        attributes = {}
    elif not isinstance(attributes, dict):
        raise RecordError(f"attributes must be an object, got {json_kind(attributes)}")
    extras = doc.keys() - known
    if not extras:
        return attributes
    merged = dict(attributes)
    for key in extras:
        # An explicit attribute wins; the clashing top-level field is kept under a prefix.
        merged[key if key not in merged else f"_{key}"] = doc[key]
    return merged


def json_kind(value: Any) -> str:
    """How a JSON value is called in an error message ("got an array")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
