"""OTLP/HTTP bodies: binary protobuf or the specification's JSON mapping, both ways.

The JSON mapping is protobuf's canonical JSON with three differences: trace and span ids
are hex strings (not base64), enums are numbers only, and field names may come in
lowerCamelCase or as in the proto. Unknown fields are ignored, as the specification asks.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace

Kind = Literal["logs", "metrics", "traces"]
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
CONTENT_TYPES = (PROTOBUF, JSON)
# Fields holding trace and span ids, hex in OTLP/JSON (spans, links, log records, exemplars).
_ID_FIELDS = {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}
# google.rpc.Code values used in Status bodies.
INVALID_ARGUMENT = 3


@dataclass(frozen=True, slots=True)
class Signal:
    """The request and response messages of one endpoint, and its partial-success count."""

    request: type[Message]
    response: type[Message]
    partial: type[Message]
    rejected_field: str


SIGNALS: dict[Kind, Signal] = {
    "logs": Signal(logs.ExportLogsServiceRequest, logs.ExportLogsServiceResponse,
                   logs.ExportLogsPartialSuccess, "rejected_log_records"),
    "metrics": Signal(metrics.ExportMetricsServiceRequest, metrics.ExportMetricsServiceResponse,
                      metrics.ExportMetricsPartialSuccess, "rejected_data_points"),
    "traces": Signal(trace.ExportTraceServiceRequest, trace.ExportTraceServiceResponse,
                     trace.ExportTracePartialSuccess, "rejected_spans"),
}


class WireError(ValueError):
    """A body that is not a valid OTLP request; the message says why."""


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def decode(kind: Kind, body: bytes, content_type: str) -> Message:
    """The export request in `body`, protobuf or JSON by `content_type` (one of
    CONTENT_TYPES); raises WireError when it does not decode."""
    message_type = SIGNALS[kind].request
    if content_type == PROTOBUF:
        try:
            return message_type.FromString(body)
        except DecodeError as exc:
            raise WireError(f"body is not a valid protobuf {message_type.__name__}: "
                            f"{exc}") from None
    try:
        value = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise WireError(f"body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise WireError(f"body must be a JSON object (an {message_type.__name__})")
    message = message_type()
    try:
        json_format.ParseDict(_ids_to_base64(value), message, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, TypeError, ValueError) as exc:
        raise WireError(f"body is not a valid OTLP/JSON {message_type.__name__}: "
                        f"{exc}") from None
    return message


def _ids_to_base64(root: dict[str, Any]) -> dict[str, Any]:
    """Hex trace and span ids as the base64 protobuf's JSON parser expects, in place."""
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                node[key] = _hex_to_base64(key, value)
            elif isinstance(value, dict | list):
                stack.append(value)
    return root


def _hex_to_base64(key: str, value: str) -> str:
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        raise WireError(f"{key} {value[:64]!r} is not a hex string") from None


def encode_response(kind: Kind, rejected: int, message: str, content_type: str) -> bytes:
    """The Export*ServiceResponse: empty when everything was used, else partial success."""
    signal = SIGNALS[kind]
    response = signal.response()
    if rejected or message:
        response.partial_success.CopyFrom(signal.partial(
            **{signal.rejected_field: rejected, "error_message": message}))
    if content_type == JSON:
        return orjson.dumps(json_format.MessageToDict(response))
    return response.SerializeToString()


def encode_status(code: int, message: str, content_type: str) -> bytes:
    """A google.rpc.Status body (code, message), as the specification asks of 4xx and 5xx
    responses; written by hand to need no googleapis package."""
    if content_type == JSON:
        return orjson.dumps({"code": code, "message": message})
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
